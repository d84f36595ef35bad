"""evaluate: QuALITY closed-book QA as the paper did it, open-book (RAG), its log-likelihood
variant, perplexity, and closed-book summaries judged claim by claim; `python -m entigraph_jax.evaluate
--config ...`.

Owns prompts, answer parsing, voting, retrieval and scoring, and the `quality_loglik` training hook
(named by its import path in `train.hooks`, so the trainer never imports this stage). May import clients, data,
models, generate (its engine and journal ask the summary judge) and train; never imports sweep or sbp.
"""

"""evaluate: QuALITY closed-book QA as the paper did it, open-book (RAG), its log-likelihood
variant and perplexity; `python -m entigraph_jax.evaluate --config ...`.

Owns prompts, answer parsing, voting, retrieval and scoring, and the `quality_loglik` training hook
(named by its import path in `train.hooks`, so the trainer never imports this stage). May import clients, data,
models and train; never imports generate, sweep or sbp.
"""

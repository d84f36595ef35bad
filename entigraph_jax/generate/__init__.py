"""generate: synthetic corpus generation — EntiGraph, the Rephrase baseline and evaluation questions from a
user's documents, with any LLM.

`python -m entigraph_jax.generate --config ...`. Owns the prompt versions, each method's requests and the
rounds they are sent in, and how an answer becomes a record (`asker.py`); sending, the journal, budgets and
the backends are the LLM service's (`llm/`). May import clients, data, models and llm; never imports
evaluate, train, sweep or sbp.
"""

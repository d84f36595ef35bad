"""generate: synthetic corpus generation — EntiGraph and the Rephrase baseline, with any LLM.

`python -m entigraph_jax.generate --config ...`. Owns prompts, plans, the request engine and its
SQLite journal, and the `local` backend (our own model behind the sampler). May import clients,
data and models; never imports train, evaluate, sweep or sbp.
"""

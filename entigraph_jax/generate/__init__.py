"""generate: synthetic corpus generation — EntiGraph and the Rephrase baseline, with any LLM.

`python -m entigraph_jax.generate --config ...`. Owns prompts, plans, the request engine and its
SQLite journal, and the `local` backend (our own model behind the sampler); `ask.ask` lends the engine
and journal to a stage that needs answers rather than a corpus (evaluate's summary judge). May import clients,
data and models; never imports train, evaluate, sweep or sbp.
"""

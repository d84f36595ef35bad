"""synth: synthetic corpus generation — EntiGraph and the Rephrase baseline, with any LLM.

Owns prompts, plans, LLM backends, the request engine and its SQLite journal. May import data
(sources, records); never imports models' internals, train or evaluate.
"""

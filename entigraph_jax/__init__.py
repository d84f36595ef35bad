"""entigraph-jax: synthetic continued pretraining in JAX.

Stages, lowest first; a stage imports only stages below it:
  models   - the Llama-family LM, sharding rules, Hugging Face and Orbax weight I/O
  data     - sources, tokenizers, records and the Grain pipeline
  synth    - synthetic corpus generation (EntiGraph, Rephrase, SBP)
  train    - the training loop
  evaluate - QuALITY closed/open book, perplexity
Commands: `python -m entigraph_jax.convert` (others arrive with their stages).
"""

__version__ = "0.1.0"

"""entigraph-jax: synthetic continued pretraining in JAX.

Stages, lowest first; a stage imports only stages below it:
  data     - sources, tokenizers, chat records, embedders, records and the Grain pipeline
  models   - the Llama-family LM, sharding rules, Hugging Face and Orbax weight I/O, the sampler
  synth    - synthetic corpus generation (EntiGraph, Rephrase) with any LLM backend
  evaluate - QuALITY closed/open book, log-likelihood, perplexity
  train    - the training loop (it calls evaluate for in-training QuALITY scores)
  studies  - scaling sweeps
  sbp      - Synthetic Bootstrapped Pretraining (pair mining, synthesizer, synthesis, joint training)
Commands: python -m entigraph_jax.{generate,train,evaluate,convert,chat,sweep,plan,sbp} and
python -m entigraph_jax.data inspect.
"""

__version__ = "0.1.0"

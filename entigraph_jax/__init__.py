"""entigraph-jax: synthetic continued pretraining in JAX.

Layers, lowest first; a module imports only from its own layer and the layers listed before it
(tests/test_layout.py reads this list and checks every import against it):
  errors, config, settings, cli, outputs, runs, publish, scalars, registry - one error base class, config
             files and overrides, typed settings, the one command line, output folders (checked, locked,
             published), the typed run folders stages hand each other, uploads to the Hugging Face Hub,
             figures to TensorBoard and W&B, parts found by name (tasks, hooks)
  clients  - LLM clients (OpenAI-compatible, Gemini, vLLM), embedders, a reranker, prices and API keys
  data     - sources, tokenizers, chat records, records and the Grain pipeline
  models   - the Llama-family LM, sharding rules, presets, checkpoint I/O, the sampler, embedding checkpoints
  llm      - asking an LLM as one service: journal, engine (retries, rate limits, budgets), batch APIs,
             the backend registry (our own model among them) and LLMSettings
  generate - synthetic corpus generation, a registry of methods (EntiGraph, Rephrase, knowledge, Active
             Reading, questions) asking through the LLM service
  evaluate - scoring a model: a registry of tasks (QuALITY closed/open book, log-likelihood, perplexity,
             judged summaries, lm-evaluation-harness, contamination, a corpus's faithfulness) and the before/after
             report
  train    - the training loop, its hooks (the evaluation tasks among them) and the memory planner
  sweep    - scaling sweeps, and methods compared on one corpus (generate, train and report for each)
  sbp      - Synthetic Bootstrapped Pretraining (pair mining, synthesizer, synthesis, joint training)
  testing  - a fake LLM server for tests and offline tries (no stage imports it)
  console  - the `entigraph-jax` console script: every stage's commands as subcommands
Every stage folder is its command, `python -m entigraph_jax.<stage>` or `entigraph-jax <stage>`: data
(inspect), models (convert, chat), generate, train (and train plan), evaluate, sweep, sbp; each answers --help.
"""

__version__ = "0.1.0"

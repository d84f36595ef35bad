"""The forgetting check: general benchmarks through lm-evaluation-harness on a checkpoint (the harness
extra: pip install 'entigraph-jax[harness]'), zero-shot, scored by our own model and sampler.

    python -m entigraph_jax.evaluate --config configs/eval_harness.py --config.model.path=workdir/run/hf

Run it on the base model and on each trained checkpoint, and compare: continued pretraining on a small
corpus should leave these where they were (the paper's replay of RedPajama text exists to protect them).
The tasks' datasets come from the Hugging Face Hub through `datasets` (the user's cache). For tasks or
speeds our sampler does not serve, run the harness's own backends on the export (README).
"""

from entigraph_jax.evaluate.settings import base_config


def get_config():
    c = base_config()
    c.task = "harness"
    c.tasks.harness.tasks = ("arc_easy", "arc_challenge", "hellaswag", "piqa", "winogrande", "boolq")
    c.tasks.harness.num_fewshot = 0
    c.tasks.harness.batch = 16
    return c

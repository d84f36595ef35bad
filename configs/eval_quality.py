"""QuALITY closed-book evaluation, the paper's protocol as its text gives it (Appendix I.1): 5-shot
chain of thought, 64 samples at temperature 0.1, at most 300 new tokens, each stopped at its answer
line, one valid answer picked at random (seeded); the headline is the test part (articles sorted by
title, the last 80%), correct / attempted beside correct / all. The released code's variant (8
samples, the first valid answer) is `eval_quality_released.py`.

    python -m entigraph_jax.evaluate --config configs/eval_quality.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf --config.tokenizer.path=/ckpt/Meta-Llama-3-8B

It scores QuALITY v1.0.1's train and dev files (265 articles, read from the working directory; set
`source` where they are) and the checkpoint you name: without either, it stops in one line naming what is
missing, never scoring something else. To try it on the bundled sample: `--config.source=sample`.
"""

from entigraph_jax.evaluate.settings import base_config

QUALITY = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"  # the paper's 265 articles


def get_config():
    c = base_config()
    c.model.update(path="", param_dtype="float32")  # required: the checkpoint to score
    c.source = QUALITY
    c.task = "closed_book"
    c.split = "test"
    c.tasks.closed_book.sampling.update(samples=64, selection="random_valid", temperature=0.1, max_new_tokens=300)
    return c

"""Continued pretraining on your own corpus's EntiGraph text (written by `configs/entigraph_sample.py` with
`--config.source=folder:YOUR_FOLDER`), from a base model's Hugging Face folder and its tokenizer.

As it stands it is the README's CPU try-out: the quickstart's tiny model is the base. At real scale name a
real base and add replay of general text, as the paper does (`configs/cpt_llama32_1b_quality.py`):

    python -m entigraph_jax.train --config configs/cpt_own_corpus.py --workdir workdir/own/cpt \
        --config.model.path=/ckpt/Llama-3.2-1B --config.tokenizer.path=/ckpt/Llama-3.2-1B \
        --config.model.dtype=bfloat16 --config.data.seq_len=2048 --config.data.global_batch=16 \
        --config.data.epochs=2 --config.optim.lr=2e-5 \
        --config.data.replay_source=hf:togethercomputer/RedPajama-Data-1T-Sample --config.data.replay_rate=0.1
"""

from entigraph_jax.train.settings import base_config


def get_config():
    c = base_config()
    c.workdir = "workdir/own/cpt"
    c.data.update(source="records:workdir/own/entigraph/records", seq_len=128, global_batch=8, epochs=10,
                  mask_documents=True, num_threads=2, prefetch=8)
    c.tokenizer.path = "workdir/quickstart/hf"
    c.model.update(path="workdir/quickstart/hf", dtype="float32")
    c.optim.update(lr=1e-3, warmup_fraction=0.05)
    c.checkpoint.every_steps = 100
    c.export.update(hf=True, dtype="float32")
    return c

"""EntiGraph CPT of Llama 3.2 1B: the paper's recipe at a size that fits one GPU or a Colab TPU.

Same schedule as the 8B recipe (2 epochs, 5% warmup, cosine to zero, replay 0.1); a higher lr
suits the smaller model, and `save_dots` remat trades a little memory for speed.

    python -m entigraph_jax.train --config configs/cpt_llama32_1b_quality.py \
        --config.model.path=/ckpt/Llama-3.2-1B --config.tokenizer.path=/ckpt/Llama-3.2-1B
"""

from entigraph_jax.train.settings import base_config

# the paper's replay corpus: the RedPajama 1T sample (1.14B Llama 3 tokens), from the Hugging Face cache
REPLAY = "hf:togethercomputer/RedPajama-Data-1T-Sample"


def get_config():
    c = base_config()
    c.workdir = "workdir/cpt_llama32_1b_quality"
    c.data.update(source="records:data/entigraph_quality", seq_len=2048, global_batch=16, epochs=2,
                  replay_source=REPLAY, replay_rate=0.1)
    c.tokenizer.path = "/ckpt/Llama-3.2-1B"
    c.model.update(path="/ckpt/Llama-3.2-1B", dtype="bfloat16", remat="save_dots")
    c.optim.update(lr=2e-5, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.999, eps=1e-8)
    c.checkpoint.every_steps = 1000
    c.export.update(hf=True, dtype="bfloat16")
    return c

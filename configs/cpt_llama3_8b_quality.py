"""The paper's recipe (Yang et al., ICLR 2025): EntiGraph CPT of Llama 3 8B on QuALITY articles.

lr 5e-6, 5% warmup then cosine to zero, weight decay 0.01, batch 16 x 2048 tokens, 2 epochs, 0.1 of
tokens replayed from generic web text, bf16 compute over fp32 master weights. Needs the Hugging Face
weights and tokenizer (`meta-llama/Meta-Llama-3-8B`) and the synthetic corpus from
`python -m entigraph_jax.generate`. Fits a v5p-8 or 8 x H100 with FSDP and full remat.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_quality.py \
        --config.model.path=/ckpt/Meta-Llama-3-8B --config.tokenizer.path=/ckpt/Meta-Llama-3-8B
"""

from entigraph_jax.train.defaults import base_config


def get_config():
    c = base_config()
    c.workdir = "workdir/cpt_llama3_8b_quality"
    c.data.update(
        source="records:data/entigraph_quality",  # the generator's ArrayRecord output
        seq_len=2048, global_batch=16, epochs=2,
        replay_source="tfds:c4/en:train[:400000]", replay_rate=0.1,  # RedPajama in the paper
    )
    c.tokenizer.path = "/ckpt/Meta-Llama-3-8B"
    c.model.update(path="/ckpt/Meta-Llama-3-8B", param_dtype="float32", dtype="bfloat16",
                   remat="full")
    c.optim.update(lr=5e-6, warmup_fraction=0.05, weight_decay=0.01)
    c.checkpoint.every_steps = 1000
    c.export.update(hf=True, dtype="bfloat16")
    return c

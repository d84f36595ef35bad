"""The paper's recipe (Yang et al., ICLR 2025; `scripts/train.sh` of its code): EntiGraph CPT of
Llama 3 8B on the synthetic QuALITY corpus.

lr 5e-6 with 5% linear warmup then cosine to zero, AdamW as the Hugging Face Trainer's defaults
(betas 0.9 / 0.999, eps 1e-8) with weight decay 0.01, batch 16 x 2048 tokens, 2 epochs, each block
replaced by a replay block with probability 0.1, bf16 compute over fp32 master weights. Needs the
Hugging Face weights and tokenizer (`meta-llama/Meta-Llama-3-8B`) and the corpus from
`python -m entigraph_jax.generate --config configs/entigraph_quality.py`. Fits a v5p-8 or 8 x H100
with FSDP and full remat. Replay reads the RedPajama 1T sample as the released code does
(`togethercomputer/RedPajama-Data-1T-Sample`, streamed into the token cache once).
The other two arms of the paper: `cpt_llama3_8b_raw.py` and `cpt_llama3_8b_rephrase.py`.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_quality.py \
        --config.model.path=/ckpt/Meta-Llama-3-8B --config.tokenizer.path=/ckpt/Meta-Llama-3-8B
"""

from entigraph_jax.train.settings import base_config

# the paper's replay corpus: the RedPajama 1T sample (1.14B Llama 3 tokens), from the Hugging Face cache
REPLAY = "hf:togethercomputer/RedPajama-Data-1T-Sample"


def get_config():
    c = base_config()
    c.workdir = "workdir/cpt_llama3_8b_quality"
    c.data.update(
        source="records:data/entigraph_quality",  # the generator's ArrayRecord output
        seq_len=2048, global_batch=16, epochs=2, mask_documents=False,  # concatenate and chunk, as the paper
        replay_source=REPLAY, replay_rate=0.1,
    )
    c.tokenizer.path = "/ckpt/Meta-Llama-3-8B"
    c.model.update(path="/ckpt/Meta-Llama-3-8B", param_dtype="float32", dtype="bfloat16",
                   remat="full")
    c.optim.update(lr=5e-6, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.999, eps=1e-8)
    c.checkpoint.every_steps = 1000
    c.export.update(hf=True, dtype="bfloat16")
    return c

"""Instruction tuning of the EntiGraph CPT model on UltraChat, as the released code does it (its README
and `scripts/train.sh --task_name instruct`; the paper's text, Appendix D, says 1 epoch at batch 512:
`instruct_llama3_8b_ultrachat_paper.py`): the Llama 3.1 chat template, loss on every token
(`data.loss_on=answers` trains on assistant turns only), batch 128 x 2048, 2 epochs, lr 5e-6 with 5%
warmup then cosine, weight decay 0.01, AdamW with the Hugging Face Trainer's betas, no replay. The
UltraChat 200k release's parquet files are read as they are.

    python -m entigraph_jax.train --config configs/instruct_llama3_8b_ultrachat.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf \
        --config.data.source=parquet:ultrachat_200k/data/train_sft-00000-of-00003-a3ecf92756993583.parquet,...
    python -m entigraph_jax.models chat --checkpoint workdir/instruct_llama3_8b_ultrachat/hf \
        --tokenizer /ckpt/Meta-Llama-3.1-8B-Instruct
"""

from entigraph_jax.train.settings import base_config


def get_config():
    c = base_config()
    c.workdir = "workdir/instruct_llama3_8b_ultrachat"
    c.data.update(source="parquet:data/ultrachat_200k/train_sft.parquet", seq_len=2048, global_batch=128, epochs=2,
                  mask_documents=False, loss_on="all")
    c.tokenizer.path = "/ckpt/Meta-Llama-3.1-8B-Instruct"  # a tokenizer.json with the chat special tokens
    c.model.update(path="workdir/cpt_llama3_8b_quality/hf", dtype="bfloat16", remat="full")
    c.optim.update(lr=5e-6, warmup_fraction=0.05, weight_decay=0.01, b1=0.9, b2=0.999, eps=1e-8)
    c.checkpoint.every_steps = 500
    c.export.update(hf=True, dtype="bfloat16")
    return c

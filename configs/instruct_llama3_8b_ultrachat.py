"""Instruction tuning of the EntiGraph CPT model on UltraChat, as the paper did before chatting
with it: chat records (`{"messages": [...]}` lines), the Llama 3.1 chat template, loss on assistant
turns only.

    python -m entigraph_jax.train --config configs/instruct_llama3_8b_ultrachat.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf --config.data.source=jsonl:ultrachat_200k.jsonl
    python -m entigraph_jax.models chat --checkpoint workdir/instruct_llama3_8b_ultrachat/hf \
        --tokenizer /ckpt/Meta-Llama-3.1-8B-Instruct
"""

from entigraph_jax.train.defaults import base_config


def get_config():
    c = base_config()
    c.workdir = "workdir/instruct_llama3_8b_ultrachat"
    c.data.update(source="jsonl:data/ultrachat_200k.jsonl", seq_len=2048, global_batch=64, epochs=1,
                  mask_documents=True)
    c.tokenizer.path = "/ckpt/Meta-Llama-3.1-8B-Instruct"  # a tokenizer.json with the chat special tokens
    c.model.update(path="workdir/cpt_llama3_8b_quality/hf", dtype="bfloat16", remat="full")
    c.optim.update(lr=5e-6, warmup_fraction=0.05, weight_decay=0.01)
    c.checkpoint.every_steps = 500
    c.export.update(hf=True, dtype="bfloat16")
    return c

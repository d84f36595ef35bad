"""Quickstart: Raw CPT in miniature on CPU in under a minute.

Trains a 1000-token SentencePiece vocabulary and a ~1M-parameter Llama on the bundled sample corpus
(ten invented articles), checkpointing as it goes; rerunning resumes. Everything lands in `workdir`.

    python -m entigraph_jax.train --config configs/quickstart.py
"""

from entigraph_jax.train.settings import base_config


def get_config():
    c = base_config()
    c.workdir = "workdir/quickstart"
    c.data.update(source="sample", seq_len=128, global_batch=8, epochs=40, mask_documents=True,
                  num_threads=2, prefetch=8)
    c.tokenizer.train_vocab_size = 1000
    c.model.update(hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=2,
                   head_dim=32, tie_word_embeddings=True, max_position_embeddings=2048, dtype="float32")
    c.optim.update(lr=3e-3, warmup_fraction=0.05)
    c.checkpoint.every_steps = 50
    c.export.update(hf=True, dtype="float32")
    return c

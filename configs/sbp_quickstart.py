"""SBP in miniature on CPU: every step on the bundled sample corpus in a few minutes.

The baseline repeats the real articles for 60 steps of 8 x 128 tokens; pairs come from the offline
hashing embedder; the ~1M-parameter synthesizer is that baseline fine-tuned on the pairs (a pair per
row); as many synthesized documents as SBP's synthetic rows need (60 x 8 x 37.5% rows, each seen once);
then SBP (62.5% real rows, the paper's 200B mix) for the same 60 steps. Both arms are scored on the
sample text (held-out loss) and its questions (log-likelihood accuracy), and what each trains on is
measured. The corpus is too small for an oracle arm (set `oracle_corpus` to a larger real corpus for one).

    python -m entigraph_jax.sbp run --config configs/sbp_quickstart.py
"""

from entigraph_jax.sbp.settings import base_config


def tiny_model(c):
    c.data.update(seq_len=128, global_batch=8, mask_documents=True, num_threads=2, prefetch=8)
    c.model.update(hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=2,
                   head_dim=32, tie_word_embeddings=True, max_position_embeddings=2048, dtype="float32")
    c.optim.update(lr=3e-3, warmup_fraction=0.05)
    c.checkpoint.every_steps = 50
    c.export.dtype = "float32"


def get_config():
    c = base_config()
    c.workdir = "workdir/sbp_quickstart"
    c.corpus = "sample"
    c.tokenizer.train_vocab_size = 1000
    # the sample's ten articles share words but no topics, so the band is low
    c.mine.update(k=4, min_similarity=0.05, max_similarity=0.9)
    tiny_model(c.synthesizer)
    c.synthesizer.data.epochs = 20
    c.synthesize.update(max_new_tokens=96, max_seed_chars=300, batch_size=32)
    tiny_model(c.joint)
    c.joint.max_steps = 60
    c.eval_source = "sample"
    c.downstream_source = "sample"
    return c

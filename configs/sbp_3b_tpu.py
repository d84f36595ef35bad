"""SBP at scale on a TPU slice: a 3B Llama-architecture model pretrained from scratch, SBP (real +
synthesized documents) against the baseline that repeats the real documents, at the same compute.

The corpus is a web-text pretraining set in ArrayRecord shards (e.g. a DCLM or C4 subset written by
`python -m entigraph_jax.data`'s writers). Pairs come from an OpenAI-compatible embedding server
(vLLM serving an embedding model) with the exact blocked search; switch `mine.index` to `faiss` past
~1M documents. The synthesizer is the trained baseline, fine-tuned on the pairs, as in the paper;
`oracle_corpus` (more unique documents of the same source) adds the oracle arm. Thresholds and sizes
are starting points to tune; `sbp_paper_*.py` have the paper's. The SBP arm takes the paper's 200B mix
(62.5% real rows) and the synthesize step writes as many documents as its 37.5% synthetic rows need
(about 39B tokens at 100k steps x 256 x 4096), each seen once. Synthesis runs on one host's devices.

    python -m entigraph_jax.sbp run --config configs/sbp_3b_tpu.py \
        --config.tokenizer.path=/ckpt/Meta-Llama-3-8B --config.corpus=records:/data/dclm_shard0
"""

from entigraph_jax.sbp.settings import base_config


def model_3b(c, tokenizer_path: str):
    c.data.update(seq_len=4096, global_batch=256, mask_documents=True)
    c.tokenizer.path = tokenizer_path
    c.model.update(hidden_size=3072, intermediate_size=8192, num_layers=28, num_heads=24,
                   num_kv_heads=8, head_dim=128, rope_theta=500000.0, tie_word_embeddings=True,
                   max_position_embeddings=8192, param_dtype="float32", dtype="bfloat16", remat="full")
    c.mesh.update(data=1, fsdp=-1, tensor=1)
    c.optim.update(lr=3e-4, warmup_fraction=0.01, weight_decay=0.1)
    c.checkpoint.every_steps = 1000
    c.distributed.initialize = True  # multi-host TPU slice


def get_config():
    c = base_config()
    c.workdir = "workdir/sbp_3b"  # local disk or a gcsfuse mount
    c.corpus = "records:/data/pretraining_corpus"
    c.tokenizer.path = "/ckpt/Meta-Llama-3-8B"
    c.embedder.update(backend="openai", model="Qwen/Qwen3-Embedding-0.6B", base_url="http://localhost:8000/v1",
                      cache_dir="/data/embedding_cache")
    c.mine.update(k=20, min_similarity=0.75, max_similarity=0.95, index="exact", block=4096)
    model_3b(c.synthesizer, c.tokenizer.path)
    c.synthesizer.data.epochs = 1
    c.synthesize.update(num_docs=0, temperature=1.0, max_new_tokens=2048, max_seed_chars=16000,
                        batch_size=256, param_dtype="bfloat16")
    model_3b(c.joint, c.tokenizer.path)
    c.joint.max_steps = 100_000  # the compute budget shared by SBP and the baseline
    c.real_fraction = 0.625
    c.eval_source = "records:/data/heldout"
    return c

"""SBP with the paper's settings, 200B-token scale: a 3B Llama-architecture model pretrained from scratch
on 10B unique real tokens (DCLM in the paper), 200B training tokens per arm, 8M tokens per step.

    baseline   the 10B unique tokens repeated 20 times
    SBP        62.5% real rows (the 10B repeated 12.5 times) and 37.5% synthetic (75B tokens, each seen once:
               the synthesize step writes as many documents as that takes)
    oracle     200B unique real tokens (`oracle_corpus`), once

From the paper's text, as far as it could be read here (docs/protocol.md, SBP rows): the token counts and
mix, batch 2048 x 4096, peak lr 1e-2 with 5% warmup and cosine to 5e-5, Qwen3-Embedding-0.6B for pairs.
Our own choices where the paper gave none that we could read: the 3B shape (Llama 3.2 3B's; the paper's
models also use QK-norm), AdamW's betas and weight decay, the similarity band and k, synthesis at
temperature 1 with a 2048-token cap, the synthesizer's schedule, and the scores' benchmarks.

    python -m entigraph_jax.sbp run --config configs/sbp_paper_3b_200b.py \
        --config.corpus=records:/data/dclm_10b --config.oracle_corpus=records:/data/dclm_200b
"""

from entigraph_jax.sbp.settings import base_config

TOKENS_PER_STEP = 2048 * 4096  # the paper's batch: 8M tokens per step
BENCHMARKS = ("arc_easy", "arc_challenge", "sciq", "winogrande", "piqa", "openbookqa", "triviaqa", "webqs")


def llama_from_scratch(c, steps=0):
    """The paper's pretraining settings on one TrainSettings section (the joint arms, the synthesizer)."""
    c.data.update(seq_len=4096, global_batch=2048, mask_documents=True)
    c.model.update(hidden_size=3072, intermediate_size=8192, num_layers=28, num_heads=24, num_kv_heads=8,
                   head_dim=128, rope_theta=500000.0, tie_word_embeddings=True,
                   max_position_embeddings=8192, param_dtype="float32", dtype="bfloat16", remat="full",
                   attention="auto", logits_chunk=1024)
    c.mesh.update(data=1, fsdp=-1, tensor=1)
    c.optim.update(lr=1e-2, warmup_fraction=0.05, min_lr=5e-5, weight_decay=0.1)
    c.max_steps = steps
    c.checkpoint.every_steps = 1000
    c.distributed.initialize = True  # multi-host TPU slice


def get_config():
    c = base_config()
    c.workdir = "workdir/sbp_paper"
    c.corpus = "records:/data/dclm_unique"
    c.tokenizer.path = "meta-llama/Meta-Llama-3-8B"
    c.embedder.update(backend="openai", model="Qwen/Qwen3-Embedding-0.6B", base_url="http://localhost:8000/v1",
                      cache_dir="/data/embedding_cache")
    c.mine.update(k=20, min_similarity=0.75, max_similarity=0.95, index="faiss")
    llama_from_scratch(c.joint, steps=round(200e9 / TOKENS_PER_STEP))
    llama_from_scratch(c.synthesizer)
    c.synthesizer.data.epochs = 1
    c.synthesizer.optim.update(lr=3e-4, warmup_fraction=0.01, min_lr=0.0)
    c.synthesize.update(num_docs=0, temperature=1.0, max_new_tokens=2048, max_seed_chars=16000, batch_size=256,
                        param_dtype="bfloat16")
    c.real_fraction = 0.625
    c.eval_source = "records:/data/heldout"
    c.joint.hooks.harness.update(tasks=BENCHMARKS, num_fewshot=0, limit=0)
    return c

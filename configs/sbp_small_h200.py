"""SBP in a day on one H200 (or a v5e-8): the paper's method and schedule shape at a scale one machine
finishes, every arm at 2B tokens on 100M unique real tokens (the baseline repeats them 20 times, as the
paper's does), a 174M-parameter Llama (12 x 768, Llama 3's vocabulary, tied), 62.5% real rows in the SBP arm.

    python -m entigraph_jax.sbp plan --config configs/sbp_small_h200.py --hardware 1xH200   # before renting
    python -m entigraph_jax.sbp run --config configs/sbp_small_h200.py

What `sbp plan` says (with --config.tokenizer.train_vocab_size=128256 where Llama 3's tokenizer is not at
hand; hours at an ASSUMED 40% MFU of the spec's peak: no GPU or TPU has run this recipe):
    v5e-8   9.19 GiB per chip compiled by the TPU compiler (of 16), an arm 1.1 hours
    1xH200  82.4 GiB estimated (XLA attention; cuDNN's needs less), an arm 1.8 hours
Each arm reads 2.0B tokens (3 arms: 6.0B) and the synthesizer ~1.6B (100k documents x 8 neighbours, a pair per
2048-token row, once); the synthesis of 750M tokens is not timed (our sampler's speed on a GPU is not
measured). The learning rate (3e-3 at 0.5M tokens per step) is ours: the paper's 1e-2 is for 8M per step.
The corpus is FineWeb-Edu's 10BT sample through the Hub (`hf:` sources stream): the first 100k
documents are the real set; the oracle reads the first 2.1M (about 2B tokens, each once, the real set among them).
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

SHAPE = {"hidden_size": 768, "intermediate_size": 2048, "num_layers": 12, "num_heads": 12, "num_kv_heads": 4,
         "head_dim": 64, "max_position_embeddings": 4096}
TOKENS = 2e9


def get_config():
    c = load_config_file(Path(__file__).parent / "sbp_paper_3b_200b.py")
    c.workdir = "workdir/sbp_small"
    c.corpus = "hf:HuggingFaceFW/fineweb-edu:config=sample-10BT,max_documents=100000"
    c.oracle_corpus = "hf:HuggingFaceFW/fineweb-edu:config=sample-10BT,max_documents=2100000"
    c.eval_source = "hf:HuggingFaceFW/fineweb-edu:config=sample-10BT,split=train,max_documents=2000"
    c.embedder.update(backend="openai", model="Qwen/Qwen3-Embedding-0.6B", base_url="http://localhost:8000/v1")
    c.mine.update(k=8, index="exact")
    for section in (c.joint, c.synthesizer):
        section.model.update(SHAPE)
        section.data.update(seq_len=2048, global_batch=256)
        section.mesh.update(data=1, fsdp=-1, tensor=1)
        section.distributed.initialize = False
        section.optim.update(lr=3e-3, microbatches=4)
    c.synthesizer.optim.update(lr=3e-4)
    c.joint.max_steps = round(TOKENS / (256 * 2048))
    c.synthesize.update(max_new_tokens=1024, max_seed_chars=8000, batch_size=256)
    c.joint.hooks.harness.limit = 1000
    return c

"""QuALITY open-book (RAG) of an EntiGraph CPT model, the paper's setting: as `eval_quality_rag.py`
with the best 8 chunks in the prompt at temperature 0.3.

    python -m entigraph_jax.evaluate --config configs/eval_quality_rag_cpt.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf --config.tokenizer.path=/ckpt/Meta-Llama-3-8B
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "eval_quality_rag.py")
    c.model.path = "workdir/cpt_llama3_8b_quality/hf"
    c.tasks.open_book.sampling.temperature = 0.3
    c.tasks.open_book.top_k = 8
    return c

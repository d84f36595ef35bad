"""The released CPT model (`zitongyang/llama-3-8b-entigraph-quality`) open-book, as the paper
evaluated EntiGraph CPT with RAG (`eval_quality_rag_cpt.py`: 128 retrieved, Cohere rerank, the
best 8 in the prompt at temperature 0.3). Needs OPENAI_API_KEY and COHERE_API_KEY (or compatible
servers).

    python -m entigraph_jax.evaluate --config configs/eval_released_model_rag.py
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "eval_quality_rag_cpt.py")
    c.model.update(path=load_config_file(Path(__file__).parent / "eval_released_model.py").model.path,
                   param_dtype="bfloat16")
    c.output = "workdir/eval_released_model/open_book.json"
    return c

"""The paper's CPT model as released, `zitongyang/llama-3-8b-entigraph-quality` (Llama 3 8B after
EntiGraph CPT on the 455M-token corpus), evaluated closed-book with the paper's protocol
(`eval_quality.py`: 64 samples, a random valid answer, the test split). The weights come from the
Hugging Face Hub through the user's cache; its tokenizer is Llama 3's, shipped with it.
Open-book: `eval_released_model_rag.py`.

    python -m entigraph_jax.evaluate --config configs/eval_released_model.py \
        --config.source=quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev
"""

from pathlib import Path

from entigraph_jax.config import load_config_file

RELEASED = "zitongyang/llama-3-8b-entigraph-quality"


def get_config():
    c = load_config_file(Path(__file__).parent / "eval_quality.py")
    c.model.update(path=RELEASED, param_dtype="bfloat16")
    c.source = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"
    c.output = "workdir/eval_released_model/closed_book.json"
    return c

"""QuALITY closed-book evaluation as the released code scores it (`inference/llama.py` samples 8,
`notebooks/nb_qa_eval.ipynb` keeps the first valid one: `majority_vote(n_samples=1)`); otherwise
`eval_quality.py` (the paper's text: 64 samples, a random valid one).

    python -m entigraph_jax.evaluate --config configs/eval_quality_released.py \
        --config.model.path=workdir/cpt_llama3_8b_quality/hf --config.tokenizer.path=/ckpt/Meta-Llama-3-8B
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "eval_quality.py")
    c.tasks.closed_book.sampling.update(samples=8, selection="first_valid")
    return c

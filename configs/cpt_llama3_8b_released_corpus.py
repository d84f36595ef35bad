"""The paper's number without paying for generation: EntiGraph CPT of Llama 3 8B (the recipe of
`cpt_llama3_8b_quality.py`) on the EntiGraph corpus the authors released on the Hugging Face Hub,
`zitongyang/entigraph-quality-corpus` (gpt-4-turbo's synthetic text about the 265 QuALITY articles;
the released code counts 599M Llama 3 tokens). Its layout, as public code that trains on it reads it: one
row per article, the `entigraph` column holding that article's synthetic texts joined by the literal
`<|entigraphseptoekn|>` (the `entity` column its entities, joined by `<|entityseptoekn|>`, not trained on);
the texts are split there and each is packed as its own BOS ... EOS document. A wrong column name is one
line listing the columns there are.

    python -m entigraph_jax.train --config configs/cpt_llama3_8b_released_corpus.py
    python -m entigraph_jax.evaluate --config configs/eval_quality.py \
        --config.model.path=workdir/cpt_llama3_8b_released_corpus/hf
"""

from pathlib import Path

from entigraph_jax.config import load_config_file


def get_config():
    c = load_config_file(Path(__file__).parent / "cpt_llama3_8b_quality.py")
    c.workdir = "workdir/cpt_llama3_8b_released_corpus"
    c.data.source = "hf:zitongyang/entigraph-quality-corpus:field=entigraph,separator=<|entigraphseptoekn|>"
    return c

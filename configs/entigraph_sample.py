"""EntiGraph over the bundled sample corpus (ten articles) with any OpenAI-compatible server.

    python -m entigraph_jax.generate --config configs/entigraph_sample.py \
        --config.llm.base_url=http://localhost:8000/v1 --config.llm.model=meta-llama/Llama-3.1-8B-Instruct
    python -m entigraph_jax.generate --config configs/entigraph_sample.py --dry_run

For Gemini: --config.llm.backend=gemini --config.llm.model=gemini-2.5-flash --config.llm.base_url=
with GEMINI_API_KEY set. Pairs are capped and a tenth of the triples kept, so a run is a few
hundred requests.
"""

from entigraph_jax.generate.settings import base_config


def get_config():
    c = base_config()
    c.method = "entigraph"
    c.source = "sample"
    c.output_dir = "workdir/entigraph_sample"
    c.llm.update(backend="openai", model="meta-llama/Llama-3.1-8B-Instruct", base_url="http://localhost:8000/v1",
                 max_concurrency=32, temperature=1.0, max_output_tokens=1024)
    c.entigraph.update(max_pairs_per_doc=30, triples_fraction=0.1, max_triples_per_doc=10)
    return c

"""Which synthetic-data method to pay for, on your own corpus: Raw (the documents), EntiGraph, Rephrase, knowledge
(summaries and atomic facts checked against the document) and Active Reading, each generated up to the same
training tokens, the same base continued on each, one before/after report with every method as a column, and
per method its corpus, cost, cost at a named model's price and faithfulness (`workdir/compare/compare.md`).

As it stands it is the README's CPU try-out: the fake LLM server as generator and judge, the quickstart's tiny
model as the base, the bundled `examples/own_corpus/`, the questions of `configs/questions_own_corpus.py`:

    python -m entigraph_jax.sweep compare --config configs/compare_own_corpus.py \
        --config.generate.llm.base_url=http://127.0.0.1:8123/v1 \
        --config.faithfulness.judge.base_url=http://127.0.0.1:8123/v1

At real scale: a real generator and judge (`--config.generate.llm.model=gpt-4o-mini`, `--config.faithfulness.
judge.model=gpt-4o` with OPENAI_API_KEY), your folder (`--config.generate.source=folder:YOUR_FOLDER`, the same in
report.corpus), a real base and the report keys of `configs/report_own_corpus.py`, and a budget worth comparing
(`--config.tokens=2000000`); `--config.price_as=gpt-4.1` quotes each method's cost at that model's list price.
"""

from pathlib import Path

from entigraph_jax.config import load_config_file
from entigraph_jax.sweep.compare import CompareSettings

CONFIGS = Path(__file__).parent


def get_config():
    c = CompareSettings().to_config()
    c.workdir = "workdir/compare"
    c.tokens = 16384  # 16 steps of 8 x 128 for each model
    c.price_as = "gpt-4o-mini"
    c.generate = load_config_file(CONFIGS / "entigraph_sample.py")
    c.generate.update(source="folder:examples/own_corpus")
    c.generate.llm.update(base_url="http://127.0.0.1:8123/v1", model="fake", max_concurrency=8)
    c.generate.active_reading.strategies = 4
    c.train = load_config_file(CONFIGS / "cpt_own_corpus.py")
    c.report = load_config_file(CONFIGS / "report_own_corpus.py")
    c.report.tasks = ("loglik", "perplexity", "closed_book")
    c.faithfulness.judge.update(base_url="http://127.0.0.1:8123/v1", model="fake")
    return c

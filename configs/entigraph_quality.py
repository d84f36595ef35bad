"""EntiGraph at the paper's scale: the 265 QuALITY articles (train + dev), gpt-4-turbo at
temperature 1, entities and a summary per article, then every entity pair of every article, then
the triples of each article in a seeded shuffled order until the corpus holds 455M tokens of
training text in the Llama 3 tokenizer (`budget.max_train_tokens`; the generator's own output count,
entity JSON and failed answers included, is reported beside it), so that the scaling study's
455M-token run finds them all.
The prompts are version `paper`: the paper's instructions (its Appendix H.1 and the released
`utils/prompt_utils.py`) in our words, nothing added; every entity the generator names is kept
(concepts such as "Consumerism" need not occur in the article), only junk and JSON debris dropped.

    python -m entigraph_jax.generate --config configs/entigraph_quality.py --dry_run
    python -m entigraph_jax.generate --config configs/entigraph_quality.py

`--dry_run` prints requests, tokens and cost per kind, and `within_budget`: what is sent before the
budget stops the run. Before the entity stage has run it guesses 20 entities per article (265 x
(1 + 190 pairs + 1140 triples) = 352,715 requests, about 212M output tokens at 600 per answer, all
within the budget); rerun it after the entity stage for the real counts. Any OpenAI-compatible
server or Gemini works the same way (`--config.llm.backend`, `llm.model`, `llm.base_url`); the
prices below are OpenAI's list prices for gpt-4-turbo when this recipe was written: check yours.
`--config.llm.mode=batch` sends the same requests through the Batch API at half the price (the dry
run prices it so); answers then come within 24 hours per batch instead of at once.
"""

from entigraph_jax.generate.settings import base_config


def get_config():
    c = base_config()
    c.method = "entigraph"
    c.source = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"
    c.output_dir = "data/entigraph_quality"
    c.prompt_version = "paper"
    c.llm.update(backend="openai", model="gpt-4-turbo", base_url="https://api.openai.com/v1", temperature=1.0,
                 max_output_tokens=4096, max_concurrency=64,
                 price_per_million_input=10.0, price_per_million_output=30.0)
    c.entigraph.update(triples_fraction=1.0, max_pairs_per_doc=0, max_triples_per_doc=0, entities_in_document=False)
    c.budget.max_train_tokens = 455_000_000
    c.budget.tokenizer.path = "/ckpt/Meta-Llama-3-8B"  # the tokenizer CPT trains with
    return c

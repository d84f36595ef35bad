"""What generation costs: USD per million input, cached input and output tokens by model, and the batch
discount.

Where it is installed (the `prices` extra), `genai-prices` (Pydantic's maintained price data, read from
its bundled snapshot: nothing is fetched) prices the model; otherwise, or for a model it does not know,
the table below: providers' list prices as published in 2025 for the models people use for EntiGraph
(the paper used gpt-4-turbo). `price_per_million_input` / `_output` of the LLM settings override both
(>= 0), and a model neither knows (a self-hosted one) costs nothing unless they are set. Which source
priced a run is in its summary. Batch APIs bill half (`batch_discount`). Input tokens a provider served from its
prompt cache (prompts sharing a prefix, as EntiGraph's requests about one document do) are billed at
its cached rate, from the cached count each answer reports; that rate is the full input price where
a source has none.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata

PRICES = {  # model name prefix -> USD per million (input, output, cached input) tokens
    "gpt-4-turbo": (10.00, 30.00, 10.00),  # no prompt caching
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gemini-2.0-flash": (0.10, 0.40, 0.025),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01),
    "gemini-2.5-flash": (0.30, 2.50, 0.03),
    "gemini-2.5-pro": (1.25, 10.00, 0.125),
}


@dataclasses.dataclass(frozen=True)
class Price:
    input: float  # USD per million tokens
    output: float
    cached_input: float  # an input token served from the provider's prompt cache
    batch_discount: float  # the share of the price a batch request pays
    source: str  # where the figures come from

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0, batch: bool = False) -> float:
        """USD for `input_tokens` (of which `cached_input_tokens` came from the cache) and `output_tokens`."""
        usd = ((input_tokens - cached_input_tokens) * self.input + cached_input_tokens * self.cached_input
               + output_tokens * self.output) / 1e6
        return usd * self.batch_discount if batch else usd


PROVIDERS = {"openai": "openai", "gemini": "google"}  # our backend -> genai-prices' provider id


def library_price(model: str, backend: str) -> tuple[tuple[float, float, float], str] | None:
    """(USD per million input, output and cached input tokens, the source) from genai-prices, or None
    where it is not installed or does not know the model."""
    try:
        from genai_prices import Usage, calc_price  # noqa: PLC0415 - optional: the prices extra
    except ImportError:
        return None
    try:
        calc = calc_price(Usage(input_tokens=1_000_000, output_tokens=1_000_000), model_ref=model,
                          provider_id=PROVIDERS.get(backend))
        cached = calc_price(Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000), model_ref=model,
                            provider_id=PROVIDERS.get(backend))  # every input token read from the cache
    except LookupError:
        return None
    source = f"genai-prices {importlib.metadata.version('genai-prices')} ({calc.provider.id}/{calc.model.id})"
    return (float(calc.input_price), float(calc.output_price), float(cached.input_price)), source


def price(llm) -> Price:
    """The price of `llm.model`: the config's figures where set (>= 0), else genai-prices' where it is
    installed and knows the model, else the table's (the longest prefix of the model name that it
    knows), else zero."""
    name = llm.model.removeprefix("models/")
    known = max((prefix for prefix in PRICES if name.startswith(prefix)), key=len, default=None)
    library = library_price(name, llm.backend)
    table, source = library or (PRICES.get(known, (0.0, 0.0, 0.0)), f"the price table ({known}; genai-prices "
                                "not installed or not knowing it)" if known else "")
    given = (llm.price_per_million_input, llm.price_per_million_output)
    figures = tuple(g if g >= 0 else t for g, t in zip(given, table[:2], strict=True))
    # a cached rate of its own where set; an input price set by hand is paid in full for cached tokens too
    cached = llm.price_per_million_cached_input if llm.price_per_million_cached_input >= 0 else \
        figures[0] if given[0] >= 0 else table[2]
    source = ("price_per_million_*" if min(given) >= 0 else source
              or "not priced (a model no price source knows; set price_per_million_*)")
    return Price(*figures, cached_input=cached, batch_discount=llm.batch_discount, source=source)

"""What generation costs: USD per million input and output tokens by model, and the batch discount.

The table holds providers' list prices as published in 2025 for the models people use for EntiGraph
(the paper used gpt-4-turbo); prices change, so `llm.price_per_million_input` / `_output` override
it (>= 0), and a model it does not know (a self-hosted one) costs nothing unless they are set. Batch
APIs bill half (`llm.batch_discount`).
"""

from __future__ import annotations

import dataclasses

PRICES = {  # model name prefix -> (USD per million input tokens, per million output tokens)
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
}


@dataclasses.dataclass(frozen=True)
class Price:
    input: float  # USD per million tokens
    output: float
    batch_discount: float  # the share of the price a batch request pays
    source: str  # where the figures come from

    def cost(self, input_tokens: int, output_tokens: int, batch: bool = False) -> float:
        usd = (input_tokens * self.input + output_tokens * self.output) / 1e6
        return usd * self.batch_discount if batch else usd


def price(llm) -> Price:
    """The price of `llm.model`: the config's figures where set (>= 0), else the table's (the longest
    prefix of the model name that it knows), else zero."""
    name = llm.model.removeprefix("models/")
    known = max((prefix for prefix in PRICES if name.startswith(prefix)), key=len, default=None)
    table = PRICES.get(known, (0.0, 0.0))
    given = (llm.price_per_million_input, llm.price_per_million_output)
    figures = tuple(g if g >= 0 else t for g, t in zip(given, table, strict=True))
    source = ("llm.price_per_million_*" if min(given) >= 0 else f"the price table ({known})" if known
              else "not priced (a model the price table does not know; set llm.price_per_million_*)")
    return Price(*figures, batch_discount=llm.batch_discount, source=source)

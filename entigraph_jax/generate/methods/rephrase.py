"""The Rephrase baseline (WRAP's styles, Maini et al., 2024): each document rewritten in each style, `samples`
times, then round after round until each document has `rephrase.tokens_per_doc` output tokens."""

from __future__ import annotations

from ..method import Kind, Method
from ..requests import rephrase_requests
from ..rounds import more_rounds


def next_round(rounds):
    """Another round of every style for the documents short of `rephrase.tokens_per_doc`."""
    rephrase = rounds.config.rephrase
    return more_rounds(rounds, "rephrase", rephrase.tokens_per_doc, len(rephrase.styles),
                       lambda doc, samples: rephrase_requests([doc], rounds.config, samples))


async def send(rounds) -> None:
    rounds.expect(rounds.journal.count_pending(("rephrase",), rounds.retry))
    await rounds.send_kind("rephrase", lambda: next_round(rounds))


def estimate(add, docs, config, out) -> str:
    """Every style of every document, as many rounds as `tokens_per_doc` takes at the guessed length."""
    rephrase, out_tokens = config.rephrase, config.dry_run.output_tokens
    per_round = len(rephrase.styles) * rephrase.samples * out_tokens  # a document's rephrase tokens per round
    rounds = max(1, -(-rephrase.tokens_per_doc // per_round)) if rephrase.tokens_per_doc else 1
    for doc in docs:
        for r in rephrase_requests([doc], config):
            add("rephrase", r, doc, out_tokens, rounds)
    return ""


METHOD = Method(
    "rephrase", "Rephrase: each document rewritten in WRAP's styles", kinds={"rephrase": Kind(styled=True)},
    templates=lambda settings: ("system", *(f"rephrase_{s}" for s in settings.rephrase.styles)),
    first=rephrase_requests, send=send, estimate=estimate)

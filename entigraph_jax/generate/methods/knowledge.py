"""Knowledge tuning with enhanced summaries (after Red Hat's `sdg_hub`, `examples/knowledge_tuning/`): from each
document, texts of each of `knowledge.kinds` — a detailed summary, an extractive one (its key passages quoted, each
with what it tells), its atomic facts one per line — `knowledge.samples` of each, round after round until
`knowledge.tokens_per_doc`, each round's texts checked against their document by the generator before the
next, sentence by sentence (an atomic-facts text: fact by fact), each SUPPORTED or UNSUPPORTED. Unsupported
sentences are removed, or the text dropped, or kept and counted (`knowledge.unsupported`); a text whose check
never got readable verdicts is left out.
`records/` holds the texts as checked (kind `knowledge`, their style the text's kind) and summary.json's `fates`
counts every text's fate and the claims checked.

Ours, not theirs: sdg_hub checks only the question-answer pairs it writes from its summaries (one verdict per
answer, against the summary); here every generated text is checked against the source, a sentence standing for a
claim, so a removed claim leaves readable prose."""

from __future__ import annotations

import collections
import re

from entigraph_jax.data import write_records
from entigraph_jax.llm import InvalidAnswer

from ..method import Kind, Method
from ..requests import make_request
from ..rounds import more_rounds

VERDICT = re.compile(r"^\W*(\d+)\W+(SUPPORTED|UNSUPPORTED)\b", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
SENTENCE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d]))\s+(?=[\"'\u201c(]?[A-Z0-9])")


def units(text: str, kind: str) -> list[str]:
    """The claims a text is checked by: an atomic-facts text's lines (their bullets dropped), else its sentences
    (a line break ends one too)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "atomic":
        return [BULLET.sub("", line) for line in lines if BULLET.sub("", line)]
    return [s.strip() for line in lines for s in SENTENCE.split(line) if s.strip()]


def draft_requests(docs, settings, samples: range | None = None):
    """Each document's texts: every kind, `samples` of each (default: `knowledge.samples`)."""
    samples = samples if samples is not None else range(settings.knowledge.samples)
    return [make_request(doc, "knowledge", settings, style=kind, sample_index=i)
            for doc in docs for i in samples for kind in settings.knowledge.kinds]


def numbered(claims: list[str]) -> str:
    return "\n".join(f"{i}. {claim}" for i, claim in enumerate(claims, 1))


def check_request(doc, draft: dict, settings):
    """The check of one text: its claims numbered, and the text's request id (so each text has its own check)."""
    return make_request(doc, "check", settings, (numbered(units(draft["text"], draft["style"])), draft["request_id"]),
                        style=draft["style"])


def read_check(record, request, completion, doc, settings) -> dict:
    count = len(request.entities[0].splitlines())
    verdicts: list[bool | None] = [None] * count
    for line in completion.text.splitlines():
        m = VERDICT.match(line)
        if m and 1 <= int(m.group(1)) <= count and verdicts[int(m.group(1)) - 1] is None:
            verdicts[int(m.group(1)) - 1] = m.group(2).upper() == "SUPPORTED"
    if sum(v is None for v in verdicts) * 2 > count:
        raise InvalidAnswer(f"verdicts for {count - verdicts.count(None)} of {count} statements")  # asked again
    return {**record, "verdicts": verdicts}


def next_round(rounds):
    """Another round of every kind for the documents short of `knowledge.tokens_per_doc`."""
    knowledge = rounds.config.knowledge
    return more_rounds(rounds, "knowledge", knowledge.tokens_per_doc, len(knowledge.kinds),
                       lambda doc, samples: draft_requests([doc], rounds.config, samples))


async def send(rounds) -> None:
    """Round after round: the round's texts, then a check of each text written so far without one (so a budget
    that stops the run leaves at most its last round unchecked)."""
    journal, engine, docs = rounds.journal, rounds.engine, {d.doc_id: d for d in rounds.docs}
    while True:
        rounds.expect(journal.count_pending(("knowledge",), rounds.retry))
        await engine.run(journal.pending(("knowledge",), rounds.retry))
        if engine.stats.budget_reached:
            return
        journal.add(rounds.order([check_request(docs[r["doc_id"]], r, rounds.config)
                                  for r in journal.records(("knowledge",)) if r["doc_id"] in docs]))
        rounds.expect(journal.count_pending(("check",), rounds.retry))
        await engine.run(journal.pending(("check",), rounds.retry))
        new = next_round(rounds)
        if engine.stats.budget_reached or not new or journal.add(rounds.order(new)) == 0:
            return


def checked(draft: dict, verdicts: list[bool | None] | None, policy: str, counts: collections.Counter) -> dict | None:
    """The text as its check leaves it (None: left out), its fate and its claims counted in `counts`."""
    if verdicts is None:
        counts["unchecked (left out)"] += 1
        return None
    claims = units(draft["text"], draft["style"])
    kept = [c for c, v in zip(claims, verdicts, strict=True) if v]
    unsupported = len(claims) - len(kept)  # a claim without a verdict counts as unsupported
    counts["claims"] += len(claims)
    counts["claims unsupported"] += unsupported
    if unsupported == 0 or policy == "keep":
        fate, text = "kept" if unsupported == 0 else "kept with unsupported claims", draft["text"]
    elif policy == "drop" or not kept:
        fate, text = "dropped: unsupported claims" if policy == "drop" else "dropped: no claim supported", None
    else:
        fate, text = "edited: unsupported claims removed", ("\n" if draft["style"] == "atomic" else " ").join(kept)
    counts[fate] += 1
    if text is None:
        return None
    return {key: draft[key] for key in ("doc_id", "kind", "style", "sample_index", "model", "prompt_version",
                                        "request_id", "usage", "truncated") if key in draft} | {
        "text": text, "claims": len(claims), "unsupported": unsupported, "fate": fate}


def export(config, docs, journal, out) -> tuple[int, dict]:
    """`records/`: every checked text as `knowledge.unsupported` leaves it; the count of every text's fate."""
    verdicts = {r["entities"][1]: r["verdicts"] for r in journal.records(("check",))}
    counts = collections.Counter()
    kept = [record for draft in journal.records(("knowledge",))
            if (record := checked(draft, verdicts.get(draft["request_id"]), config.knowledge.unsupported, counts))]
    counts["texts"] = sum(counts[k] for k in counts if k not in ("claims", "claims unsupported"))
    return write_records(kept, out.records), dict(sorted(counts.items()))


def estimate(add, docs, config, out) -> str:
    """Every kind of every document, as many rounds as `tokens_per_doc` takes at the guessed length, and a check of
    each (its statements about as long as the text)."""
    knowledge, out_tokens = config.knowledge, config.dry_run.output_tokens
    per_round = len(knowledge.kinds) * knowledge.samples * out_tokens
    rounds = max(1, -(-knowledge.tokens_per_doc // per_round)) if knowledge.tokens_per_doc else 1
    stand_in = "x" * (4 * out_tokens)  # 4 characters a token
    for doc in docs:
        for r in draft_requests([doc], config):
            add("knowledge", r, doc, out_tokens, rounds)
            draft = {"text": stand_in, "style": r.style, "request_id": r.request_id}
            add("check", check_request(doc, draft, config), doc, out_tokens // 10, rounds)
    return ""


METHOD = Method(
    "knowledge", "summaries (detailed, extractive) and atomic facts of each document, every sentence checked "
    "against the document by the generator",
    kinds={"knowledge": Kind(styled=True), "check": Kind(attempts=lambda s: s.knowledge.check_attempts, read=read_check,
                                                          trains=False)},
    templates=lambda settings: ("system", *(f"knowledge_{k}" for k in settings.knowledge.kinds), "check"),
    first=draft_requests, send=send, estimate=estimate, export=export)

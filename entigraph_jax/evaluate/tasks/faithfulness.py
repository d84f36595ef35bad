"""faithfulness: how much of a synthetic corpus its source supports (no model). From each generate run's
`records/`, a seeded sample of texts per source document and per kind (entities' summaries, pairs, triples,
rephrasings, ...) is split into atomic claims and each claim judged against its source document: supported,
not stated, or contradicted. The judge is the summary evaluation's (the same LLM service, journal and claim
splitting; its own three-way verdict prompt, `prompts/judge/faithfulness.txt`), its answers kept beside the result
so a rerun asks nothing twice. Shares are of claims, with 95% intervals over source documents; `dry_run` counts
and prices the requests and asks nothing.

EntiGraph's pair and triple texts reason about how entities relate, so some of their claims are inferences the
judge may call not stated: the audit reports each kind on its own and gates nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
from pathlib import Path

import numpy as np

from entigraph_jax.clients.prices import price
from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, read_records
from entigraph_jax.data.records import train_text
from entigraph_jax.data.spec import SourceSpec
from entigraph_jax.llm import LLMSettings
from entigraph_jax.llm.templates import fill, read_template
from entigraph_jax.runs import CorpusRun
from entigraph_jax.settings import Settings, positive, section, setting

from ..summary import JUDGE_PROMPTS, judge, paper_judge
from ..task import Context, Result, Row, Task
from ..uncertainty import Units, interval

OWNER = "tasks.faithfulness.judge"
VERDICTS = ("supported", "not_stated", "contradicted")
VERDICT = re.compile(r"^\W*(\d+)\W+(SUPPORTED|NOT STATED|CONTRADICTED)\b", re.IGNORECASE)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
CLAIM_TOKENS, VERDICT_TOKENS = 20, 4  # the dry run's guesses: tokens per claim written, per verdict line


def _corpora(value) -> str | None:
    for spec in value:
        written = spec.rpartition("=")[2] if isinstance(spec, str) else ""
        if not written.startswith("records:"):
            return f"expected records:DIR specs (a generate run's records/), optionally NAME=records:DIR; got {spec!r}"
    return None


@dataclasses.dataclass(frozen=True)
class FaithfulnessSettings(Settings):
    corpora: tuple = setting((), "the synthetic corpora to audit against `source`'s documents: records:DIR (a "
                             "generate run's records/, named by the run's folder) or NAME=records:DIR",
                             check=_corpora)
    per_document: int = setting(2, "texts sampled per source document, per corpus and kind", check=positive)
    seed: int = setting(0, "the sample's seed")
    claims_per_request: int = setting(25, "claims judged in one judge request", check=positive)
    dry_run: bool = setting(False, "count and price the judge's requests, ask nothing")
    judge: LLMSettings = section(paper_judge, "the judge LLM: splits each text into claims and judges them against its "
                                         "source; its answers are kept in <result>.judge/")


@dataclasses.dataclass(frozen=True)
class FaithfulnessScore:
    """One corpus's texts of one kind: their claims' shares by verdict (of judged claims), each with its 95%
    interval over source documents."""

    texts: int
    documents: int
    claims: int
    supported: float | None
    not_stated: float | None
    contradicted: float | None
    intervals: dict  # verdict -> [low, high] or None
    unjudged: int  # claims the judge gave no verdict for (left out of the shares)


@dataclasses.dataclass(frozen=True)
class FaithfulnessScores(Result):
    writers: dict[str, FaithfulnessScore] = dataclasses.field(default_factory=dict)  # "corpus/kind" -> score
    estimate: dict | None = None  # the dry run's requests, tokens and cost

    @classmethod
    def from_dict(cls, d: dict) -> FaithfulnessScores:
        return super().from_dict({**d, "writers": {k: FaithfulnessScore(**v) for k, v in d["writers"].items()}})

    def figures(self, split: str = "all") -> dict:
        if self.estimate is not None:
            return {"dry_run": self.estimate}
        return {writer: dataclasses.asdict(score) for writer, score in self.writers.items()}

    def rows(self) -> dict[str, Row]:
        return {f"faithfulness {writer} {verdict}": Row(getattr(score, verdict), score.texts,
                                                        score.intervals.get(verdict))
                for writer, score in self.writers.items() for verdict in VERDICTS}


def parse_faithfulness(text: str | None, count: int) -> list[str | None]:
    """One verdict per claim (supported | not_stated | contradicted; None where the judge gave none)."""
    verdicts: list[str | None] = [None] * count
    for line in (text or "").splitlines():
        m = VERDICT.match(line)
        if m and 1 <= int(m.group(1)) <= count and verdicts[int(m.group(1)) - 1] is None:
            verdicts[int(m.group(1)) - 1] = "_".join(m.group(2).lower().split())
    return verdicts


def corpus_name(spec: str) -> tuple[str, Path]:
    """(its name, its records folder) of a `corpora` entry: NAME=records:DIR, or records:DIR named by the generate
    run's folder (the folder holding records/)."""
    name, _, written = spec.rpartition("=")
    folder = Path(SourceSpec.parse(written).location)
    return name or (folder.parent.name if folder.name == "records" else folder.name), folder


def sample_texts(settings: FaithfulnessSettings, docs: dict[str, Document]) -> tuple[list[dict], dict[str, int]]:
    """The sampled texts as judge entries ({doc_id, writer, summary}) and, per corpus, its texts whose document
    is not among the sources (left out)."""
    entries, unmatched = [], {}
    for spec in settings.corpora:
        name, folder = corpus_name(spec)
        if not folder.is_dir():
            raise ConfigError(f"tasks.faithfulness.corpora: {folder}: no such folder (a generate run's records/)")
        groups: dict[tuple[str, str], list[dict]] = {}
        unmatched[name] = 0
        for record in read_records(folder):
            text = train_text(record).strip()
            if not text:
                continue
            if record.get("doc_id") not in docs:
                unmatched[name] += 1
                continue
            groups.setdefault((record.get("kind") or "text", record["doc_id"]), []).append(record)
        rng = np.random.default_rng(settings.seed)
        for (kind, doc_id), records in sorted(groups.items()):
            records.sort(key=lambda r: r.get("request_id") or train_text(r))
            for i in sorted(rng.choice(len(records), min(settings.per_document, len(records)), replace=False)):
                entries.append({"doc_id": doc_id, "writer": f"{name}/{kind}", "summary": train_text(records[i]).strip(),
                                "request_id": records[i].get("request_id")})
    if not entries:
        raise ConfigError("tasks.faithfulness.corpora: no text to audit (set it to generate runs' records/ whose "
                          "doc_ids are `source`'s documents)")
    return entries, unmatched


def scores(entries: list[dict]) -> dict[str, FaithfulnessScore]:
    """Each writer's claim shares by verdict: judged claims summed over texts, intervals over source documents."""
    found = {}
    for writer in dict.fromkeys(e["writer"] for e in entries):
        mine = [e for e in entries if e["writer"] == writer and e["verdicts"] is not None]
        judged = [sum(v is not None for v in e["verdicts"]) for e in mine]
        shares, intervals = {}, {}
        for verdict in VERDICTS:
            hits = [e["verdicts"].count(verdict) for e in mine]
            units = Units(tuple(f"{e['doc_id']}\n{i}" for i, e in enumerate(mine)), tuple(e["doc_id"] for e in mine),
                          tuple(map(float, hits)), tuple(map(float, judged)))
            kept = [i for i, n in enumerate(judged) if n]
            shares[verdict] = sum(hits) / sum(judged) if sum(judged) else None
            intervals[verdict] = interval(units.subset({units.keys[i] for i in kept})) if kept else None
        found[writer] = FaithfulnessScore(
            texts=len(mine), documents=len({e["doc_id"] for e in mine}), claims=sum(len(e["verdicts"]) for e in mine),
            intervals=intervals, unjudged=sum(len(e["verdicts"]) - n for e, n in zip(mine, judged, strict=True)),
            **shares)
    return found


def estimate(entries: list[dict], docs: dict[str, Document], settings: FaithfulnessSettings) -> dict:
    """The judge's requests and tokens (about 4 characters a token; a claim per sentence of the text) and their
    cost at the judge's price, asking nothing."""
    split_template, verdict_template = (read_template(JUDGE_PROMPTS, k) for k in ("claims", "faithfulness"))
    system = len(read_template(JUDGE_PROMPTS, "system"))
    requests = input_chars = output_tokens = 0
    for e in entries:
        doc, claims = docs[e["doc_id"]], len([s for s in SENTENCE.split(e["summary"]) if s.strip()])
        chunks = math.ceil(claims / settings.claims_per_request)
        requests += 1 + chunks
        input_chars += system + len(fill(split_template, e["summary"], (), doc.title))
        input_chars += chunks * (system + len(fill(verdict_template, doc.text, ("",), doc.title))) + claims * 4 * \
            CLAIM_TOKENS
        output_tokens += claims * (CLAIM_TOKENS + VERDICT_TOKENS)
    cost = price(settings.judge)
    return {"texts": len(entries), "requests": requests, "input_tokens": input_chars // 4,
            "output_tokens": output_tokens, "cost_usd": round(cost.cost(input_chars // 4, output_tokens), 4),
            "price": cost.source or "no price known for the judge's model (set its price_per_million_*)"}


def faithfulness(settings: FaithfulnessSettings, context: Context) -> FaithfulnessScores:
    docs = {d.doc_id: d for d in context.documents}
    entries, unmatched = sample_texts(settings, docs)
    details = {"settings": settings.to_dict(), "unmatched": unmatched}
    if settings.dry_run:
        return FaithfulnessScores("faithfulness", estimate=estimate(entries, docs, settings), details=details)
    with tempfile.TemporaryDirectory() as scratch:  # the journal is kept beside a command's result
        journal = CorpusRun(f"{context.output or Path(scratch) / 'faithfulness'}.judge").journal
        cost = judge(entries, docs, settings, journal, verdict="faithfulness", parse=parse_faithfulness, owner=OWNER)
    return FaithfulnessScores("faithfulness", writers=scores(entries),
                              details={**details, "judge_cost_usd": cost, "results": entries})


TASK = Task("faithfulness", "how much of a synthetic corpus its source supports: sampled texts split into claims, "
            "each judged supported / not stated / contradicted by an LLM", FaithfulnessSettings, needs="nothing",
            reads="text", result=FaithfulnessScores, run=faithfulness)

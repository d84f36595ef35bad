"""The data stage's command: `python -m entigraph_jax.data inspect PATH`, what a record set holds —
record and token counts by `kind`, truncated answers, exact and near duplicates, distinct-n, and for an
EntiGraph corpus the share of each document's entity pairs and triples that were written and the tokens
written about each entity; a few sample records, drawn uniformly in one pass."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import random
import textwrap
from pathlib import Path

import numpy as np

from .corpus_stats import distinct_n, duplicate_flags
from .records import RecordError, read_records, train_text
from .settings import InspectSettings

WRITTEN = {"pair": 2, "triple": 3}  # the kinds that write about a set of a document's entities, and its size


@dataclasses.dataclass(frozen=True)
class Inspection:
    path: str
    unit: str  # tokens, or whitespace-separated words without a tokenizer
    counts: dict  # kind -> records
    sizes: dict  # kind -> tokens (or words)
    truncated: dict  # kind -> records whose answer hit the token cap
    duplicates: dict  # exact, near: shares of training texts equal / near-equal to an earlier one
    distinct: dict  # n -> distinct-n over the training texts
    coverage: dict  # pair, triple -> possible, written, share (documents with an entities record)
    per_entity: dict  # the unit written about each entity in pair and triple texts: entities, mean, median, min, max
    samples: list  # records

    def figures(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "samples"}


def coverage(entities: dict[str, list[str]], written: dict[str, set]) -> dict:
    """Per kind in WRITTEN: the entity sets a document's entity list allows, and how many were written."""
    out = {}
    for kind, size in WRITTEN.items():
        possible = sum(math.comb(len(names), size) for names in entities.values())
        done = len({key for key in written[kind] if key[0] in entities})
        out[kind] = {"possible": possible, "written": done, "share": done / possible if possible else None}
    return out


def spread(values: list[int]) -> dict:
    if not values:
        return {"entities": 0}
    return {"entities": len(values), "mean": float(np.mean(values)), "median": float(np.median(values)),
            "min": int(min(values)), "max": int(max(values))}


def inspect(config: InspectSettings) -> Inspection:
    tokenizer = config.tokenizer.load() if config.tokenizer.path else None
    path, samples = config.path, config.samples
    unit = "tokens" if tokenizer else "words"
    counts, sizes, truncated, reservoir = collections.Counter(), collections.Counter(), collections.Counter(), []
    entities, written, per_entity, texts = {}, {k: set() for k in WRITTEN}, collections.Counter(), []
    rng = random.Random(config.seed)
    for index, record in enumerate(read_records(path)):
        kind = record.get("kind", "raw")
        size = len(tokenizer.encode(record["text"])) if tokenizer else len(record["text"].split())
        counts[kind] += 1
        sizes[kind] += size
        truncated[kind] += bool(record.get("truncated"))
        if kind == "entities":
            entities[record.get("doc_id")] = record.get("entities") or []
        elif kind in WRITTEN:
            names = tuple(sorted(record.get("entities") or []))
            written[kind].add((record.get("doc_id"), names))
            for name in names:
                per_entity[(record.get("doc_id"), name)] += size
        if text := train_text(record):
            texts.append(text)
        if len(reservoir) < samples:  # reservoir sampling: a uniform sample in one pass
            reservoir.append(record)
        elif (j := rng.randrange(index + 1)) < samples:
            reservoir[j] = record
    if not counts:
        raise RecordError(f"{path}: holds no records")
    exact, near = duplicate_flags(texts) if config.duplicates else (np.zeros(0), np.zeros(0))
    duplicates = {"exact": float(exact.mean()), "near": float(near.mean())} if len(exact) else {}
    named = [per_entity.get((doc, name), 0) for doc, names in entities.items() for name in names]
    result = Inspection(str(path), unit, dict(counts), dict(sizes), dict(truncated), duplicates,
                        {str(n): distinct_n(texts, n) for n in (1, 2, 3)},
                        coverage(entities, written) if entities else {}, spread(named) if entities else {},
                        reservoir)
    if config.output:
        Path(config.output).write_text(json.dumps(result.figures(), indent=2))
    return result


def _share(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def show(result: Inspection) -> str:
    unit, counts, sizes = result.unit, result.counts, result.sizes
    lines = [result.path, f"{'kind':<12}{'records':>10}{unit:>14}{unit + '/record':>16}{'truncated':>11}"]
    for kind in sorted(counts):
        lines.append(f"{kind:<12}{counts[kind]:>10}{sizes[kind]:>14}{sizes[kind] / counts[kind]:>16.1f}"
                     f"{result.truncated.get(kind, 0):>11}")
    lines.append(f"{'total':<12}{sum(counts.values()):>10}{sum(sizes.values()):>14}")
    if result.duplicates:
        lines.append(f"duplicates: {_share(result.duplicates['exact'])} exact, {_share(result.duplicates['near'])} "
                     "near (word 5-gram Jaccard >= 0.8, MinHash)")
    lines.append("distinct-n: " + ", ".join(f"{n}: {v:.3f}" for n, v in result.distinct.items()))
    for kind, c in result.coverage.items():
        lines.append(f"{kind}s written: {c['written']} of {c['possible']} possible ({_share(c['share'])})")
    if result.per_entity.get("entities"):
        e = result.per_entity
        lines.append(f"{unit} per entity (pair and triple texts): mean {e['mean']:.0f}, median {e['median']:.0f}, "
                     f"min {e['min']}, max {e['max']} over {e['entities']} entities")
    for record in result.samples:
        fields = {k: v for k, v in record.items() if k != "text"}
        lines += ["", f"--- {fields}", textwrap.shorten(record["text"], 600, placeholder=" ...")]
    return "\n".join(lines)

"""The data stage's command: `python -m entigraph_jax.data inspect PATH`, what a record set holds —
record and token counts by `kind` and a few sample records, drawn uniformly in one pass."""

from __future__ import annotations

import collections
import dataclasses
import random
import textwrap

from .defaults import InspectSettings
from .records import RecordError, read_records


@dataclasses.dataclass(frozen=True)
class Inspection:
    path: str
    unit: str  # tokens, or whitespace-separated words without a tokenizer
    counts: dict  # kind -> records
    sizes: dict  # kind -> tokens (or words)
    samples: list  # records


def inspect(config: InspectSettings) -> Inspection:
    tokenizer = config.tokenizer.load() if config.tokenizer.path else None
    path, samples = config.path, config.samples
    unit = "tokens" if tokenizer else "words"
    counts, sizes, reservoir = collections.Counter(), collections.Counter(), []
    rng = random.Random(config.seed)
    for index, record in enumerate(read_records(path)):
        kind = record.get("kind", "raw")
        counts[kind] += 1
        sizes[kind] += len(tokenizer.encode(record["text"])) if tokenizer else len(record["text"].split())
        if len(reservoir) < samples:  # reservoir sampling: a uniform sample in one pass
            reservoir.append(record)
        elif (j := rng.randrange(index + 1)) < samples:
            reservoir[j] = record
    if not counts:
        raise RecordError(f"{path}: holds no records")
    return Inspection(str(path), unit, dict(counts), dict(sizes), reservoir)


def show(result: Inspection) -> str:
    unit, counts, sizes = result.unit, result.counts, result.sizes
    lines = [result.path, f"{'kind':<12}{'records':>10}{unit:>14}{unit + '/record':>16}"]
    for kind in sorted(counts):
        lines.append(f"{kind:<12}{counts[kind]:>10}{sizes[kind]:>14}{sizes[kind] / counts[kind]:>16.1f}")
    lines.append(f"{'total':<12}{sum(counts.values()):>10}{sum(sizes.values()):>14}")
    for record in result.samples:
        fields = {k: v for k, v in record.items() if k != "text"}
        lines += ["", f"--- {fields}", textwrap.shorten(record["text"], 600, placeholder=" ...")]
    return "\n".join(lines)

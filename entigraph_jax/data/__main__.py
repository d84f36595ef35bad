"""`python -m entigraph_jax.data inspect PATH [--tokenizer T] [--samples N]`: what a record set holds.

Prints record and token counts by `kind` and a few sample records. Without a tokenizer, tokens are
counted as whitespace-separated words (and labelled so).
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import textwrap

from .records import RecordError, read_records
from .tokenizers import TokenizerError, load_tokenizer


def inspect(path: str, tokenizer_path: str | None, samples: int, seed: int) -> None:
    tokenizer = load_tokenizer(tokenizer_path) if tokenizer_path else None
    unit = "tokens" if tokenizer else "words"
    counts, sizes, reservoir = collections.Counter(), collections.Counter(), []
    rng = random.Random(seed)
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
    print(f"{path}")
    print(f"{'kind':<12}{'records':>10}{unit:>14}{unit + '/record':>16}")
    for kind in sorted(counts):
        print(f"{kind:<12}{counts[kind]:>10}{sizes[kind]:>14}{sizes[kind] / counts[kind]:>16.1f}")
    print(f"{'total':<12}{sum(counts.values()):>10}{sum(sizes.values()):>14}")
    for record in reservoir:
        fields = {k: v for k, v in record.items() if k != "text"}
        print(f"\n--- {fields}")
        print(textwrap.shorten(record["text"], 600, placeholder=" ..."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entigraph_jax.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect_parser = commands.add_parser("inspect", help="counts by kind and sample records")
    inspect_parser.add_argument("path", help="an .array_record file, a folder of them, or a glob")
    inspect_parser.add_argument("--tokenizer", help="a .model or tokenizer.json to count tokens with")
    inspect_parser.add_argument("--samples", type=int, default=3)
    inspect_parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        inspect(args.path, args.tokenizer, args.samples, args.seed)
    except (RecordError, TokenizerError) as e:
        print(f"data inspect: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

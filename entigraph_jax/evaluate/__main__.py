"""`python -m entigraph_jax.evaluate --config configs/eval_quality.py [--config.key=value ...]`

Loads a checkpoint and a tokenizer, runs QuALITY closed-book (or log-likelihood) on the configured
source, prints the accuracies and writes every prompt, sample and parsed answer to a JSON file next
to the checkpoint; `mode=perplexity` scores any source instead.
"""

from __future__ import annotations

import json
import sys

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import SourceError, TokenizerError
from entigraph_jax.data.embedders import EmbedderError
from entigraph_jax.keys import ApiKeyError
from entigraph_jax.models import CheckpointError

from .run import evaluate


def main(argv: list[str] | None = None) -> int:
    try:
        config, _ = parse_command_line(sys.argv[1:] if argv is None else argv)
        summary = evaluate(config)
    except (ConfigError, SourceError, TokenizerError, CheckpointError, EmbedderError, ApiKeyError, ValueError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

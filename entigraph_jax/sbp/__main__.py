"""`python -m entigraph_jax.sbp {mine,synthesizer,synthesize,train,run} --config configs/sbp_quickstart.py`

mine: related pairs; synthesizer: train p(d2 | d1); synthesize: new documents from seeds; train:
SBP joint training and the repetition baseline at the same compute; run: all four in order. Steps
whose output exists are skipped, so `run` after an interruption continues where it stopped.
"""

from __future__ import annotations

import json
import sys

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import RecordError, SourceError, TokenizerError
from entigraph_jax.data.embedders import EmbedderError
from entigraph_jax.models import CheckpointError
from entigraph_jax.train import TrainingError

from .mine import MiningError
from .run import SBP, STEPS

USAGE = f"usage: python -m entigraph_jax.sbp {{{','.join(STEPS)},run}} --config FILE [--config.key=value ...]"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in (*STEPS, "run"):
        print(f"sbp: error: {USAGE}", file=sys.stderr)
        return 2
    try:
        config, _ = parse_command_line(argv[1:])
        summary = SBP(config).run(STEPS if argv[0] == "run" else (argv[0],))
    except (ConfigError, SourceError, RecordError, TokenizerError, CheckpointError, TrainingError,
            EmbedderError, MiningError) as e:
        print(f"sbp: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

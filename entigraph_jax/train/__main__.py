"""`python -m entigraph_jax.train --config configs/X.py [--config.key=value ...] [--workdir DIR]`."""

from __future__ import annotations

import sys

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import RecordError, SourceError, TokenizerError
from entigraph_jax.models import CheckpointError

from .loop import PREEMPTED_EXIT_CODE, Preempted, TrainingError, train
from .setup import resolve_workdir


def main(argv: list[str] | None = None) -> int:
    try:
        config, extras = parse_command_line(sys.argv[1:] if argv is None else argv, ("workdir",))
        outputs = train(config, resolve_workdir(config, extras.get("workdir")))
    except Preempted as e:
        print(f"train: {e}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except (ConfigError, SourceError, RecordError, TokenizerError, CheckpointError, TrainingError) as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 1
    width = max(map(len, outputs))
    print("\n".join(f"{key:<{width}}  {value}" for key, value in outputs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

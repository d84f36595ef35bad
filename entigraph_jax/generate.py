"""`python -m entigraph_jax.generate --config configs/X.py [--config.key=value ...] [--dry_run] [--merge]`

Synthetic corpus generation (EntiGraph or Rephrase) with any LLM backend. Rerunning the same command
after a crash or Ctrl-C sends only what is missing. `--dry_run` prints the plan's requests, tokens
and cost and sends nothing; `--merge` joins the records of `num_shards` shard runs.
"""

from __future__ import annotations

import json
import sys

from entigraph_jax.config import ConfigError, parse_command_line
from entigraph_jax.data import RecordError, SourceError
from entigraph_jax.synth.llm import Fatal
from entigraph_jax.synth.prompts import PromptError
from entigraph_jax.synth.run import estimate, generate, merge


def main(argv: list[str] | None = None) -> int:
    try:
        config, extras = parse_command_line(sys.argv[1:] if argv is None else argv,
                                            switches=("dry_run", "merge"))
        if extras.get("merge"):
            result = merge(config)
        elif extras.get("dry_run"):
            result = estimate(config)
        else:
            result = generate(config)
    except (ConfigError, SourceError, RecordError, PromptError, Fatal) as e:
        print(f"generate: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("generate: interrupted; finished requests are journaled and exported; rerun to resume",
              file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

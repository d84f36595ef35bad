"""`python -m entigraph_jax.data inspect PATH [--tokenizer T] [--samples N] [--output FILE]`"""

import sys

from entigraph_jax.cli import Command, Flag, main, required

from .run import inspect, show
from .settings import InspectSettings


def _inspect(config, invocation):
    required(config, "path")
    return inspect(config)


COMMANDS = {
    "inspect": Command(
        name="data inspect",
        purpose="""What a record set holds: record and token counts by kind, truncated answers, exact and near
duplicates, distinct-n, for an EntiGraph corpus the share of each document's entity pairs and triples
written and the tokens written about each entity, and a few sample records. Without a tokenizer,
tokens are counted as whitespace-separated words (and labelled so).""",
        settings=InspectSettings,
        run=_inspect,
        show=show,
        flags=(Flag("path", "the records to read", key="path", positional=True),
               Flag("tokenizer", "count tokens with this tokenizer", key="tokenizer.path", metavar="PATH"),
               Flag("samples", "sample records printed", key="samples", metavar="N"),
               Flag("seed", "seeds the sample", key="seed", metavar="N"),
               Flag("output", "also write the figures as JSON", key="output", metavar="FILE")),
    ),
}

if __name__ == "__main__":
    sys.exit(main(COMMANDS))

"""Versioned prompt templates: `prompts/<version>/<name>.txt`, with `{document}`, `{title}` and
`{entity_N}` slots. The version goes into every record and every request id, so changing a prompt means a new
version folder, never an edit in place. From v3 on every prompt begins with its document, so the requests
about one document share a prefix that a server's prefix cache (vLLM's, OpenAI's) computes once."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from entigraph_jax.errors import UserError

PROMPTS = Path(__file__).parent / "prompts"
REPHRASE_STYLES = ("easy", "wiki", "academic", "qa")  # WRAP's styles (Maini et al., 2024)


class PromptError(UserError):
    """An unknown prompt version or template."""


@functools.cache
def template(version: str, name: str) -> str:
    path = PROMPTS / version / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.name for p in PROMPTS.iterdir() if p.is_dir())
        raise PromptError(f"{path}: no such prompt (prompt versions: {', '.join(known)})")
    return path.read_text(encoding="utf-8").strip()


SLOT = re.compile(r"\{(document|title|entity_\d+)\}")


def render(version: str, name: str, document: str, entities: tuple[str, ...] = (), title: str = "") -> str:
    """The template with its slots filled in one pass (not str.format: documents are full of braces,
    and a slot's value is never searched for further slots)."""
    slots = {"document": document, "title": title or "the document",
             **{f"entity_{i}": e for i, e in enumerate(entities, 1)}}
    return SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), template(version, name))

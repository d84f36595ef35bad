"""Prompt templates: text files with `{document}`, `{title}` and `{entity_N}` slots, filled in one pass
(not str.format: documents are full of braces, and a slot's value is never searched for further slots).
A stage keeps its templates in a folder of its own (generation's versions, the summary judge's)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from entigraph_jax.errors import UserError

SLOT = re.compile(r"\{(document|title|entity_\d+)\}")


class PromptError(UserError):
    """An unknown prompt version or template."""


@functools.cache
def read_template(folder: Path, name: str) -> str:
    path = folder / f"{name}.txt"
    if not path.is_file():
        raise PromptError(f"{path}: no such prompt")
    return path.read_text(encoding="utf-8").strip()


def fill(template: str, document: str, entities: tuple[str, ...] = (), title: str = "") -> str:
    """`template` with its slots filled: `{document}`, `{title}` ("the document" where there is none) and
    `{entity_1}`, ... from `entities`; a slot without a value stays as it is."""
    slots = {"document": document, "title": title or "the document",
             **{f"entity_{i}": e for i, e in enumerate(entities, 1)}}
    return SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), template)

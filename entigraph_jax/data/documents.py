"""What every source becomes: documents (with QuALITY's questions where a source has them)."""

from __future__ import annotations

import dataclasses

from entigraph_jax.errors import UserError


class SourceError(UserError):
    """A source that cannot be loaded: missing, empty or malformed."""


@dataclasses.dataclass(frozen=True)
class Question:
    """A multiple-choice question about a document (QuALITY's, or one generated from a user's document)."""

    question: str
    options: tuple[str, str, str, str]
    gold_label: int  # 1-based, as in the QuALITY release
    difficult: bool | None = None  # QuALITY's hard subset (None: the source does not say)
    guessable: bool | None = None  # the generator answered it right without its document (None: not asked)


@dataclasses.dataclass
class Document:
    doc_id: str
    text: str  # what generation and training read (for QuALITY: the header line, then the body)
    title: str = ""
    author: str = ""
    year: int | str | None = None
    date: str = ""  # as the file records it (a PDF's or Word file's creation date, an HTML page's meta date)
    questions: list[Question] = dataclasses.field(default_factory=list)
    messages: list[dict] | None = None  # a chat record: trained with loss on assistant turns only
    prompt: str | None = None  # read before `text` with no loss on it (an SBP pair's first document)

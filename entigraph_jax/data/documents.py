"""What every source becomes: documents, each a header (title, author, year, date, the file it came from) and
a body, with its multiple-choice questions where the source has them (QuALITY's, or a user's generated ones).
QuALITY's line format is one way to import and export them (`sources.load_quality`,
`generate.questions.quality_line`), not their model."""

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


def author_first_last(author: str) -> str:
    """QuALITY writes "Last, First"; headers and prompts write "First Last" (as the paper's `format_name`)."""
    last, sep, first = author.partition(",")
    return f"{first.strip()} {last.strip()}" if sep and "," not in first else author.strip()


def known(year) -> bool:
    return year not in (None, "")


@dataclasses.dataclass
class Document:
    doc_id: str
    body: str  # the document's own text
    title: str = ""
    author: str = ""
    year: int | str | None = None
    date: str = ""  # as the file records it (a PDF's or Word file's creation date, an HTML page's meta date)
    file: str = ""  # the file it was read from ("" for a row of a dataset)
    headed: bool = False  # its text begins with its header line (QuALITY's articles, as the paper reads them)
    questions: list[Question] = dataclasses.field(default_factory=list)
    messages: list[dict] | None = None  # a chat record: trained with loss on assistant turns only
    prompt: str | None = None  # read before `text` with no loss on it (an SBP pair's first document)

    @property
    def header(self) -> str:
        """The header as one line, `"Title", First Last, Year.` (a part the document lacks left out)."""
        parts = [f'"{self.title}"', *([author_first_last(self.author)] if self.author else []),
                 *([str(self.year)] if known(self.year) else [])]
        return ", ".join(parts) + "."

    @property
    def text(self) -> str:
        """What generation and training read: the header line, then the body, for a headed document; else the
        body."""
        return f"{self.header}\n{self.body}" if self.headed else self.body

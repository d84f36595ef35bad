"""Documents from the files people have: folders of plain text, Markdown, HTML pages, PDF and Word
(.docx) files, in any mix and any depth.

Each document keeps its file name (its id is its path in the folder), a title (the file's own, else its
file name) and, where the file records them, its author and date (and the year of that date). A file
whose text cannot be extracted (damaged, encrypted, a scanned PDF without a text layer, not UTF-8) is
named on stderr with the reason and skipped. PDF and Word need the `documents` extra (pypdf,
python-docx), imported only when a folder holds such files.
"""

from __future__ import annotations

import contextlib
import datetime
import html.parser
import logging
import re
import sys
from pathlib import Path

from .documents import Document, SourceError

TEXT, HTML, PDF, WORD = (".txt", ".md"), (".html", ".htm"), (".pdf",), (".docx",)
EXTRA = "pip install 'entigraph-jax[documents]'"
AUTHOR_META = ("author", "dc.creator", "dcterms.creator", "citation_author", "article:author")
DATE_META = ("date", "dc.date", "dcterms.date", "dcterms.created", "dcterms.issued", "article:published_time",
             "citation_publication_date", "citation_date", "pubdate")
YEAR = re.compile(r"\b(1[5-9]\d\d|2[01]\d\d)\b")


class Unreadable(Exception):
    """Why a file's text cannot be extracted; the file is skipped."""


class _Page(html.parser.HTMLParser):
    """An HTML page's text, one paragraph per block element, whitespace collapsed; its `<title>` and its
    `<meta>` name/property -> content pairs."""

    BLOCKS = {"p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote",
              "tr", "table", "hr", "title", "section", "article"}
    SKIP = {"script", "style", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self._current, self._skipping = [], [], 0
        self.title, self.meta, self._in_title = "", {}, False

    def handle_starttag(self, tag, attrs):
        self._skipping += tag in self.SKIP
        self._in_title = self._in_title or tag == "title"
        if tag == "meta":
            fields = dict(attrs)
            name = (fields.get("name") or fields.get("property") or "").lower()
            if name and fields.get("content") and name not in self.meta:
                self.meta[name] = fields["content"].strip()
        if tag in self.BLOCKS:
            self._break()

    def handle_endtag(self, tag):
        self._skipping -= tag in self.SKIP and self._skipping > 0
        self._in_title = self._in_title and tag != "title"
        if tag in self.BLOCKS:
            self._break()

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if not self._skipping:
            self._current.append(data)

    def _break(self):
        text = re.sub(r"\s+", " ", "".join(self._current)).strip()
        if text:
            self.paragraphs.append(text)
        self._current = []


def _parse_html(markup: str) -> _Page:
    page = _Page()
    page.feed(markup)
    page.close()
    page._break()
    return page


MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|<!--|<!DOCTYPE", re.I)  # a tag, a comment, a doctype


def html_to_text(markup: str) -> str:
    return "\n\n".join(_parse_html(markup).paragraphs)


def is_markup(text: str) -> bool:
    """Whether `text` holds HTML markup (a tag, a comment), not just a "<" ("x < y" is text)."""
    return MARKUP.search(text) is not None


def _date(value) -> str:
    """An ISO date (or whatever date text a file holds) as a string; "" for none."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.date().isoformat() if isinstance(value, datetime.datetime) else value.isoformat()
    return str(value or "").strip()


def _document(doc_id: str, path: Path, text: str, title="", author="", date="") -> Document:
    year = YEAR.search(date)
    return Document(doc_id=doc_id, body=text, file=str(path), title=" ".join((title or "").split()) or path.stem,
                    author=" ".join((author or "").split()), year=int(year.group(1)) if year else None,
                    date=date)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise Unreadable(f"not UTF-8 ({e.reason} at byte {e.start})") from e


def read_html(path: Path, doc_id: str) -> Document:
    page = _parse_html(_read_text(path))
    meta = page.meta
    author = next((meta[k] for k in AUTHOR_META if k in meta), "")
    return _document(doc_id, path, "\n\n".join(page.paragraphs), page.title, author,
                     next((meta[k] for k in DATE_META if k in meta), ""))


@contextlib.contextmanager
def _quiet(logger: str):
    """`logger`'s warnings held back: a file it cannot read is named once, with our reason, not twice."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def read_pdf(path: Path, doc_id: str) -> Document:
    with _quiet("pypdf"):
        return _read_pdf(path, doc_id)


def _read_pdf(path: Path, doc_id: str) -> Document:
    import pypdf

    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted")
        text = "\n\n".join(t.strip() for page in reader.pages if (t := page.extract_text() or "").strip())
        info = reader.metadata or {}
        title, author = getattr(info, "title", None) or "", getattr(info, "author", None) or ""
        try:
            created = getattr(info, "creation_date", None)
        except ValueError:  # a date the file spells in no format pypdf knows
            created = None
    except Unreadable:
        raise
    except Exception as e:  # pypdf raises many types for damaged files
        raise Unreadable(f"not a readable PDF ({type(e).__name__}: {e})") from e
    return _document(doc_id, path, text, title, author, _date(created))


def read_word(path: Path, doc_id: str) -> Document:
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as e:  # python-docx raises many types for files that are not Word documents
        raise Unreadable(f"not a readable Word document ({type(e).__name__}: {e})") from e
    blocks = [p.text for p in document.paragraphs]
    blocks += [" | ".join(cell.text for cell in row.cells) for table in document.tables for row in table.rows]
    props = document.core_properties
    return _document(doc_id, path, "\n\n".join(b.strip() for b in blocks if b.strip()), props.title,
                     props.author, _date(props.created))


def read_file(path: Path, doc_id: str) -> Document:
    """One file's document; `Unreadable` if its text cannot be extracted."""
    suffix = path.suffix.lower()
    if suffix in HTML:
        return read_html(path, doc_id)
    if suffix in PDF:
        return read_pdf(path, doc_id)
    if suffix in WORD:
        return read_word(path, doc_id)
    return _document(doc_id, path, _read_text(path), path.stem)


def _check_extra(folder: Path, files: list[Path]) -> None:
    """A folder with PDF or Word files needs the libraries that read them: one line if they are missing."""
    import importlib.util

    for suffixes, module, what in ((PDF, "pypdf", "PDF"), (WORD, "docx", "Word")):
        count = sum(f.suffix.lower() in suffixes for f in files)
        if count and importlib.util.find_spec(module) is None:
            raise SourceError(f"{folder}: {count} {what} file(s) need the documents extra: {EXTRA}")


def load_folder(folder: Path) -> list[Document]:
    """Every text, Markdown, HTML, PDF and Word file under `folder`, in path order; the files whose text
    cannot be extracted named on stderr and skipped."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT + HTML + PDF + WORD)
    _check_extra(folder, files)
    docs, skipped = [], []
    for file in files:
        name = str(file.relative_to(folder))
        try:
            doc = read_file(file, name)
        except Unreadable as e:
            skipped.append((name, str(e)))
            continue
        if not doc.text.strip() and file.suffix.lower() in PDF:
            skipped.append((name, "no text layer (a scanned PDF needs OCR first)"))
            continue
        docs.append(doc)
    for name, reason in skipped:
        print(f"{folder / name}: skipped, {reason}", file=sys.stderr)
    return docs

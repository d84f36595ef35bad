"""Source corpora: QuALITY release files, JSONL, parquet, folders of documents (text, Markdown, HTML, PDF,
Word: `files`), ArrayRecord records, Hugging Face datasets (`hf:`), TFDS.

`load_source(spec)` is the one entry point (`stream_source(spec)` gives the same documents one at a time); a
spec is `kind:location` or a bare path whose kind is recognised from its content, parsed once into a
`spec.SourceSpec`. Every loader returns `Document`s; QuALITY
documents also carry their
questions, so evaluation reads the same corpus that generation and training do.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .chat import ChatError, check_messages, render_plain
from .documents import Document, Question, SourceError, author_first_last, known
from .files import HTML, PDF, WORD, Unreadable, html_to_text, is_markup, load_folder, read_file
from .records import RecordError, read_records, train_text
from .spec import SourceSpec


def _json_lines(path: Path):
    """(line number, object) of every non-blank line, read a line at a time."""
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except json.JSONDecodeError as e:
                        raise SourceError(f"{path}, line {number}: invalid JSON ({e})") from e
    except FileNotFoundError as e:
        raise SourceError(f"{path}: no such file") from e
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: invalid UTF-8 ({e})") from e


def article_context(title: str, author: str, year) -> str:
    """How a question names its article (the paper's `In the context of "Title", written by First Last
    in Year,`), a part the document lacks left out."""
    by = f" by {author_first_last(author)}" if author else ""
    when = f" in {year}" if known(year) else ""
    return f'In the context of "{title}"' + (f", written{by}{when}" if by or when else "") + ","


def load_quality(paths: list[Path]) -> list[Document]:
    """QuALITY release files (raw HTML or `htmlstripped`), one line per (article, question writer),
    merged by (title, author) as the paper did; every writer's questions are kept."""
    articles: dict[tuple[str, str], Document] = {}
    for path in paths:
        for number, line in _json_lines(path):
            try:
                title, author, body = line["title"], line["author"], line["article"]
                questions = [
                    Question(q["question"], tuple(q["options"]), int(q["gold_label"]),
                             bool(q["difficult"]) if q.get("difficult") is not None else None,
                             bool(q["guessable"]) if q.get("guessable") is not None else None)
                    for q in line.get("questions", [])
                ]
            except (KeyError, TypeError, ValueError) as e:
                raise SourceError(f"{path}, line {number}: not a QuALITY line ({e!r})") from e
            if any(len(q.options) != 4 or not 1 <= q.gold_label <= 4 for q in questions):
                raise SourceError(f"{path}, line {number}: a question without 4 options and a gold label 1-4")
            key = (title, author)
            if key not in articles:
                body = html_to_text(body) if is_markup(body) else body.strip()
                year = line.get("year")
                articles[key] = Document(doc_id=str(line.get("article_id") or _stable_id(title, author)), body=body,
                                         title=title, author=author, year=year, file=str(path), headed=True)
            articles[key].questions.extend(questions)
    return list(articles.values())


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _row_document(row, where: str, default_id: str) -> Document:
    """`{"id"?, "text", "title"?}`, or a chat `{"id"? | "prompt_id"?, "messages": [{"role", "content"}]}`
    (UltraChat's layout)."""
    if not isinstance(row, dict):
        raise SourceError(f"{where}: not a JSON object")
    doc_id = str(row.get("id", row.get("prompt_id", default_id)))
    if "messages" in row:
        try:
            check_messages(row["messages"])
        except ChatError as e:
            raise SourceError(f"{where}: {e}") from e
        return Document(doc_id=doc_id, body=render_plain(row["messages"]), messages=row["messages"])
    if not isinstance(row.get("text"), str):
        raise SourceError(f"{where}: no string field 'text'")
    return Document(doc_id=doc_id, body=row["text"], title=row.get("title", ""))


def load_jsonl(paths: list[Path]) -> list[Document]:
    """One document per line (`_row_document`)."""
    return [_row_document(line, f"{path}, line {number}", f"{path.stem}-{number}")
            for path in paths for number, line in _json_lines(path)]


def load_parquet(paths: list[Path]) -> list[Document]:
    """Parquet files with a `messages` or a `text` column, one document per row: the Hugging Face
    release of UltraChat 200k (`data/train_sft-*.parquet`) reads as chat records as it is."""
    import pyarrow.parquet as pq

    docs = []
    for path in paths:
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for files that are not parquet
            raise SourceError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from e
        docs += [_row_document(row, f"{path}, row {i}", f"{path.stem}-{i}") for i, row in enumerate(rows)]
    return docs


def load_file(path: Path) -> list[Document]:
    """One HTML, PDF or Word file as a document (its id: the file name)."""
    try:
        return [read_file(path, path.name)]
    except Unreadable as e:
        raise SourceError(f"{path}: {e}") from e


def stream_records(location: str) -> Iterator[Document]:
    """ArrayRecord shards of JSON records (synthetic corpora, or raw ones written by us), a record at a
    time; each record's `train_text` (an entity record: its summary), records without one skipped."""
    try:
        for i, r in enumerate(read_records(location)):
            if text := train_text(r):
                yield Document(doc_id=str(r.get("doc_id", i)), body=text, title=r.get("title", ""),
                               prompt=r.get("prompt"))
    except RecordError as e:
        raise SourceError(str(e)) from e


def load_records(location: str) -> list[Document]:
    return list(stream_records(location))


def load_tfds(location: str) -> list[Document]:
    """`name[:split[:text_key]]`, e.g. `c4/en:train[:1%]`, read from prepared TFDS data."""
    try:
        import tensorflow_datasets as tfds  # heavy: imported only when a TFDS source is used
    except ImportError as e:
        raise SourceError(f"tfds:{location}: needs tensorflow-datasets (pip install 'entigraph-jax[tfds]'); "
                          "Hugging Face datasets need nothing more: hf:ORG/NAME") from e

    parts = location.split(":")
    name, split, text_key = parts[0], (parts[1:2] or ["train"])[0], (parts[2:3] or ["text"])[0]
    try:
        source = tfds.data_source(name, split=split)
    except Exception as e:  # TFDS raises many types for unknown names and unprepared data
        raise SourceError(f"tfds:{location}: cannot open ({e})") from e
    docs = []
    for i in range(len(source)):
        example = source[i]
        if text_key not in example:
            raise SourceError(f"tfds:{location}: example {i} has no field {text_key!r} "
                              f"(fields: {sorted(example)})")
        text = example[text_key]
        docs.append(Document(doc_id=f"{name}:{split}:{i}", body=text.decode() if isinstance(text, bytes) else text))
    return docs


def _sniff(path: Path) -> str:
    """The kind of a bare path, from what it holds."""
    if path.is_dir():
        return "records" if any(path.glob("*.array_record")) else "folder"
    if path.suffix == ".array_record":
        return "records"
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix.lower() in HTML + PDF + WORD:
        return "file"
    for _, line in _json_lines(path):
        return "quality" if isinstance(line, dict) and "article" in line and "questions" in line else "jsonl"
    raise SourceError(f"{path}: empty file")


LOADERS = {"quality": load_quality, "jsonl": load_jsonl, "parquet": load_parquet,
           "folder": lambda paths: load_folder(paths[0]), "file": lambda paths: load_file(paths[0]),
           "records": lambda paths: load_records(str(paths[0]))}


def load_source(spec: str | os.PathLike | SourceSpec) -> list[Document]:
    """Documents from `quality:PATH[,PATH...]`, `jsonl:PATH[,PATH...]`, `parquet:PATH[,PATH...]`,
    `folder:FOLDER` (text, Markdown, HTML, PDF and Word files: `files.load_folder`; `text:` in earlier
    versions), `file:PATH` (one HTML, PDF or Word file), `records:PATH`, `tfds:NAME[:SPLIT[:TEXT_KEY]]`,
    `hf:ORG/NAME[:key=value,...]` (read whole here; training streams it, `data.hub`), `sample` (the bundled
    corpus) or a bare path."""
    parsed = spec if isinstance(spec, SourceSpec) else SourceSpec.parse(spec)
    if parsed.kind == "tfds":
        docs = load_tfds(parsed.location)
    elif parsed.kind == "hf":
        docs = list(parsed.hub.stream())
    else:
        for path in parsed.paths:
            if not path.exists():
                raise SourceError(f"{path}: no such file or folder")
        docs = LOADERS[parsed.kind or _sniff(parsed.paths[0])](parsed.paths)
    empty = [d.doc_id for d in docs if not d.text.strip()]
    if empty:
        print(f"{spec}: {len(empty)} document(s) without text left out (ids {', '.join(map(repr, empty[:5]))}"
              f"{', ...' if len(empty) > 5 else ''})", file=sys.stderr)
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise SourceError(f"{spec}: the corpus is empty")
    return docs


def stream_source(spec: str | os.PathLike | SourceSpec) -> Iterator[Document]:
    """The documents of `spec` one at a time, never the whole corpus at once where the source is a stream
    (`records:`, `jsonl:`, `hf:`); the kinds that are one file or folder are read whole by `load_source`.
    Documents without text are left out, as `load_source` leaves them out."""
    parsed = spec if isinstance(spec, SourceSpec) else SourceSpec.parse(spec)
    if parsed.records:
        docs = stream_records(str(parsed.records))
    elif parsed.hub:
        docs = parsed.hub.stream()
    elif parsed.kind == "jsonl":
        docs = (_row_document(line, f"{path}, line {number}", f"{path.stem}-{number}")
                for path in parsed.paths for number, line in _json_lines(path))
    else:
        docs = iter(load_source(parsed))
    return (d for d in docs if d.text.strip())


def unique_documents(docs: list[Document], spec: str) -> list[Document]:
    """`docs`, for the stages that find a document by its id (generate, evaluate); a `SourceError`
    naming the id if two documents share one."""
    first: dict[str, int] = {}
    for number, doc in enumerate(docs, 1):
        if doc.doc_id in first:
            raise SourceError(f"{spec}: documents {first[doc.doc_id]} and {number} share the id {doc.doc_id!r}; "
                              "each document needs its own id")
        first[doc.doc_id] = number
    return docs

"""Folders of the files people have (text, Markdown, HTML, PDF, Word) as a source: text, title, author and
date kept; files whose text cannot be extracted named and skipped. The PDF files are written byte by byte
here; pypdf (the documents extra) reads them, python-docx writes and reads the Word file."""

import datetime
import importlib.util
import logging

import pytest

from entigraph_jax.data import SourceError, load_source

pypdf = pytest.importorskip("pypdf", reason="the documents extra (pypdf, python-docx) is not installed")
docx = pytest.importorskip("docx", reason="the documents extra (pypdf, python-docx) is not installed")


def minimal_pdf(pages: list[str], info: dict | None = None) -> bytes:
    """A PDF of `pages` (Helvetica text, one line per text line; "" for a page without a text layer) and
    an /Info dictionary, with a correct cross-reference table."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        shown = "".join(f"({line}) Tj 0 -16 Td " for line in text.split("\n")) if text else ""
        stream = f"BT /F1 12 Tf 72 720 Td {shown}ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
                       f">> /Contents {len(objects)} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    if info:
        objects.append("<< " + " ".join(f"/{key} ({value})" for key, value in info.items()) + " >>")
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    table = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode() + "".join(
        f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    info_ref = f" /Info {len(objects)} 0 R" if info else ""
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{table}\n%%EOF\n".encode()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "wiki"
    (root / "notes").mkdir(parents=True)
    (root / "a.txt").write_text("The ferry leaves at dawn.")
    (root / "notes" / "b.md").write_text("# Harbour\n\nNets are mended on Sundays.")
    (root / "page.html").write_text(
        "<html><head><title>Lantern  Guild</title><meta name='author' content='Mara Quill'>"
        "<meta property='article:published_time' content='2021-06-01T08:00:00Z'><style>p {}</style></head>"
        "<body><h1>The guild</h1><p>It meets on Thursdays.</p><script>var x = 1;</script></body></html>")
    (root / "report.pdf").write_bytes(minimal_pdf(
        ["The crossing takes an hour.\nIt has run since 1990.", "Page two: the captain is Wren Hollis."],
        {"Title": "The Ferry Report", "Author": "Wren Hollis", "CreationDate": "D:20190312101500Z"}))
    memo = docx.Document()
    memo.core_properties.title, memo.core_properties.author = "Budget memo", "Ida Venn"
    memo.core_properties.created = datetime.datetime(2017, 5, 2, 9, 30)
    memo.add_paragraph("The mill needs a new wheel.")
    table = memo.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "wheel", "400 crowns"
    memo.save(root / "memo.docx")
    (root / "untitled.pdf").write_bytes(minimal_pdf(["No metadata here."]))
    # What cannot be read: damaged, scanned (no text layer), encrypted, not UTF-8, a Word file that is not one.
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a PDF at all")
    (root / "scanned.pdf").write_bytes(minimal_pdf([""]))
    writer = pypdf.PdfWriter(clone_from=root / "report.pdf")
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(root / "locked.pdf")
    (root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "fake.docx").write_bytes(b"not a zip file")
    (root / "image.png").write_bytes(b"\x89PNG")  # not a document: not read at all
    return root


def test_every_format_keeps_its_text_title_author_and_date(folder, capsys, caplog):
    (folder / "cut.pdf").write_bytes(minimal_pdf(["Cut short."])[:-40])  # pypdf would warn: EOF marker not found
    with caplog.at_level(logging.WARNING):
        docs = {d.doc_id: d for d in load_source(f"text:{folder}")}
    assert caplog.records == []  # each skipped file is our one line, not the reader's warnings too
    assert sorted(docs) == ["a.txt", "memo.docx", "notes/b.md", "page.html", "report.pdf", "untitled.pdf"]
    assert (docs["a.txt"].text, docs["a.txt"].title, docs["a.txt"].author) == ("The ferry leaves at dawn.", "a", "")
    page = docs["page.html"]
    assert (page.text, page.title, page.author, page.date, page.year) == (
        "The guild\n\nIt meets on Thursdays.", "Lantern Guild", "Mara Quill", "2021-06-01T08:00:00Z", 2021)
    report = docs["report.pdf"]
    assert "The crossing takes an hour." in report.text and "the captain is Wren Hollis." in report.text
    assert (report.title, report.author, report.date, report.year) == (
        "The Ferry Report", "Wren Hollis", "2019-03-12", 2019)
    memo = docs["memo.docx"]
    assert memo.text == "The mill needs a new wheel.\n\nwheel | 400 crowns"
    assert (memo.title, memo.author, memo.year) == ("Budget memo", "Ida Venn", 2017)
    untitled = docs["untitled.pdf"]
    assert (untitled.title, untitled.author, untitled.year) == ("untitled", "", None)
    err = capsys.readouterr().err
    for name, reason in (("broken.pdf", "not a readable PDF"), ("scanned.pdf", "no text layer"),
                         ("locked.pdf", "encrypted"), ("latin1.txt", "not UTF-8"),
                         ("fake.docx", "not a readable Word document"), ("cut.pdf", "not a readable PDF")):
        assert f"{folder / name}: skipped, {reason}" in err
    assert len(err.strip().splitlines()) == 6


def test_one_file_is_a_source_and_a_damaged_one_is_one_error(folder):
    (doc,) = load_source(folder / "report.pdf")
    assert doc.doc_id == "report.pdf" and doc.title == "The Ferry Report"
    with pytest.raises(SourceError, match=r"broken.pdf: not a readable PDF"):
        load_source(folder / "broken.pdf")


def test_without_the_extra_a_folder_of_pdfs_is_one_line(folder, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pypdf" else real(name, *a))
    with pytest.raises(SourceError, match=r"wiki: 5 PDF file\(s\) need the documents extra: pip install "
                                          r"'entigraph-jax\[documents\]'"):
        load_source(f"text:{folder}")

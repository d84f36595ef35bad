"""Source loaders: QuALITY release files, JSONL, text folders, records, TFDS, the sample corpus."""

import json
from pathlib import Path

import pytest

from entigraph_jax.config import ConfigError
from entigraph_jax.data import RecordWriter, SourceError, SourceSpec, load_source
from entigraph_jax.runs import CorpusRun
from entigraph_jax.train.settings import TrainSettings

ARTICLE = """<html><head><title>Ignored head title</title><style>p {color: red}</style></head>
<body><h1>The Orchard</h1><p>It was   a cold
morning in <i>Teslin</i> &amp; the trees were bare.</p><p>Nobody came.<br>Then somebody did.</p>
</body></html>"""


def quality_line(writer, questions, article=ARTICLE):
    return {"article_id": "20001", "set_unique_id": f"20001_{writer}", "writer_id": writer,
            "source": "Gutenberg", "title": "The Orchard", "author": "Marchbank, Ottilie", "year": 1955,
            "topic": "Fiction", "article": article,
            "questions": [{"question": q, "options": ["a", "b", "c", "d"], "gold_label": gold,
                           "difficult": hard} for q, gold, hard in questions]}


def write_jsonl(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_quality_release_lines_merge_by_title_and_author(tmp_path):
    other = dict(quality_line("w9", [("Other?", 2, 0)]), title="Another Story", article_id="20002")
    path = write_jsonl(tmp_path / "QuALITY.v1.0.1.train", [
        quality_line("w1", [("Why cold?", 1, 0), ("Who came?", 4, 1)]),
        other,
        quality_line("w2", [("Where?", 3, 1)]),
    ])
    docs = load_source(f"quality:{path}")
    assert [d.title for d in docs] == ["The Orchard", "Another Story"]
    orchard = docs[0]
    assert orchard.doc_id == "20001" and orchard.author == "Marchbank, Ottilie" and orchard.year == 1955
    assert [(q.question, q.gold_label, q.difficult) for q in orchard.questions] == [
        ("Why cold?", 1, False), ("Who came?", 4, True), ("Where?", 3, True)]
    assert orchard.questions[0].options == ("a", "b", "c", "d")
    assert orchard.text == ('"The Orchard", Ottilie Marchbank, 1955.\nThe Orchard\n\n'
                            "It was a cold morning in Teslin & the trees were bare.\n\n"
                            "Nobody came.\n\nThen somebody did.")


def test_a_document_is_a_header_and_a_body_and_quality_lines_only_carry_them(tmp_path):
    """QuALITY's line format is an import and export format: the body is the article, the header its own
    fields; only what generation and training read (`text`) puts the header line first, as the paper does."""
    import collections

    from entigraph_jax.generate.questions import quality_line as written_line

    path = write_jsonl(tmp_path / "q.jsonl", [quality_line("w1", [("Why cold?", 1, 0)])])
    orchard = load_source(f"quality:{path}")[0]
    assert orchard.header == '"The Orchard", Ottilie Marchbank, 1955.' and orchard.file == str(path)
    assert orchard.body.startswith("The Orchard\n\nIt was a cold")
    assert orchard.text == f"{orchard.header}\n{orchard.body}"
    question = {"question": "Why cold?", "options": ["a", "b", "c", "d"], "answer": "A", "quote": "cold",
                "guessable": True, "closed_book_right": 2}
    again = write_jsonl(tmp_path / "again.jsonl", [written_line(orchard, [question], collections.Counter(), "x")])
    [back] = load_source(f"quality:{again}")
    assert (back.body, back.header, back.text) == (orchard.body, orchard.header, orchard.text)
    assert back.questions[0].guessable is True and back.questions[0].difficult is None  # not QuALITY's flag
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "a.md").write_text("alpha")
    [page] = load_source(f"text:{tmp_path / 'wiki'}")
    assert (page.title, page.body, page.text, page.file) == ("a", "alpha", "alpha", str(tmp_path / "wiki" / "a.md"))


def test_quality_htmlstripped_files_and_several_paths(tmp_path):
    stripped = "It was a cold morning.\n\nNobody came."
    train = write_jsonl(tmp_path / "train", [quality_line("w1", [("Q1", 1, 0)], article=stripped)])
    dev = write_jsonl(tmp_path / "dev", [dict(quality_line("w1", [("Q2", 2, 0)], article=stripped),
                                              title="Dev Story")])
    docs = load_source(f"quality:{train},{dev}")
    assert [d.title for d in docs] == ["The Orchard", "Dev Story"]
    assert docs[0].text.endswith("\nIt was a cold morning.\n\nNobody came.")
    assert load_source(str(train))[0].questions[0].question == "Q1"  # recognised without a prefix
    maths = "If x < y and y > 3, then\n\nthe <= sign holds: a<b."  # a "<" is not markup
    path = write_jsonl(tmp_path / "maths", [quality_line("w1", [("Q", 1, 0)], article=maths)])
    assert load_source(f"quality:{path}")[0].body == maths
    raw = write_jsonl(tmp_path / "raw", [quality_line("w1", [("Q", 1, 0)], article="<p>x &lt; y</p><p>z</p>")])
    assert load_source(f"quality:{raw}")[0].body == "x < y\n\nz"


def test_quality_bad_lines_name_file_and_line(tmp_path):
    bad = quality_line("w1", [("Q", 7, 0)])
    path = write_jsonl(tmp_path / "q.jsonl", [quality_line("w1", [("Q", 1, 0)]), bad])
    with pytest.raises(SourceError, match=r"q.jsonl, line 2: a question without 4 options"):
        load_source(f"quality:{path}")
    path.write_text('{"title": "x"}\n')
    with pytest.raises(SourceError, match=r"q.jsonl, line 1: not a QuALITY line"):
        load_source(f"quality:{path}")


def test_sample_corpus_is_quality_shaped():
    docs = load_source("sample")
    assert len(docs) == 10 and len({d.title for d in docs}) == 10
    for doc in docs:
        first, last = doc.author.split(", ")[::-1]  # the release writes "Last, First"; the header "First Last"
        assert len(doc.questions) >= 3 and doc.text.startswith(f'"{doc.title}", {first} {last}, {doc.year}.\n')
        assert "<" not in doc.text and all(len(q.options) == 4 for q in doc.questions)
    assert any(q.difficult for d in docs for q in d.questions)


def test_jsonl_text_folder_and_records(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "x", "text": "one", "title": "T"}, {"text": "two"}])
    assert [(d.doc_id, d.text, d.title) for d in load_source(path)] == [("x", "one", "T"), ("c-2", "two", "")]
    (tmp_path / "wiki" / "sub").mkdir(parents=True)
    (tmp_path / "wiki" / "a.md").write_text("# A\nalpha")
    (tmp_path / "wiki" / "sub" / "b.txt").write_text("beta")
    (tmp_path / "wiki" / "skip.bin").write_bytes(b"\x00")
    assert [(d.doc_id, d.text) for d in load_source(f"folder:{tmp_path / 'wiki'}")] == [
        ("a.md", "# A\nalpha"), ("sub/b.txt", "beta")]
    assert load_source(f"text:{tmp_path / 'wiki'}") == load_source(tmp_path / "wiki")  # the kind's earlier name
    with RecordWriter(tmp_path / "recs") as writer:
        writer.write({"text": "synthetic", "doc_id": "s1", "kind": "pair"})
    assert [(d.doc_id, d.text) for d in load_source(tmp_path / "recs")] == [("s1", "synthetic")]


def test_a_spec_is_parsed_once_into_its_parts(tmp_path):
    assert SourceSpec.parse("quality:a,b").paths == [Path("a"), Path("b")]
    assert (SourceSpec.parse("text:wiki").kind, SourceSpec.parse("wiki").kind) == ("folder", "")
    hub = SourceSpec.parse("hf:org/name:split=test,max_documents=5")
    assert (hub.hub.repo, hub.paths, str(hub)) == ("org/name", [], "hf:org/name:split=test,max_documents=5")
    assert SourceSpec.parse("gs://bucket/x").kind == ""  # a URL is a path, not a kind
    with pytest.raises(SourceError, match=r"^txt:wiki: unknown source kind 'txt' \(expected one of quality, "):
        SourceSpec.parse("txt:wiki")
    with pytest.raises(ConfigError, match=r"^config: data.source='txt:wiki': txt:wiki: unknown source kind"):
        TrainSettings().override({"data.source": "txt:wiki"})  # refused where the settings are read, before work
    corpus = CorpusRun(tmp_path / "corpus")  # the generate run whose records a spec names
    with RecordWriter(corpus.records) as writer:
        writer.write({"text": "t"})
    assert SourceSpec.parse(corpus.source).corpus() is None  # no summary yet: not a finished generate run
    corpus.write_summary({"status": "complete"})
    assert SourceSpec.parse(corpus.source).corpus() == corpus
    assert SourceSpec.parse(f"records:{tmp_path / 'elsewhere'}").corpus() is None


def test_tfds_by_name():
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets (the tfds extra)")
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        docs = load_source("tfds:imdb_reviews:train")
    assert len(docs) == 4 and all(isinstance(d.text, str) and d.text for d in docs)
    assert docs[0].doc_id == "imdb_reviews:train:0"


def test_bad_sources(tmp_path):
    with pytest.raises(SourceError, match=r"nowhere.jsonl: no such file or folder"):
        load_source(tmp_path / "nowhere.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SourceError, match=r"empty.jsonl: empty file"):
        load_source(tmp_path / "empty.jsonl")
    write_jsonl(tmp_path / "blank.jsonl", [{"text": "   "}])
    with pytest.raises(SourceError, match=r"blank.jsonl: the corpus is empty"):
        load_source(tmp_path / "blank.jsonl")
    (tmp_path / "notext.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(SourceError, match=r"notext.jsonl, line 1: no string field 'text'"):
        load_source(tmp_path / "notext.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(SourceError, match=r"latin1.jsonl: invalid UTF-8"):
        load_source(tmp_path / "latin1.jsonl")
    with pytest.raises(SourceError, match=r"unknown source kind 'csv'"):
        load_source(f"csv:{tmp_path / 'blank.jsonl'}")


def test_ultrachat_release_parquet_reads_as_chat_records(tmp_path):
    """The layout of HuggingFaceH4/ultrachat_200k's data/train_sft-*.parquet: prompt, prompt_id, messages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": "Where is Quarrowmere?", "prompt_id": "p1",
             "messages": [{"content": "Where is Quarrowmere?", "role": "user"},
                          {"content": "On the salt coast.", "role": "assistant"}]},
            {"prompt": "And Lantry?", "prompt_id": "p2",
             "messages": [{"content": "And Lantry?", "role": "user"},
                          {"content": "Up the river.", "role": "assistant"}]}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train_sft-00000-of-00001.parquet")
    docs = load_source(f"parquet:{tmp_path / 'train_sft-00000-of-00001.parquet'}")
    assert [d.doc_id for d in docs] == ["p1", "p2"] and [d.messages for d in docs] == [r["messages"] for r in rows]
    assert load_source(tmp_path / "train_sft-00000-of-00001.parquet")[1].messages == rows[1]["messages"]  # sniffed
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(SourceError, match="not a readable parquet file"):
        load_source(f"parquet:{tmp_path / 'bad.parquet'}")

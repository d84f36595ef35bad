"""ArrayRecord shards of JSON records, and `python -m entigraph_jax.data inspect`."""

import json
import subprocess
import sys

import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordWriter

from entigraph_jax.data import RecordError, RecordWriter, read_records, write_records
from entigraph_jax.data.run import inspect
from entigraph_jax.data.settings import InspectSettings


def records(n, kind="pair"):
    return [{"text": f"document {i} " * 20, "kind": kind, "doc_id": f"d{i}", "extra": [i]} for i in range(n)]


def test_write_read_round_trip_rolls_shards(tmp_path):
    with RecordWriter(tmp_path, shard_bytes=2000) as writer:
        for record in records(40):
            writer.write(record)
    shards = sorted(tmp_path.glob("*.array_record"))
    assert len(shards) > 3 and shards == writer.written
    assert list(read_records(tmp_path)) == records(40)


def test_a_second_writer_never_overwrites(tmp_path):
    with RecordWriter(tmp_path) as writer:
        writer.write({"text": "first run"})
    with RecordWriter(tmp_path) as writer:
        writer.write({"text": "second run"})
    assert [p.name for p in sorted(tmp_path.glob("*.array_record"))] == [
        "records-00000.array_record", "records-00001.array_record"]
    assert [r["text"] for r in read_records(tmp_path)] == ["first run", "second run"]


def test_a_crash_leaves_no_half_shard(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with RecordWriter(tmp_path, shard_bytes=2000) as writer:
            for i, record in enumerate(records(30)):
                writer.write(record)
                if i == 20:
                    raise KeyboardInterrupt
    finished = list(read_records(tmp_path))
    assert 0 < len(finished) < 21 and finished == records(30)[: len(finished)]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".array_record")] == []


def test_writer_rejects_a_record_without_text(tmp_path):
    with RecordWriter(tmp_path) as writer, pytest.raises(RecordError, match="no string field 'text'"):
        writer.write({"kind": "pair"})


def write_raw(path, payloads):
    writer = ArrayRecordWriter(str(path), "group_size:1")
    for payload in payloads:
        writer.write(payload)
    writer.close()


def test_bad_records_name_the_file_and_index(tmp_path):
    write_raw(tmp_path / "a.array_record", [b'{"text": "ok"}', b'{"kind": "pair"}'])
    with pytest.raises(RecordError, match=r"a.array_record, record 1: record has no string field 'text'"):
        list(read_records(tmp_path / "a.array_record"))
    write_raw(tmp_path / "b.array_record", [b'{"text": "ok"}', b'{"text": "caf\xe9"}'])
    with pytest.raises(RecordError, match=r"b.array_record, record 1: invalid UTF-8"):
        list(read_records(tmp_path / "b.array_record"))
    write_raw(tmp_path / "c.array_record", [b'{"text": '])
    with pytest.raises(RecordError, match=r"c.array_record, record 0: invalid JSON"):
        list(read_records(tmp_path / "c.array_record"))


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "corrupt.array_record").write_bytes(b"this is not an array record file" * 10)
    with pytest.raises(RecordError, match=r"corrupt.array_record: not a readable ArrayRecord"):
        list(read_records(tmp_path / "corrupt.array_record"))
    with pytest.raises(RecordError, match=r"missing: no such file or folder"):
        list(read_records(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match=r"empty: no .array_record files"):
        list(read_records(tmp_path / "empty"))


def test_inspect_counts_by_kind(tmp_path):
    with RecordWriter(tmp_path) as writer:
        for record in records(3, "pair") + records(2, "triple"):
            writer.write(record)
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.data", "inspect", str(tmp_path),
                           "--samples", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:5]}
    assert rows == {"pair": ["3", "120", "40.0", "0"], "triple": ["2", "80", "40.0", "0"], "total": ["5", "200"]}
    assert done.stdout.count("\n--- ") == 2


def test_inspect_measures_an_entigraph_corpus(tmp_path):
    """Two documents' entities (4 and 2 names), their pair and triple texts with one exact and one near
    duplicate and a truncated answer: every figure counted by hand."""
    story = "the ferry leaves the harbour at dawn and the crew sings while the gulls circle above the mast"
    other = "a wholly different account of bells cast with salt in a town of grey shingle and cold wind"
    rows = [
        {"kind": "entities", "doc_id": "d1", "entities": ["A", "B", "C", "D"], "summary": "four names", "text": "{}"},
        {"kind": "entities", "doc_id": "d2", "entities": ["E", "F"], "summary": "two names", "text": "{}"},
        {"kind": "pair", "doc_id": "d1", "entities": ["A", "B"], "text": story},
        {"kind": "pair", "doc_id": "d1", "entities": ["B", "A"], "text": story.upper(), "truncated": True},
        {"kind": "pair", "doc_id": "d1", "entities": ["A", "C"], "text": story + " today"},
        {"kind": "triple", "doc_id": "d1", "entities": ["A", "B", "D"], "text": other},
        {"kind": "pair", "doc_id": "d2", "entities": ["E", "F"], "text": "short words here"},
    ]
    write_records(rows, tmp_path / "records")
    output = tmp_path / "figures.json"
    result = inspect(InspectSettings(path=str(tmp_path / "records"), samples=0, output=str(output)))
    assert result.counts == {"entities": 2, "pair": 4, "triple": 1} and result.truncated["pair"] == 1
    # texts: two summaries, five answers; the upper-cased story is an exact copy, story + " today" a near one
    assert result.duplicates == {"exact": pytest.approx(1 / 7), "near": pytest.approx(2 / 7)}
    assert result.coverage == {"pair": {"possible": 6 + 1, "written": 3, "share": pytest.approx(3 / 7)},
                               "triple": {"possible": 4, "written": 1, "share": 0.25}}
    n = len(story.split())  # words written about each entity: A in 3 pairs (one longer) and the triple
    words = {"A": 2 * n + (n + 1) + 18, "B": 2 * n + 18, "C": n + 1, "D": 18, "E": 3, "F": 3}
    assert result.per_entity == {"entities": 6, "mean": pytest.approx(np.mean(list(words.values()))),
                                 "median": pytest.approx(np.median(list(words.values()))), "min": 3,
                                 "max": words["A"]}
    unigrams = "four names two names short words here today".split() + story.split() * 3 + other.split()
    assert result.distinct["1"] == pytest.approx(len(set(unigrams)) / len(unigrams))
    assert json.loads(output.read_text()) == json.loads(json.dumps(result.figures()))


def test_inspect_bad_input_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.data", "inspect", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert done.returncode == 1  # bad input (2 is for usage errors)
    assert done.stderr.strip() == f"data inspect: error: {tmp_path / 'x'}: no such file or folder"

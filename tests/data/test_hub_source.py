"""`hf:` sources: Hub datasets read from a cache laid out as huggingface_hub lays it out, streamed
into the token cache (equal to the cache of the same documents loaded whole), capped, resumable."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants as hub_constants

from entigraph_jax.config import load_config_file
from entigraph_jax.data import (
    RecordWriter,
    SourceError,
    build_source_cache,
    build_token_cache,
    load_source,
    load_tokenizer,
)
from entigraph_jax.data import hub as hub_module
from entigraph_jax.runs import TrainRun
from entigraph_jax.train.setup import build_data
from tests.helpers import ROOT
from tests.helpers.runs import quickstart
from tests.helpers.tokenizers import build_bpe_tokenizer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def texts(n, start=0):
    return [f"document {i}: " + " ".join(f"w{(i * 7 + k) % 50}" for k in range(5 + i % 40))
            for i in range(start, start + n)]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An offline Hub cache holding `org/parquet-set` (train in two parquet shards, a test shard, a
    `title` column beside `text`) and `org/jsonl-set` (RedPajama-sample-like `*_sample.jsonl`, no split)."""
    cache = tmp_path / "hub"
    for repo, files in {
        "org/parquet-set": {"data/train-00000-of-00002.parquet": texts(300), "data/train-00001-of-00002.parquet":
                            texts(150, 300), "data/test-00000-of-00001.parquet": texts(5, 1000)},
        "org/jsonl-set": {"arxiv_sample.jsonl": texts(20), "book_sample.jsonl": texts(10, 20)},
    }.items():
        root = cache / f"datasets--{repo.replace('/', '--')}"
        (root / "refs").mkdir(parents=True)
        (root / "refs" / "main").write_text(COMMIT)
        for name, rows in files.items():
            path = root / "snapshots" / COMMIT / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".parquet"):
                pq.write_table(pa.table({"title": [f"t{i}" for i in range(len(rows))], "text": rows}), path)
            else:
                path.write_text("".join(json.dumps({"text": t, "meta": {}}) + "\n" for t in rows))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def tokenizer(tmp_path):
    (tmp_path / "tok").mkdir()
    return load_tokenizer(build_bpe_tokenizer(tmp_path / "tok", ["<s>", "</s>"], 300))


def test_the_released_entigraph_corpus_is_split_at_its_separator(hub):
    """zitongyang/entigraph-quality-corpus as public code that trains on it reads it: a row per article, its
    synthetic texts joined in `entigraph` by a literal separator; each text is a document of its own."""
    root = hub / "datasets--zitongyang--entigraph-quality-corpus"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    path = root / "snapshots" / COMMIT / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    articles = {"52995": ["The summary of the tower.", "Rook and bell: the bell hangs in the tower.", ""],
                "20001": ["The orchard was cold.\n"]}
    pq.write_table(pa.table({
        "uid": list(articles), "raw": ["The Tower ...", "The Orchard ..."],
        "entity": ["Rook<|entityseptoekn|>bell", "orchard"],
        "entigraph": ["<|entigraphseptoekn|>".join(texts) for texts in articles.values()]}), path)
    spec = load_config_file(ROOT / "configs/cpt_llama3_8b_released_corpus.py").data.source
    docs = load_source(spec)
    assert [d.text for d in docs] == ["The summary of the tower.", "Rook and bell: the bell hangs in the tower.",
                                      "The orchard was cold."]  # the empty piece skipped, each piece stripped
    assert [d.doc_id for d in docs][-1] == "zitongyang/entigraph-quality-corpus/train-00000-of-00001.parquet:1.0"
    whole = load_source("hf:zitongyang/entigraph-quality-corpus:field=entigraph")
    assert len(whole) == 2 and "<|entigraphseptoekn|>" in whole[0].text  # what the recipe read before


def test_splits_fields_and_caps_read_as_the_hub_lays_them_out(hub):
    assert [d.text for d in load_source("hf:org/parquet-set")] == texts(450)
    assert [d.text for d in load_source("hf:org/parquet-set:split=test")] == texts(5, 1000)
    assert [d.text for d in load_source("hf:org/parquet-set:field=title,max_documents=3")] == ["t0", "t1", "t2"]
    assert [d.text for d in load_source("hf:org/jsonl-set")] == texts(30)  # no split named: all train
    ids = [d.doc_id for d in load_source("hf:org/jsonl-set:max_documents=21")]
    assert ids[0] == "org/jsonl-set/arxiv_sample.jsonl:0" and ids[-1] == "org/jsonl-set/book_sample.jsonl:0"


@pytest.mark.parametrize("spec, message", [
    ("hf:org/missing", "hf:org/missing: not in the Hugging Face cache ({hub}) and the Hub cannot be reached "
                       "(offline?)"),
    ("hf:org/parquet-set:split=validation", "hf:org/parquet-set: no parquet or jsonl files of split 'validation'"),
    ("hf:org/parquet-set:field=body", "train-00000-of-00002.parquet: no column 'body' (columns: title, text)"),
    ("hf:org/parquet-set:colour=red", "hf:org/parquet-set:colour=red: unknown option 'colour=red'"),
    ("hf:org/parquet-set:max_tokens=lots", "max_tokens must be a number, got 'lots'"),
    ("hf:just-a-name", "hf:just-a-name: expected hf:ORG/NAME[:key=value,...]"),
])
def test_bad_hub_sources_are_one_line(hub, spec, message):
    with pytest.raises(SourceError) as error:
        load_source(spec)
    assert message.format(hub=hub) in str(error.value)


def cache_contents(cache):
    return [np.concatenate(pair) for pair in cache.documents_with_masks(range(len(cache)))]


def test_the_streamed_cache_equals_the_cache_of_the_documents_loaded_whole(hub, tokenizer, tmp_path):
    streamed = build_source_cache("hf:org/parquet-set", tokenizer, tmp_path / "a")
    whole = build_token_cache(load_source("hf:org/parquet-set"), tokenizer, tmp_path / "b")
    np.testing.assert_array_equal(streamed.lengths, whole.lengths)
    for a, b in zip(cache_contents(streamed), cache_contents(whole), strict=True):
        np.testing.assert_array_equal(a, b)
    assert build_source_cache("hf:org/parquet-set", tokenizer, tmp_path / "a").folder == streamed.folder  # reused
    capped = build_source_cache(f"hf:org/parquet-set:max_tokens={whole.num_tokens // 3}", tokenizer, tmp_path / "a")
    cut = int(np.searchsorted(np.cumsum(whole.lengths), whole.num_tokens // 3)) + 1  # the first document at the cap
    np.testing.assert_array_equal(capped.lengths, whole.lengths[:cut])


def test_an_interrupted_build_resumes_at_the_first_unfinished_file(hub, tokenizer, tmp_path, monkeypatch, capsys):
    reference = build_source_cache("hf:org/parquet-set", tokenizer, tmp_path / "reference")
    rows = hub_module._rows

    def failing(path, field):
        if "train-00001" in path.name:
            yield from list(rows(path, field))[:10]
            raise OSError("the disk went away")
        yield from rows(path, field)

    monkeypatch.setattr(hub_module, "_rows", failing)
    with pytest.raises(OSError, match="the disk went away"):
        build_source_cache("hf:org/parquet-set", tokenizer, tmp_path / "cache")
    partial = next((tmp_path / "cache").glob("*.partial"))
    assert [p.name for p in partial.glob("lengths-*.npy")] == ["lengths-00000.npy"]
    monkeypatch.setattr(hub_module, "_rows", rows)
    resumed = build_source_cache("hf:org/parquet-set", tokenizer, tmp_path / "cache")
    assert "hf:org/parquet-set: resuming the token cache at file 2 of 2" in capsys.readouterr().err
    np.testing.assert_array_equal(resumed.lengths, reference.lengths)
    for a, b in zip(cache_contents(resumed), cache_contents(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not partial.exists()


def test_training_data_and_replay_stream_from_the_hub(hub, tmp_path):
    config = quickstart(**{"data.source": "hf:org/parquet-set", "data.replay_source": "hf:org/jsonl-set",
                           "data.replay_rate": 0.5, "workdir": str(tmp_path / "run")})
    data = build_data(config, TrainRun(tmp_path / "run"))
    tokenizer = data.tokenizer  # a vocabulary trained on the streamed texts
    expected = sum(len(tokenizer.bos()) + len(tokenizer.encode(t)) + 1 for t in texts(450))
    assert data.num_tokens == expected
    assert len(list((tmp_path / "run").rglob("tokens-hf-*/meta.json"))) == 2  # the corpus and the replay


def test_records_stream_into_the_cache_their_documents_loaded_whole_make(tokenizer, tmp_path):
    """A `records:` source (three shards; a pair record's prompt trains with no loss, a record without text is
    skipped) is tokenized a shard at a time into the cache the same documents loaded whole give."""
    folder = tmp_path / "records"
    rows = [{"text": t, "doc_id": f"d{i}"} for i, t in enumerate(texts(90))]
    rows[5] = {**rows[5], "prompt": "a prompt, no loss: "}
    rows[7] = {"kind": "entities", "text": "{}", "summary": ""}  # no train_text: left out
    for shard in range(3):
        with RecordWriter(folder, prefix=f"part{shard}") as writer:
            for row in rows[shard * 30 : (shard + 1) * 30]:
                writer.write(row)
    streamed = build_source_cache(f"records:{folder}", tokenizer, tmp_path / "a")
    whole = build_token_cache(load_source(f"records:{folder}"), tokenizer, tmp_path / "b")
    assert streamed.folder.name.startswith("tokens-records-") and len(streamed) == 89
    np.testing.assert_array_equal(streamed.lengths, whole.lengths)
    for a, b in zip(streamed.documents_with_masks(range(89)), whole.documents_with_masks(range(89)), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert build_source_cache(f"records:{folder}", tokenizer, tmp_path / "a").folder == streamed.folder  # reused

"""The token cache and the Grain pipeline: packing, subsampling, mixing, host slices, exact resume."""

import collections

import grain
import numpy as np
import orbax.checkpoint as ocp
import pytest

from entigraph_jax.data import (
    Document,
    PackedRows,
    PipelineError,
    build_pipeline,
    build_token_cache,
    load_source,
    load_tokenizer,
    subsample,
    train_sentencepiece,
)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    corpus = [d.text for d in load_source("sample")]
    return load_tokenizer(train_sentencepiece(corpus, tmp_path_factory.mktemp("spm") / "sp", 500))


@pytest.fixture(scope="module")
def cache(tokenizer, tmp_path_factory):
    # the sample corpus, each article repeated with a different suffix: 40 documents
    docs = [Document(f"{d.doc_id}-{i}", f"{d.text} (copy {i})") for d in load_source("sample") for i in range(4)]
    return build_token_cache(docs, tokenizer, tmp_path_factory.mktemp("cache"))


def test_cache_holds_bos_text_eos_and_is_reused(cache, tokenizer):
    docs = load_source("sample")
    first = cache.documents([0])[0]
    assert first[0] == tokenizer.bos_id and first[-1] == tokenizer.eos_id
    assert first[1:-1].tolist() == tokenizer.encode(docs[0].text + " (copy 0)")
    assert cache.num_tokens == int(cache.lengths.sum()) and len(cache) == 40
    class Counting:  # the same inputs must not be tokenized again
        path, bos_id, eos_id, chat_template = tokenizer.path, tokenizer.bos_id, tokenizer.eos_id, None
        bos = tokenizer.bos
        def encode_batch(self, texts):
            raise AssertionError("tokenized twice")
    redocs = [Document(f"{d.doc_id}-{i}", f"{d.text} (copy {i})") for d in docs for i in range(4)]
    assert build_token_cache(redocs, Counting(), cache.folder.parent).folder == cache.folder


def test_packing_loses_and_duplicates_no_token(cache):
    order = subsample(cache, seed=3)
    rows = PackedRows(cache, order, seq_len=64)
    stream = np.concatenate(cache.documents(order))
    assert len(rows) == (len(stream) - 1) // 64
    inputs = np.concatenate([rows[i]["inputs"] for i in range(len(rows))])
    np.testing.assert_array_equal(inputs, stream[: len(rows) * 64])
    for i in range(len(rows)):
        np.testing.assert_array_equal(rows[i]["targets"], stream[i * 64 + 1 : i * 64 + 65])


def test_segment_ids_and_positions_follow_documents(cache):
    order = subsample(cache, seed=0)
    rows = PackedRows(cache, order, seq_len=128, mask_documents=True)
    # reference: label every stream token with (its document, its offset in the document)
    doc_of = np.concatenate([np.full(n, k) for k, n in enumerate(cache.lengths[order])])
    offset = np.concatenate([np.arange(n) for n in cache.lengths[order]])
    for i in range(len(rows)):
        row, span = rows[i], slice(i * 128, i * 128 + 128)
        docs_here = doc_of[span]
        expected_segments = docs_here - docs_here[0] + 1
        np.testing.assert_array_equal(row["segment_ids"], expected_segments)
        first_offset = offset[span][0]
        expected_positions = np.where(docs_here == docs_here[0], offset[span] - first_offset, offset[span])
        np.testing.assert_array_equal(row["positions"], expected_positions)


def test_subsampling_is_seeded_nested_and_on_budget(cache):
    half = subsample(cache, seed=7, fraction=0.5)
    assert np.array_equal(half, subsample(cache, seed=7, fraction=0.5))
    assert not np.array_equal(half, subsample(cache, seed=8, fraction=0.5)[: len(half)])
    quarter = subsample(cache, seed=7, num_tokens=cache.num_tokens // 4)
    assert np.array_equal(quarter, half[: len(quarter)])
    tokens = cache.lengths[half].sum()
    assert cache.num_tokens / 2 <= tokens < cache.num_tokens / 2 + cache.lengths.max()
    with pytest.raises(PipelineError, match="outside"):
        subsample(cache, seed=0, num_tokens=cache.num_tokens * 2)


def collect(pipeline, start=0, stop=None):
    iterator = pipeline.iterator()
    batches = [next(iterator) for _ in range(stop or pipeline.num_steps)]
    return batches[start:]


def test_steps_are_known_before_training(cache):
    rows = PackedRows(cache, subsample(cache, 0), seq_len=64)
    pipeline = build_pipeline(rows, global_batch=8, seed=0, epochs=3)
    assert pipeline.steps_per_epoch == len(rows) / 8  # what the run prints: 3 epochs, 3 x this many steps
    assert pipeline.num_steps == 3 * len(rows) // 8 == int(3 * pipeline.steps_per_epoch)
    batches = collect(pipeline)
    whole = len(rows) // 8  # the steps inside the first epoch
    assert len(batches) == pipeline.num_steps and batches[0]["inputs"].shape == (8, 64)
    epoch1 = collections.Counter(row.tobytes() for b in batches[:whole] for row in b["inputs"])
    every_row = collections.Counter(rows[i]["inputs"].tobytes() for i in range(len(rows)))
    assert not epoch1 - every_row  # within an epoch, no row comes more often than it exists
    first_epoch_order = [b["inputs"][0].tobytes() for b in batches[:5]]
    second_epoch_order = [b["inputs"][0].tobytes()
                          for b in batches[whole + 1 : whole + 6]]
    assert first_epoch_order != second_epoch_order  # reshuffled each epoch


def test_exact_resume_through_orbax(cache, tmp_path):
    rows = PackedRows(cache, subsample(cache, 0), seq_len=64, mask_documents=True)
    make = lambda: build_pipeline(rows, global_batch=4, seed=11, epochs=2)  # noqa: E731
    uninterrupted = collect(make())
    iterator = make().iterator()
    for _ in range(7):
        next(iterator)
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save(7, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(iterator)))
        manager.wait_until_finished()
    resumed = make().iterator()
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.restore(7, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(resumed)))
    rest = [next(resumed) for _ in range(len(uninterrupted) - 7)]
    for expected, got in zip(uninterrupted[7:], rest, strict=True):
        for key in expected:
            np.testing.assert_array_equal(expected[key], got[key])


def test_two_hosts_partition_the_global_batch(cache):
    rows = PackedRows(cache, subsample(cache, 0), seq_len=64)
    single = collect(build_pipeline(rows, global_batch=8, seed=5, process_index=0, process_count=1))
    hosts = [collect(build_pipeline(rows, global_batch=8, seed=5, process_index=p, process_count=2))
             for p in range(2)]
    assert len(hosts[0]) == len(hosts[1]) == len(single)
    for step, global_batch in enumerate(single):
        parts = [h[step]["inputs"] for h in hosts]
        assert parts[0].shape == (4, 64)
        combined = sorted(r.tobytes() for p in parts for r in p)
        assert combined == sorted(r.tobytes() for r in global_batch["inputs"])


def test_replay_replaces_rows_at_the_rate_and_keeps_the_step_count(cache, tokenizer, tmp_path):
    """The paper's rehearsal: each row is replaced by a random replay row with probability 0.1; the
    run has the plain run's steps, the rows not replaced are the plain run's, and a resumed
    iterator draws the same replacements."""
    replay_docs = [Document(f"r{i}", " ".join(["replay"] * 300) + f" {i}") for i in range(20)]
    replay_cache = build_token_cache(replay_docs, tokenizer, tmp_path)
    replay = PackedRows(replay_cache, subsample(replay_cache, 1), seq_len=32)
    train = PackedRows(cache, subsample(cache, 0), seq_len=32)
    replay_rows = {replay[i]["inputs"].tobytes() for i in range(len(replay))}
    plain = build_pipeline(train, global_batch=16, seed=2, epochs=2)
    mixed = build_pipeline(train, global_batch=16, seed=2, epochs=2, replay=replay, replay_rate=0.1)
    assert (mixed.num_steps, mixed.steps_per_epoch) == (plain.num_steps, plain.steps_per_epoch)
    pairs = [(p, m) for bp, bm in zip(collect(plain), collect(mixed), strict=True)
             for p, m in zip(bp["inputs"], bm["inputs"], strict=True)]
    replaced = [m.tobytes() in replay_rows for _, m in pairs]
    assert abs(sum(replaced) / len(pairs) - 0.1) < 0.02 and len(pairs) > 1000
    assert all(np.array_equal(p, m) for (p, m), r in zip(pairs, replaced, strict=True) if not r)
    iterator = mixed.iterator()
    for _ in range(5):
        next(iterator)
    resumed = mixed.iterator()
    resumed.set_state(iterator.get_state())
    for _ in range(5):
        np.testing.assert_array_equal(next(iterator)["inputs"], next(resumed)["inputs"])


def test_bad_pipeline_settings(cache):
    rows = PackedRows(cache, subsample(cache, 0), seq_len=64)
    with pytest.raises(PipelineError, match="not divisible by 3 hosts"):
        build_pipeline(rows, global_batch=8, seed=0, process_count=3, process_index=0)
    with pytest.raises(PipelineError, match="fewer than the global batch"):
        build_pipeline(rows, global_batch=100000, seed=0)
    tiny = PackedRows(cache, subsample(cache, 0)[:1], seq_len=100000)
    with pytest.raises(PipelineError, match="shorter than one row"):
        build_pipeline(tiny, global_batch=1, seed=0)

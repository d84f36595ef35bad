"""Mixtures of several sources at shares of the rows, shares changed between phases, and the paper's
block-replacement replay, each against a reference: the rows of the pipeline as it was before mixtures
(tests/data/pipeline_reference.json, written by the single-source code of commit fc2ae63 on the same
corpora and seeds), and each source's own shuffled order."""

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from entigraph_jax.data import Mixture, PackedRows, PipelineError, build_pipeline, subsample

REFERENCE = Path(__file__).parent / "pipeline_reference.json"


class IntCache:
    """A token cache whose token values say where they come from: source base + 100 x document +
    position, so a row's first token names its source and its place in that source's stream."""

    def __init__(self, n: int, seed: int, base: int):
        self.lengths = np.random.default_rng(seed).integers(20, 90, n)
        self.base = base

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def documents_with_masks(self, indices):
        return [(self.base + 100 * int(i) + np.arange(self.lengths[i], dtype=np.int32),
                 np.ones(self.lengths[i], np.int32)) for i in indices]


MAIN, REAL, REPLAY, REPHRASE = IntCache(60, 0, 0), IntCache(9, 1, 100_000), IntCache(15, 2, 200_000), \
    IntCache(12, 3, 300_000)


def rows(cache: IntCache, seed: int) -> PackedRows:
    return PackedRows(cache, subsample(cache, seed), seq_len=16)


def firsts(pipeline) -> list[list[int]]:
    return [[int(r[0]) for r in batch["inputs"]] for batch in pipeline.iterator()]


def pipeline(mixture=None, **kwargs):
    return build_pipeline(rows(MAIN, 0), global_batch=8, seed=2, epochs=2, mixture=mixture, num_threads=1,
                          prefetch=0, **kwargs)


def test_replay_and_a_single_mixed_source_give_the_rows_of_the_pipeline_before_mixtures():
    reference = json.loads(REFERENCE.read_text())
    replay = {"replay": rows(REPLAY, 1), "replay_rate": 0.1}
    assert firsts(pipeline(**replay)) == reference["replay"]
    single = Mixture((rows(REAL, 4),), ((0, (0.25,)),))
    assert firsts(pipeline(single, **replay)) == reference["mix_replay"]


def source_of(token: int) -> int:
    return token // 100_000


def test_rows_follow_the_shares_each_main_row_once_and_resume_exactly():
    mixture = Mixture((rows(REAL, 4), rows(REPHRASE, 5)), ((0, (0.2, 0.3)),))
    mixed = pipeline(mixture)
    seen = [t for batch in firsts(mixed) for t in batch]
    counts = collections.Counter(source_of(t) for t in seen)
    assert abs(counts[1] / len(seen) - 0.2) < 0.01 and abs(counts[3] / len(seen) - 0.3) < 0.01
    main = [t for t in seen if source_of(t) == 0]
    plain = [t for batch in firsts(pipeline()) for t in batch]
    assert main == plain[: len(main)] and len(plain) - len(main) < 8 / 0.5  # its order; at most a step's worth left
    for share, source in ((0.2, 1), (0.3, 3)):  # every stretch holds its share, not only the whole run
        for start in range(0, len(seen) - 100, 100):
            window = seen[start:start + 100]
            assert abs(sum(source_of(t) == source for t in window) - 100 * share) <= 2
    iterator = mixed.iterator()
    for _ in range(7):
        next(iterator)
    resumed = mixed.iterator()
    resumed.set_state(iterator.get_state())
    assert [next(resumed)["inputs"][:, 0].tolist() for _ in range(5)] == firsts(mixed)[7:12]


def test_shares_changed_at_a_step_keep_every_source_in_its_order():
    """A run resumed at step 20 with new shares: its first 20 steps are the old mixture's, later steps
    follow the new shares, and each source's rows continue its own order with no row skipped or repeated."""
    sources = (rows(REAL, 4), rows(REPHRASE, 5))
    before = Mixture(sources, ((0, (0.2, 0.3)),))
    changed = Mixture(sources, ((0, (0.2, 0.3)), (20, (0.0, 0.5))))
    old, new = firsts(pipeline(before)), firsts(pipeline(changed))
    assert new[:20] == old[:20]
    later = [t for batch in new[20:] for t in batch]
    assert not any(source_of(t) == 1 for t in later)
    assert abs(sum(source_of(t) == 3 for t in later) / len(later) - 0.5) < 0.01
    seen = [t for batch in new for t in batch]
    main, plain = [t for t in seen if source_of(t) == 0], [t for batch in firsts(pipeline()) for t in batch]
    assert main == plain[: len(main)] and len(plain) - len(main) < 8 / 0.5
    own = [t for batch in firsts(pipeline(Mixture(sources, ((0, (0.2, 0.6)),)))) for t in batch]
    rephrased = [t for t in seen if source_of(t) == 3]  # the rephrase rows in the order a single phase has them
    assert rephrased == [t for t in own if source_of(t) == 3][: len(rephrased)]
    iterator = pipeline(changed).iterator()
    for _ in range(25):
        next(iterator)
    resumed = pipeline(changed).iterator()
    resumed.set_state(iterator.get_state())
    assert next(resumed)["inputs"][:, 0].tolist() == new[25]


@pytest.mark.parametrize(("phases", "message"), [
    (((0, (0.6, 0.5)),), "together below 1"),
    (((0, (0.2,)),), "one per source"),
    (((3, (0.2, 0.2)),), "start at step 0"),
    (((0, (0.2, 0.2)), (10_000, (0.1, 0.1))), "needs"),
])
def test_bad_mixtures_fail_by_name(phases, message):
    with pytest.raises(PipelineError, match=message):
        pipeline(Mixture((rows(REAL, 4), rows(REPHRASE, 5)), phases))

"""The sharded exact search (a ring of key shards over 8 devices) against the unsharded one and brute force."""

import re

import jax
import numpy as np
import pytest

from entigraph_jax.clients.embedders import HashingEmbedder
from entigraph_jax.data import load_source, read_records
from entigraph_jax.sbp import __main__ as sbp_main
from entigraph_jax.sbp import exact_neighbours, mine_pairs, ring_neighbours
from entigraph_jax.sbp.mine import MineSettings
from entigraph_jax.sbp.ring_search import plan, ring_mesh
from entigraph_jax.train.hardware import TPU_EXTRA, has_tpu_compiler
from tests.helpers import ROOT
from tests.helpers.sbp import SEPARATOR, planted_corpus


def with_ties(n: int, dim: int, seed: int) -> np.ndarray:
    """Random vectors with exact copies and a scaled copy (equal cosines), so lists must break ties."""
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    vectors[n // 4 : n // 4 + 6] = vectors[0]
    vectors[n - 1] = 3 * vectors[1]
    return vectors


def brute_force(vectors: np.ndarray, k: int) -> np.ndarray:
    """Every row's k highest cosines with the other rows, in float64."""
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return -np.sort(-sims, axis=1)[:, :k]


@pytest.mark.parametrize("n,k,block", [(64, 5, 8), (100, 7, 4), (203, 12, 16), (9, 8, 1)])
def test_the_ring_equals_the_unsharded_search_ties_included(n, k, block):
    assert jax.device_count() == 8
    vectors = with_ties(n, 16, n)
    exact_scores, exact_ids = exact_neighbours(vectors, k, block)
    ring_scores, ring_ids = ring_neighbours(vectors, k, block)
    np.testing.assert_array_equal(ring_ids, exact_ids)
    np.testing.assert_array_equal(ring_scores, exact_scores)  # the same block shapes: the same products
    np.testing.assert_allclose(ring_scores, brute_force(vectors, min(k, n - 1)), atol=1e-6)
    copies = list(range(n // 4, n // 4 + 6))
    assert list(ring_ids[0][:6]) == copies[:k]  # equal scores of 1: in the order of their ids


def test_the_ring_on_fewer_devices_and_in_bfloat16():
    vectors = with_ties(90, 32, 3)
    on_two = ring_neighbours(vectors, 6, 8, mesh=ring_mesh(jax.devices()[:2]))
    np.testing.assert_array_equal(on_two[1], exact_neighbours(vectors, 6, 8)[1])
    scores, ids = ring_neighbours(vectors, 6, 8, dtype=np.dtype("bfloat16"))
    assert scores.dtype == np.float32 and np.all(np.diff(scores, axis=1) <= 0)
    recall = np.mean([len(set(a) & set(b)) / 6 for a, b in zip(ids, on_two[1], strict=True)])
    assert recall > 0.8  # bfloat16 rounds the cosines; the lists barely move


def test_sharded_mining_gives_the_pairs_exact_mining_gives():
    docs = planted_corpus()
    exact, sharded = (mine_pairs(docs, HashingEmbedder(), "hashing", MineSettings(k=4, index=index, block=2), SEPARATOR)
                      for index in ("exact", "sharded"))
    assert sharded == exact and len(exact) >= 12


@pytest.mark.skipif(not has_tpu_compiler(), reason=f"the TPU compiler is not installed: {TPU_EXTRA}")
def test_the_plan_compiles_a_shard_for_the_slice_and_counts_its_hours():
    """1M documents of 256 dimensions over a v5p-8's 4 chips: the shard, the lists and the FLOPs by hand."""
    settings = MineSettings(k=10, block=1024, dtype="bfloat16", plan_documents=1_000_000, plan_dimension=256)
    text = plan(settings, "v5p-8")
    rows = 245 * 1024  # a chip's 250,000 documents in whole blocks of 1024
    assert f"{rows:,} rows per device ({rows * 256 * 2 / 2**30:.2f} GiB a shard" in text
    flops = 2 * 1_000_000 * 4 * rows * 256
    assert f"{flops:.3g} FLOPs" in text and f"{flops / (4 * 459e12 * 0.4) / 3600:.1f} hours" in text
    compiled = re.search(r"arguments ([\d.]+) \+ temporaries ([\d.]+) \+ outputs ([\d.]+) = ([\d.]+) GiB per chip: "
                         r"fits in 95 GiB", text)
    assert compiled, text
    arguments, temporaries, outputs, _ = map(float, compiled.groups())
    assert arguments == pytest.approx(rows * 256 * 2 / 2**30, abs=0.01)  # the chip's own shard
    lists = rows * 10 * 8 / 2**30  # its top-10 scores and ids; the chip's tiles pad the k axis (to 16 here)
    assert lists - 0.005 <= outputs <= 2 * lists + 0.005
    assert arguments <= temporaries <= 3 * arguments  # the visiting shard and the one arriving, and one block


def test_the_mine_step_gives_the_same_pairs_sharded_and_exact(tmp_path, run_command):
    """`sbp mine` on the quickstart recipe, over 8 devices and on one; the corpus copied once into record shards."""
    pairs = {}
    for index in ("exact", "sharded"):
        workdir = tmp_path / index
        done = run_command(sbp_main.COMMANDS, ["mine", "--config", ROOT / "configs" / "sbp_quickstart.py",
                                               f"--config.workdir={workdir}", f"--config.mine.index={index}",
                                               "--config.mine.block=2"])
        assert done.returncode == 0, done.stderr
        pairs[index] = list(read_records(workdir / "pairs"))
        assert sorted(p.name for p in (workdir / "embeddings").iterdir()) == ["embeddings-00000.npy"]
        assert len(list(read_records(workdir / "corpus"))) == len(load_source("sample"))
    assert pairs["sharded"] == pairs["exact"] and pairs["exact"]
    first = pairs["exact"][0]
    corpus = load_source("sample")
    assert first["prompt"].startswith(corpus[first["doc_index"]].text)
    assert first["text"] == corpus[first["pair_doc_index"]].text

"""SBP: pair mining on planted pairs, loss on d2 only, seeded synthesis without copies, the recipe."""

import dataclasses
import difflib
import importlib.util
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from etils import epath
from flax import nnx

from entigraph_jax import cli
from entigraph_jax.clients.embedders import HashingEmbedder
from entigraph_jax.config import ConfigError, load_config_file
from entigraph_jax.data import (
    Document,
    PackedRows,
    build_token_cache,
    load_source,
    load_tokenizer,
    read_records,
    subsample,
    train_sentencepiece,
)
from entigraph_jax.evaluate.task import metric
from entigraph_jax.models import Llama, LlamaConfig, from_pretrained_hf
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.runs import TrainRun
from entigraph_jax.sbp import (
    MiningError,
    exact_neighbours,
    faiss_neighbours,
    is_copy,
    mine_pairs,
    synthesize,
)
from entigraph_jax.sbp import __main__ as sbp_main
from entigraph_jax.sbp.mine import MineSettings
from entigraph_jax.sbp.run import SBP, scoring_hooks
from entigraph_jax.sbp.settings import SBPSettings
from entigraph_jax.sbp.synthesize import SynthesizeSettings
from entigraph_jax.train import TrainSettings
from entigraph_jax.train.checkpoints import RunCheckpoints
from entigraph_jax.train.step import loss_sums
from tests.helpers import ROOT
from tests.helpers.runs import moved_train_layout
from tests.helpers.sbp import SEPARATOR, planted_corpus

needs_faiss = pytest.mark.skipif(importlib.util.find_spec("faiss") is None,
                                 reason="faiss-cpu (the ann extra) is not installed")


@pytest.mark.parametrize("n,block", [(10, 4), (37, 8), (64, 1024)])
def test_exact_neighbours_equal_brute_force(n, block):
    vectors = np.random.default_rng(n).normal(size=(n, 16)).astype(np.float32)
    scores, ids = exact_neighbours(vectors, 3, block)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    np.testing.assert_array_equal(ids, np.argsort(-sims, axis=1)[:, :3])
    np.testing.assert_allclose(scores, -np.sort(-sims, axis=1)[:, :3], atol=1e-6)


@pytest.mark.parametrize("index", ["exact", pytest.param("faiss", marks=needs_faiss)])
def test_mining_finds_planted_pairs_and_drops_duplicates(index):
    docs = planted_corpus()
    pairs = mine_pairs(docs, HashingEmbedder(), "hashing", MineSettings(k=4, index=index), SEPARATOR)
    found = {(p["doc_id"], p["pair_doc_id"]) for p in pairs}
    related = {(f"t{t}{x}", f"t{t}{y}") for t in range(6) for x, y in ("ab", "ba")}
    # the copies are documents too: related to their original's topic partner, never to the original
    related |= {("dup", "t0b"), ("t0b", "dup"), ("near", "t1b"), ("t1b", "near")}
    assert found == related
    assert not found & {("t0a", "dup"), ("dup", "t0a"), ("t1a", "near"), ("near", "t1a")}
    record = pairs[0]
    assert record["kind"] == "sbp_pair" and record["embedder"] == "hashing"
    assert (record["min_similarity"], record["max_similarity"]) == (0.5, 0.95)
    assert record["prompt"].endswith(SEPARATOR) and 0.5 <= record["similarity"] < 0.95


def test_mining_rejects_bad_input():
    with pytest.raises(MiningError, match="at least 2 documents"):
        mine_pairs(planted_corpus()[:1], HashingEmbedder(), "hashing", MineSettings(k=2), SEPARATOR)
    with pytest.raises(ConfigError, match=r"config: mine.min_similarity=0.9: the band \[0.9, 0.5\) is empty"):
        SBPSettings.from_config({"mine": {"min_similarity": 0.9, "max_similarity": 0.5}})


@needs_faiss
def test_faiss_agrees_with_exact_on_a_small_corpus():
    vectors = np.random.default_rng(1).normal(size=(200, 32)).astype(np.float32)
    exact_ids, approx_ids = exact_neighbours(vectors, 5)[1], faiss_neighbours(vectors, 5)[1]
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact_ids, approx_ids, strict=True)])
    assert recall > 0.95


def test_synthesizer_loss_is_on_d2_only(tmp_path):
    docs = planted_corpus()
    pairs = mine_pairs(docs, HashingEmbedder(), "hashing", MineSettings(k=4), SEPARATOR)
    train_sentencepiece((d.text for d in docs), tmp_path / "sp", 300)
    tok = load_tokenizer(tmp_path / "sp.model")
    pair_docs = [Document(p["doc_id"], p["text"], prompt=p["prompt"]) for p in pairs]
    cache = build_token_cache(pair_docs, tok, tmp_path / "cache")
    order = subsample(cache, 0)
    rows = PackedRows(cache, order, 128, mask_documents=True)
    # reference mask: 0 on each pair's prompt (d1 and the separator), 1 on BOS, d2 and EOS
    expected = np.concatenate([[1] + [0] * len(tok.encode(pair_docs[i].prompt))
                               + [1] * (len(tok.encode(pair_docs[i].text)) + 1) for i in order])
    learned = np.concatenate([rows[i]["loss_mask"] for i in range(len(rows))])
    np.testing.assert_array_equal(learned, expected[1 : len(learned) + 1])
    assert 0.3 < learned.mean() < 0.7

    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_layers=1,
                      num_heads=2, num_kv_heads=1, head_dim=16, dtype="float32")
    graphdef, params = nnx.split(Llama(cfg, rngs=nnx.Rngs(0)))
    batch = {k: jnp.asarray(np.stack([rows[i][k] for i in range(len(rows))])) for k in rows[0]}
    loss = jax.jit(lambda b: loss_sums(graphdef, params, b, 0.0))
    base = loss(batch)
    d1 = batch["loss_mask"] == 0
    scrambled = dict(batch, targets=jnp.where(d1, (batch["targets"] + 7) % tok.vocab_size, batch["targets"]))
    np.testing.assert_array_equal(np.asarray(loss(scrambled)), np.asarray(base))
    changed = dict(batch, targets=jnp.where(d1, batch["targets"], (batch["targets"] + 7) % tok.vocab_size))
    assert float(loss(changed)[0]) != float(base[0])


def test_copy_filter():
    seed = load_source("sample")[0].text
    assert is_copy(seed, seed, 0.8)
    assert is_copy("  " + seed.replace(" ", "\n", 3) + "\n", seed, 0.8)  # whitespace aside
    words = seed.split()
    assert is_copy(" ".join(words[:-1] + ["changed"]), seed, 0.8)  # one word changed
    assert is_copy("   ", seed, 0.8)
    assert not is_copy(load_source("sample")[1].text, seed, 0.8)


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """The quickstart recipe end to end, with fewer steps, and an oracle arm on more unique text; the
    training runs lay their folders out differently, so every step must read them through `TrainRun`."""
    workdir = tmp_path_factory.mktemp("sbp")
    oracle = workdir.parent / "oracle.jsonl"
    articles = [d.text for d in load_source("sample")]
    oracle.write_text("".join(json.dumps({"text": f"{t}\n\n{articles[(i + k) % len(articles)]}"}) + "\n"
                              for k in (1, 2) for i, t in enumerate(articles)))  # enough to read each once
    args = ["--config", str(ROOT / "configs/sbp_quickstart.py"), f"--config.workdir={workdir}",
            "--config.synthesizer.data.epochs=4", "--config.joint.max_steps=12",
            "--config.synthesize.max_new_tokens=64", f"--config.oracle_corpus=jsonl:{oracle}"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        moved_train_layout(monkeypatch)
        summary = SBP(cli.resolve(sbp_main.COMMANDS["run"], args)[0]).run()
    return workdir, args, dataclasses.asdict(summary)


def test_every_arm_is_scored_after_its_last_step_by_the_hooks_its_sources_and_benchmarks_name():
    config = SBPSettings.from_config(load_config_file(ROOT / "configs/sbp_quickstart.py")).override({
        "eval_source": "sample", "downstream_source": "", "joint.hooks.harness.tasks": ("arc_easy",)})
    assert scoring_hooks(config, 12) == {"hooks.perplexity.source": "sample", "hooks.perplexity.every_steps": 12,
                                         "hooks.harness.every_steps": 12}
    often = config.override({"joint.hooks.perplexity.every_steps": 4, "joint.hooks.harness.tasks": ()})
    assert scoring_hooks(often, 12) == {"hooks.perplexity.source": "sample", "hooks.perplexity.every_steps": 4}


@pytest.mark.slow
def test_recipe_runs_end_to_end(recipe_run, run_command, monkeypatch):
    workdir, args, summary = recipe_run
    moved_train_layout(monkeypatch)
    corpus_ids = {d.doc_id for d in load_source("sample")}
    pairs = list(read_records(workdir / "pairs"))
    assert len(pairs) == summary["pairs"] > 0 and {p["kind"] for p in pairs} == {"sbp_pair"}
    synthetic = list(read_records(workdir / "synthetic"))
    assert len(synthetic) == summary["synthetic"] > 0
    assert {r["kind"] for r in synthetic} == {"sbp"} and {r["doc_id"] for r in synthetic} <= corpus_ids
    arms = summary["train"]
    assert set(arms) == {"baseline", "sbp", "oracle"} and {a["steps"] for a in arms.values()} == {12}  # same compute
    # the tokens each arm trained, counted by training from its loss masks: packed rows train every target
    assert {name: a["tokens"] for name, a in arms.items()} == dict.fromkeys(arms, 12 * 8 * 128)
    stored = RunCheckpoints(epath.Path(TrainRun(arms["oracle"]["workdir"]).checkpoints), 1, False).stored_config()
    assert stored["data"]["epochs"] == 1  # the oracle reads no document twice
    assert summary["synthetic_tokens"] >= summary["budget"]["synthetic_tokens_needed"]  # no synthetic row twice
    measures = summary["measures"]
    assert set(measures) == set(arms) and measures["sbp"]["corpus"]["documents"] == len(synthetic)
    assert measures["sbp"]["copying"]["copies"] == 0.0  # the copy filter ran on every sample
    drawn = len(synthetic) + summary["dropped_copies"]  # the copying rate before the filter, as the paper reports
    assert measures["sbp"]["copying"]["dropped_as_copies"] == summary["dropped_copies"] / drawn
    loss, ppl, accuracy = metric("perplexity", "loss"), metric("perplexity", "perplexity"), metric("loglik", "accuracy")
    for name, arm in arms.items():  # the figures in the summary are the arms' own last logged ones
        run = TrainRun(arm["workdir"])
        assert run.last(loss, accuracy) == {loss: arm[loss], accuracy: arm[accuracy]}, name
        assert np.isfinite(arm[loss]) and arm[accuracy] is not None
        assert arm[ppl] == pytest.approx(math.exp(arm[loss]))
        assert {k: arm[k] for k in arm if "/" in k} == {**run.last_matching("perplexity/"),
                                                       **run.last_matching("loglik/")}  # every figure its hooks gave
    # the synthesizer is the baseline fine-tuned: its first step starts from the baseline's weights
    baseline, synthesizer = TrainRun(workdir / "baseline"), TrainRun(workdir / "synthesizer")
    assert summary["synthesizer_init"] == str(baseline.export)
    first = synthesizer.rows()[0]["loss"]
    uniform = math.log(load_tokenizer(synthesizer.tokenizer.path).vocab_size)  # where a new model starts
    assert first < uniform - 0.5 and abs(first - arms["baseline"]["final_loss"]) < 1.0
    # a rerun finds every step done and changes nothing
    again = run_command(sbp_main.COMMANDS, ["run", *args])
    assert again.returncode == 0, again.stderr
    assert json.loads((workdir / "summary.json").read_text()) == summary
    assert "parameters on" not in again.stdout  # no training ran (a run prints its model size first)


@pytest.mark.slow  # it reads the recipe's run: a minute to build
def test_synthesis_is_seeded_and_never_copies_its_seed(recipe_run, monkeypatch, tmp_path):
    moved_train_layout(monkeypatch)
    synthesizer = TrainRun(recipe_run[0] / "synthesizer")
    sampler = Sampler(from_pretrained_hf(synthesizer.export, "float32"), load_tokenizer(synthesizer.tokenizer.path))
    docs = load_source("sample")
    settings = SynthesizeSettings(num_docs=8, max_new_tokens=48, max_seed_chars=300, batch_size=4)

    def run(name, **changes):
        out = synthesize(docs, sampler, dataclasses.replace(settings, **changes), SEPARATOR, tmp_path / name)
        return out, list(read_records(tmp_path / name)) if out.documents else []

    (first, first_records), (second, second_records), (_, other_records) = run("a", seed=3), run("b", seed=3), \
        run("c", seed=4)
    assert (first, first_records) == (second, second_records) and first.documents == len(first_records)
    assert [r["text"] for r in first_records] != [r["text"] for r in other_records]
    by_id = {d.doc_id: d.text for d in docs}
    for record in first_records + other_records:
        seed = by_id[record["doc_id"]]
        assert record["text"] and " ".join(record["text"].split()) != " ".join(seed.split())
        assert difflib.SequenceMatcher(None, record["text"], seed).ratio() < 0.8
    # the filter is applied to every sample: with a threshold of 0 everything counts as a copy
    strict, _ = run("strict", num_docs=4, seed=3, max_new_tokens=16, near_copy_threshold=0.0)
    assert (strict.documents, strict.dropped) == (0, 4)


def test_command_errors_are_one_line(tmp_path, run_command):
    def sbp_command(*args):
        return run_command(sbp_main.COMMANDS, args)

    usage = sbp_command("bogus")
    assert usage.returncode == 2 and "the first argument must be one of baseline, mine, synthesizer" in usage.stderr
    bad = sbp_command("mine", "--config", str(ROOT / "configs/sbp_quickstart.py"),
                      f"--config.workdir={tmp_path}", "--config.mine.min_similarity=0.99",
                      "--config.mine.max_similarity=0.995")
    errors = [line for line in bad.stderr.splitlines() if "error" in line]
    assert bad.returncode == 1 and len(errors) == 1 and bad.stderr.splitlines()[-1] == errors[0]
    assert "no pair has a similarity" in errors[0] and not (tmp_path / "pairs").exists()
    early = sbp_command("synthesizer", "--config", str(ROOT / "configs/sbp_quickstart.py"), "--workdir",
                        str(tmp_path))
    assert early.returncode == 1 and "no baseline yet; run the baseline step first" in early.stderr
    nothing = sbp_command("run", "--config", str(ROOT / "configs/sbp_quickstart.py"), "--workdir",
                          str(tmp_path / "none"), "--config.real_fraction=1.5")
    assert nothing.returncode == 1 and nothing.stderr.strip().splitlines() == [
        "sbp run: error: config: real_fraction=1.5: must be in (0, 1)"]
    assert not (tmp_path / "none").exists()  # refused before any work
    unplanned = sbp_command("plan", "--config", str(ROOT / "configs/sbp_paper_3b_1t.py"), "--no_compile")
    assert unplanned.returncode == 1 and unplanned.stderr.strip().splitlines() == [
        "sbp plan: error: config: tokenizer.path does not load here (meta-llama/Meta-Llama-3-8B: no such tokenizer "
        "file or folder); set tokenizer.train_vocab_size to the vocabulary's size (Llama 3: 128256) to plan with it"]


def test_recipes_nest_train_configs():
    for name in ("sbp_quickstart.py", "sbp_3b_tpu.py"):
        config = SBPSettings.from_config(load_config_file(ROOT / "configs" / name))
        assert isinstance(config.joint, TrainSettings) and isinstance(config.synthesizer, TrainSettings)
        assert config.joint.max_steps > 0

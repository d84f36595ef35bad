"""SBP as the paper runs it: whole pairs per row, synthetic rows never repeated, equal budgets, the measures."""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from entigraph_jax.clients.embedders import HashingEmbedder
from entigraph_jax.config import load_config_file
from entigraph_jax.data import (
    Document,
    Mixture,
    PackedRows,
    WholeRows,
    build_pipeline,
    build_token_cache,
    load_tokenizer,
    train_sentencepiece,
    write_records,
)
from entigraph_jax.data.corpus_stats import containment, copy_stats, corpus_stats, longest_common_run, repeated_share
from entigraph_jax.models import Llama, LlamaConfig
from entigraph_jax.sbp.budget import Budget, BudgetError
from entigraph_jax.sbp.measure import first_texts, relevance
from entigraph_jax.sbp.run import SBP
from entigraph_jax.sbp.settings import SBPSettings
from entigraph_jax.train.settings import OptimSettings
from entigraph_jax.train.step import learning_rate_schedule
from tests.helpers import ROOT
from tests.helpers.sbp import SEPARATOR, planted_corpus


def pair_records(tmp_path, seq_len):
    """Pairs of the planted corpus (each d1 and d2 longer than half a row), tokenized as training reads them."""
    docs = planted_corpus()
    pairs = [Document(f"{a.doc_id}>{b.doc_id}", b.text, prompt=a.text + SEPARATOR)
             for a, b in zip(docs, docs[1:] + docs[:1], strict=True)]
    train_sentencepiece((d.text for d in docs), tmp_path / "sp", 300)
    tokenizer = load_tokenizer(tmp_path / "sp.model")
    cache = build_token_cache(pairs, tokenizer, tmp_path / "cache")
    assert min(cache.lengths) > seq_len  # every pair is cut to fit a row
    return cache, tokenizer


def per_position_loss(model, row):
    logits = model(jnp.asarray(row["inputs"])[None], jnp.asarray(row["positions"])[None],
                   jnp.asarray(row["segment_ids"])[None])[0]
    return np.asarray(optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(row["targets"])))


def test_every_d2_token_is_trained_with_its_d1_in_context(tmp_path):
    seq_len = 64
    cache, tokenizer = pair_records(tmp_path, seq_len)
    order = np.arange(len(cache))
    model = Llama(LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_layers=2,
                              num_heads=2, num_kv_heads=1, head_dim=16, dtype="float32"), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    rows = WholeRows(cache, order, seq_len, mask_documents=True)
    for index in range(len(rows)):
        row = rows[index]
        learned = row["loss_mask"] > 0
        first = int(np.argmax(learned))  # input `first` is the separator's end; d2 is predicted from there on
        assert 8 < first < seq_len - 8 and learned[first:].all()  # d1 and d2 both in the row, d2 to its end
        scrambled = dict(row, inputs=row["inputs"].copy())
        scrambled["inputs"][1:first] = rng.permutation(row["inputs"][1:first])  # d1 shuffled, BOS kept
        assert (scrambled["inputs"][1:first] != row["inputs"][1:first]).any()
        moved = np.abs(per_position_loss(model, scrambled) - per_position_loss(model, row))
        assert (moved[learned] > 1e-6).all(), index  # every d2 position's loss depends on its d1
        np.testing.assert_array_equal(moved[:1], 0.0)  # BOS predicts from BOS alone

    # packing the same records end to end starts rows inside a d2, with no d1 to read
    packed = PackedRows(cache, order, seq_len, mask_documents=True)
    first_fragments = [r["loss_mask"][r["segment_ids"] == 1] for r in (packed[i] for i in range(len(packed)))
                       if r["inputs"][0] != tokenizer.bos_id]  # rows that begin inside a record
    assert any(fragment.all() for fragment in first_fragments)  # ... and inside its d2: trained without d1


def test_mixed_rows_take_the_exact_share_and_the_main_rows_once(tmp_path):
    main_docs = [Document(f"s{i}", f"synthetic text number {i} " * 6) for i in range(40)]
    real_docs = [Document(f"r{i}", f"real words of document {i} " * 6) for i in range(5)]
    train_sentencepiece((d.text for d in main_docs + real_docs), tmp_path / "sp", 400)
    tokenizer = load_tokenizer(tmp_path / "sp.model")
    rows = {}
    for name, docs in (("main", main_docs), ("real", real_docs)):
        cache = build_token_cache(docs, tokenizer, tmp_path / name)
        rows[name] = WholeRows(cache, np.arange(len(cache)), 48)
    pipeline = build_pipeline(rows["main"], global_batch=8, seed=0, num_threads=1, prefetch=0,
                              mixture=Mixture((rows["real"],), ((0, (0.625,)),)))
    batches = list(pipeline.iterator())
    seen = [tokenizer.decode([t for t in row if t]) for batch in batches for row in batch["inputs"]]
    synthetic = [t for t in seen if "synthetic" in t]
    assert len(batches) == pipeline.num_steps == 13  # 40 synthetic rows / 0.375 = 106 rows
    assert len(synthetic) == len(set(synthetic)) >= 39  # each synthetic row at most once
    real = len(seen) - len(synthetic)
    assert abs(real / len(seen) - 0.625) < 0.01 and real > 5 * 12  # the real rows repeat to fill their share
    again = list(pipeline.iterator())  # deterministic
    np.testing.assert_array_equal(again[-1]["inputs"], batches[-1]["inputs"])


def test_the_synthesis_count_follows_from_the_budget():
    budget = Budget(steps=100, global_batch=8, seq_len=128, real_fraction=0.625)
    assert budget.tokens == 100 * 8 * 128
    assert budget.synthetic_rows == 301 and budget.synthetic_tokens == 301 * 128 + 1  # 300 rows and one to spare
    budget.check_corpus(documents=400, tokens=budget.synthetic_tokens)  # enough: every synthetic row once
    with pytest.raises(BudgetError, match=r"repeat synthetic text \(2\.00 passes\).*19,264 tokens \(200 documents, "
                                          r"96 tokens each\); synthesize about 201 more"):
        budget.check_corpus(documents=200, tokens=budget.synthetic_tokens // 2)
    with pytest.raises(BudgetError, match="num_docs=100 documents of at most 98 tokens give at most 9,800 tokens"):
        budget.check_plan(100, 98)
    with pytest.raises(BudgetError, match="the baseline arm trained 90 steps of joint.max_steps=100: its data ran"):
        budget.check_arm("baseline", 90)
    with pytest.raises(BudgetError, match=r"oracle arm trained 90 steps .*: jsonl:o holds fewer than 102,400 tokens "
                                          r"and is read once \(no document twice\)"):
        budget.check_arm("oracle", 90, "jsonl:o")


@pytest.mark.parametrize("recipe", ["sbp_paper_3b_200b.py", "sbp_paper_3b_1t.py", "sbp_paper_6b_1t.py",
                                    "sbp_3b_tpu.py", "sbp_quickstart.py"])
def test_recipes_never_repeat_synthetic_text(recipe):
    """At each recipe's numbers: the synthesis count is the budget's (or fills it), and the tokens of every arm
    are the paper's for the paper's recipes."""
    config = SBPSettings.from_config(load_config_file(ROOT / "configs" / recipe))
    joint = config.joint
    budget = Budget(joint.max_steps, joint.data.global_batch, joint.data.seq_len, config.real_fraction)
    if config.synthesize.num_docs:
        budget.check_plan(config.synthesize.num_docs, config.synthesize.max_new_tokens + 2)
    paper = {"sbp_paper_3b_200b.py": (200e9, 0.625), "sbp_paper_3b_1t.py": (1e12, 0.875),
             "sbp_paper_6b_1t.py": (1e12, 0.75)}
    if recipe in paper:
        tokens, real = paper[recipe]
        assert abs(budget.tokens / tokens - 1) < 0.01 and config.real_fraction == real
        assert joint.data.global_batch * joint.data.seq_len == 2048 * 4096  # 8M tokens per step
        assert (joint.optim.lr, joint.optim.warmup_fraction, joint.optim.min_lr) == (1e-2, 0.05, 5e-5)


def test_the_cosine_ends_at_min_lr():
    schedule = learning_rate_schedule(OptimSettings(lr=1e-2, warmup_fraction=0.05, min_lr=5e-5), 1000)
    assert float(schedule(50)) == pytest.approx(1e-2) and float(schedule(1000)) == pytest.approx(5e-5)
    assert 5e-5 < float(schedule(500)) < 1e-2


def test_corpus_measures_on_texts_of_known_repetition_and_copying():
    loop = "the cat sat on the mat " * 20
    fresh = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma"
    assert repeated_share(fresh) == 0.0
    assert repeated_share(loop) == pytest.approx(1 - 6 / 118)  # 118 trigrams, 6 distinct
    stats = corpus_stats([fresh, loop, fresh.upper(), fresh + " tau", "something else entirely here"])
    assert stats.documents == 5 and stats.repetitive == pytest.approx(1 / 5)
    assert stats.exact_duplicates == pytest.approx(1 / 5)  # the upper-case copy
    assert stats.near_duplicates == pytest.approx(2 / 5)  # ... and one word added (Jaccard 14/15)

    seed = " ".join(f"w{i}" for i in range(100))
    copied = " ".join(f"w{i}" for i in range(20, 60)) + " new words at the end"  # 40 of the seed's words in a row
    assert longest_common_run(copied, seed) == 40
    assert containment(copied, seed) == pytest.approx(33 / 38)  # 8-grams: 33 inside the seed, 5 reach the new words
    assert containment(fresh, seed) == 0.0
    copying = copy_stats([(copied, seed), (fresh, seed)])
    assert copying.copies == 0.5 and copying.longest_run == pytest.approx(20.0)


def test_the_plan_gives_every_arm_s_tokens_and_hours():
    """The small recipe on one H200: tokens from its numbers, FLOPs counted by hand (PaLM's 6 per matmul weight,
    tied head included, plus attention), hours at the planner's assumed MFU."""
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.sbp", "plan", "--config",  # a process: fake devices
                           str(ROOT / "configs" / "sbp_small_h200.py"), "--hardware=1xH200", "--no_compile",
                           "--config.tokenizer.train_vocab_size=128256"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    tokens = 3815 * 256 * 2048
    layer = 2 * 768 * 768 + 2 * 768 * 256 + 3 * 768 * 2048 + 2 * 768
    weights = 12 * layer + 768 + 128256 * 768
    flops = (6 * weights + 12 * 12 * 12 * 64 * 2048) * tokens
    hours = flops / (989e12 * 0.4) / 3600
    assert f"= {tokens:,} tokens per arm" in text and "3 arms (6B tokens in all)" in text
    assert f"{flops:.3g} FLOPs: {hours:.1f} hours at an assumed 40% MFU of 1 x 989 TFLOP/s" in text
    assert text.count("fits (estimate)") == 2  # the arm and the synthesizer


def test_relevance_and_the_oracle_read_as_a_stream(tmp_path):
    seed = "the miller of dunmere grinds barley by the river every morning"
    pairs = [(seed, seed), ("quantum flux capacitors hum in orbit above saturn", seed)]
    figures = relevance(HashingEmbedder(), pairs, threshold=0.5)
    vectors = HashingEmbedder().embed([pairs[1][0], seed])
    cosine = float(vectors[0] @ vectors[1] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[1]))
    assert cosine < 0.5 and figures["mean_similarity"] == pytest.approx((1 + cosine) / 2, abs=1e-6)
    assert figures["irrelevant"] == 0.5 and figures["pairs"] == 2
    write_records([{"kind": "sbp", "doc_id": str(i), "text": f"document {i}"} for i in range(50)], tmp_path / "r")
    assert first_texts(f"records:{tmp_path / 'r'}", 3) == ["document 0", "document 1", "document 2"]
    assert len(first_texts(f"records:{tmp_path / 'r'}", 0)) == 50


def test_the_sbp_arm_is_refused_before_training_when_synthetic_text_would_repeat(tmp_path):
    config = SBPSettings.from_config(load_config_file(ROOT / "configs" / "sbp_quickstart.py")).override(
        {"workdir": str(tmp_path)})
    (tmp_path / "summary.json").write_text(json.dumps({"synthetic": 10, "synthetic_tokens": 1000}))
    with pytest.raises(BudgetError, match=r"repeat synthetic text \(23\.17 passes\).*holds 1,000 tokens \(10 "
                                          r"documents, 100 tokens each\); synthesize about 222 more"):
        SBP(config).train_joint()
    assert not (tmp_path / "joint").exists()  # nothing trained

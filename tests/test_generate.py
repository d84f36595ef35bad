"""Generation against a local fake LLM server, in both wire formats (OpenAI and Gemini)."""

import dataclasses
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from entigraph_jax.clients import Fatal
from entigraph_jax.config import ConfigError, apply_override, load_config_file
from entigraph_jax.data import SourceError, load_source, read_records
from entigraph_jax.generate.plan import Request, messages
from entigraph_jax.generate.run import estimate, generate, merge
from entigraph_jax.testing import FakeLLMServer, fake_answer

ROOT = Path(__file__).parent.parent
KEY = "fake-gemini-key-for-tests-0123456789abcdef"


@pytest.fixture
def server():
    return FakeLLMServer(hang_s=1.0, retry_after_s=0.3).start()


@pytest.fixture(autouse=True)
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def config_for(server, tmp_path, backend="openai", **overrides):
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    settings = {"output_dir": tmp_path / "out", "llm.backend": backend, "llm.model": "fake-model",
                "llm.base_url": server.base_url + ("/v1" if backend == "openai" else ""),
                "llm.backoff_initial_s": 0.01, "llm.max_concurrency": 8, "llm.timeout_s": 0.5,
                **overrides}
    for key, value in settings.items():
        apply_override(config, key, str(value))
    return config


def records(config):
    return list(read_records(Path(config.output_dir) / "records"))


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_happy_path_on_the_sample_corpus(server, tmp_path, backend):
    config = config_for(server, tmp_path, backend)
    summary = generate(config)
    out = records(config)
    assert summary.status == "complete" and summary.records == len(out)
    kinds = {k: sum(r["kind"] == k for r in out) for k in ("entities", "pair", "triple")}
    assert kinds["entities"] == 10 and kinds["pair"] > 50 and kinds["triple"] > 5
    assert len({r["request_id"] for r in out}) == len(out) == len(server.requests)
    docs = {d.doc_id: d for d in load_source("sample")}
    for record in out:  # the model's answer, unchanged but for surrounding whitespace
        assert {"doc_id", "kind", "entities", "model", "prompt_version", "request_id", "usage"} <= set(record)
        assert record["model"] == "fake-model" and record["prompt_version"] == "v1"
        request = Request(record["request_id"], record["doc_id"], record["kind"], record["kind"] == "entities",
                          tuple(record["entities"]) if record["kind"] != "entities" else ())
        _, prompt = messages(request, docs[record["doc_id"]], "v1")
        assert record["text"] == fake_answer(prompt, record["kind"] == "entities").strip()
    pairs = [r for r in out if r["kind"] == "pair"]
    assert all(len(r["entities"]) == 2 for r in pairs) and all(r["usage"]["output_tokens"] > 0 for r in pairs)


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_rate_limits_server_errors_and_timeouts_are_retried(server, tmp_path, backend):
    server.inject("429", "500", "timeout", "500")
    config = config_for(server, tmp_path, backend)
    summary = generate(config)
    assert summary.status == "complete" and summary.retried_this_run == 4
    first = server.requests[0]  # got the 429
    again = next(r for r in server.requests[1:] if r["body"] == first["body"])
    assert again["time"] - first["time"] >= 0.3  # sent again after Retry-After, not the 10 ms backoff
    assert len(records(config)) == len(server.requests) - 4


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_malformed_entity_json_is_asked_again_then_recorded_as_failed(server, tmp_path, backend):
    server.inject("malformed")
    config = config_for(server, tmp_path, backend)
    assert generate(config).status == "complete"  # one re-ask fixed it
    server.inject(*["malformed"] * 3)
    config = config_for(server, tmp_path / "again", backend, **{"entigraph.entity_attempts": 3,
                                                               "retry_failed": "false", "llm.max_concurrency": 1})
    summary = generate(config)
    assert summary.requests["entities"] == {"done": 9, "failed": 1} and summary.status == "incomplete"
    error = sqlite3.connect(tmp_path / "again" / "out" / "journal.sqlite").execute(
        "SELECT error FROM requests WHERE status='failed'").fetchone()[0]
    assert error.startswith("invalid entity JSON after 3 attempt(s)")


@pytest.mark.parametrize("backend", ["openai", "gemini"])
@pytest.mark.parametrize("fault", ["empty", "blocked"])
def test_empty_or_blocked_answers_fail_that_request_only(server, tmp_path, backend, fault):
    server.inject(fault)
    config = config_for(server, tmp_path, backend, **{"entigraph.entity_attempts": 1, "retry_failed": "false",
                                                      "llm.max_concurrency": 1})
    summary = generate(config)
    assert summary.requests["entities"] == {"done": 9, "failed": 1}
    assert summary.retried_this_run == 0
    rerun = generate(config_for(server, tmp_path, backend, **{"entigraph.entity_attempts": 1}))
    assert rerun.status == "complete" and rerun.records == summary.records + 1 + (
        rerun.requests["pair"]["done"] - summary.requests["pair"]["done"]
        + rerun.requests["triple"]["done"] - summary.requests["triple"]["done"])


def test_the_key_never_reaches_a_file(server, tmp_path, monkeypatch):
    config = config_for(server, tmp_path, "gemini")
    generate(config)
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-" + "k" * 40 + "\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    generate(config_for(server, tmp_path / "o", "openai", **{"llm.api_key_file": key_file}))
    assert any(r["path"].endswith("/chat/completions") for r in server.requests)
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path != key_file:
            data = path.read_bytes()
            assert KEY.encode() not in data and b"k" * 40 not in data, path


def test_bad_input(server, tmp_path):
    (tmp_path / "empty.jsonl").write_text('{"text": " "}\n')
    with pytest.raises(SourceError, match="the corpus is empty"):
        generate(config_for(server, tmp_path, source=f"jsonl:{tmp_path / 'empty.jsonl'}"))
    with pytest.raises(ConfigError, match="unknown llm.backend='claude'"):
        generate(config_for(server, tmp_path, **{"llm.backend": "claude"}))
    unreachable = config_for(server, tmp_path / "u", **{"llm.base_url": "http://127.0.0.1:9/v1",
                                                        "llm.max_retries": 1})
    with pytest.raises(Fatal, match=r"cannot reach http://127.0.0.1:9/v1"):
        generate(unreachable)


def test_dry_run_matches_what_a_run_plans(server, tmp_path):
    config = config_for(server, tmp_path)
    guess = estimate(config)
    assert guess.requests == 10 + 10 * 30 + 10 * 10 and guess.entity_counts.startswith("guessed")
    assert not (tmp_path / "out").exists()  # nothing written
    summary = generate(config)
    exact = estimate(config)  # entity counts now come from the journal
    assert exact.entity_counts == "from the journal"
    assert {k: v["requests"] for k, v in exact.by_kind.items()} == {
        k: v["done"] for k, v in summary.requests.items()}


def test_shards_then_merge_equal_one_run(server, tmp_path):
    whole = config_for(server, tmp_path / "whole")
    generate(whole)
    for index in range(2):
        generate(config_for(server, tmp_path, **{"num_shards": 2, "shard_index": index}))
    merged = merge(config_for(server, tmp_path, num_shards=2))
    assert merged.records == len(records(whole))
    ids = lambda config: sorted(r["request_id"] for r in records(config))  # noqa: E731
    assert ids(config_for(server, tmp_path)) == ids(whole)


def test_rephrase_and_budgets(server, tmp_path):
    config = config_for(server, tmp_path, method="rephrase", **{"rephrase.samples": 2, "budget.max_requests": 30})
    summary = generate(config)
    assert summary.status == "budget reached" and summary.records == 30
    assert {r["doc_id"] for r in records(config)} == {d.doc_id for d in load_source("sample")}  # spread evenly
    config.budget.max_requests = 0
    summary = generate(config)
    assert summary.status == "complete" and summary.records == 10 * 4 * 2
    assert {r["style"] for r in records(config)} == {"easy", "wiki", "academic", "qa"}
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == dataclasses.asdict(summary)


def test_rephrase_repeats_to_a_token_budget(server, tmp_path):
    config = config_for(server, tmp_path, method="rephrase", **{"rephrase.tokens_per_doc": 500})
    generate(config)
    rounds = {}  # doc -> [output tokens of round 0, round 1, ...]
    for record in records(config):
        tokens = rounds.setdefault(record["doc_id"], [])
        tokens.extend([0] * (record["sample_index"] + 1 - len(tokens)))
        tokens[record["sample_index"]] += record["usage"]["output_tokens"]
    assert len(rounds) == 10
    for tokens in rounds.values():
        assert sum(tokens) >= 500 > sum(tokens[:-1])  # enough, and not one round more than needed
    assert max(len(t) for t in rounds.values()) > 1


@pytest.mark.parametrize("override, message", [
    ("--config.llm.backend=claude", "generate: error: config: unknown llm.backend='claude'"),
    ("--config.source=jsonl:/nonexistent.jsonl", "generate: error: /nonexistent.jsonl: no such file or folder"),
    ("--config.llm.base_url=http://127.0.0.1:9/v1", "generate: error: cannot reach http://127.0.0.1:9/v1"),
])
def test_command_line_errors_are_one_line(tmp_path, override, message):
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.generate", "--config",
                           str(ROOT / "configs" / "entigraph_sample.py"), f"--config.output_dir={tmp_path}",
                           "--config.llm.max_retries=1", "--config.llm.backoff_initial_s=0.01", override],
                          capture_output=True, text=True)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("generate: error")]
    assert len(errors) == 1 and errors[0].startswith(message), done.stderr

"""Generation at scale against the fake server: batch mode (its OpenAI Batch API and Gemini batch mode:
the same records as online, each request paid for once through kills, lost answers, expired and partly
failed batches), the price table, entities asked with a JSON schema, and the vLLM backend's server
orchestration with a stand-in executable."""

import json
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from entigraph_jax import cli
from entigraph_jax.clients.prices import price
from entigraph_jax.config import apply_override, load_config_file
from entigraph_jax.data import read_records
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.generate import estimate as estimate_module
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.run import GenerationFailed, generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.runs import CorpusRun
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until

KEY = "fake-gemini-key-for-tests-0123456789abcdef"


@pytest.fixture
def server():
    return FakeLLMServer().start()


@pytest.fixture(autouse=True)
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


SMALL = {"entigraph.max_pairs_per_doc": 3, "entigraph.max_triples_per_doc": 2, "llm.poll_s": 0.01,
         "llm.backoff_initial_s": 0.01, "llm.model": "gpt-4o-mini"}


def settings(server, out, backend="openai", **overrides) -> dict:
    return {"output_dir": out, "llm.backend": backend,
            "llm.base_url": server.base_url + ("/v1" if backend == "openai" else ""), **SMALL, **overrides}


def config_for(server, out, backend="openai", **overrides):
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    for key, value in settings(server, out, backend, **overrides).items():
        apply_override(config, key, str(value))
    return GenerateSettings.from_config(config)


def texts(out: Path) -> dict[str, str]:
    return {r["request_id"]: r["text"] for r in read_records(CorpusRun(out).records)}


def journal_batches(out: Path) -> list[tuple]:
    with sqlite3.connect(CorpusRun(out).journal) as db:
        return db.execute("SELECT key, batch_id, kind, requests, state FROM batches ORDER BY rowid").fetchall()


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_batch_mode_writes_what_online_writes_at_half_the_price(server, tmp_path, backend):
    online = generate(config_for(server, tmp_path / "online", backend))
    batch = generate(config_for(server, tmp_path / "batch", backend, **{"llm.mode": "batch", "llm.batch_size": 7}))
    assert batch.status == online.status == "complete" and texts(tmp_path / "batch") == texts(tmp_path / "online")
    assert batch.cost_usd == pytest.approx(online.cost_usd / 2, abs=1e-6) and online.cost_usd > 0
    batches = journal_batches(tmp_path / "batch")
    kinds = [b[2] for b in batches]
    assert kinds == sorted(kinds, key=["entities", "pair", "triple"].index)  # entities, then pairs, then triples
    assert all(b[3] <= 7 and b[4] == "completed" for b in batches)
    assert server.batches.created == len(batches) and sum(b[3] for b in batches) == batch.records
    assert Counter(server.batches.submitted()) == Counter(list(texts(tmp_path / "batch")))  # each request sent once


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_a_killed_run_polls_its_batches_instead_of_resubmitting(server, tmp_path, backend):
    out = tmp_path / "out"
    server.batches.polls = 10**9  # no batch ends while the first run lives
    command = [sys.executable, "-m", "entigraph_jax.generate", "--config", str(ROOT / "configs/entigraph_sample.py"),
               "--config.llm.mode=batch"] + [f"--config.{k}={v}" for k, v in settings(server, out, backend).items()]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: server.batches.batches and any(b[1] for b in journal_batches(out)), first,
               what="a batch created and journaled")
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = server.batches.created
    server.batches.polls = 2
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = CorpusRun(out).summary()
    assert summary["status"] == "complete"
    entities = [b for b in journal_batches(out) if b[2] == "entities"]
    assert len(entities) == 1 and before == 1  # the second run polled the first run's batch
    assert Counter(server.batches.submitted()) == Counter(list(texts(out)))  # no request sent twice


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_cancel_stops_open_batches_keeps_their_answers_and_a_rerun_sends_the_rest(server, tmp_path, backend, capsys):
    """A batch-mode run killed with its entity batch open; `--cancel` cancels that batch at the provider
    (which ends it with half its requests answered), keeps those answers as records and returns the rest
    to pending; the next run sends only those."""
    out = tmp_path / "out"
    server.batches.polls = 10**9
    typed = ["--config", str(ROOT / "configs/entigraph_sample.py"), "--config.llm.mode=batch"] + [
        f"--config.{k}={v}" for k, v in settings(server, out, backend).items()]
    first = subprocess.Popen([sys.executable, "-m", "entigraph_jax.generate", *typed], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    wait_until(lambda: server.batches.batches and any(b[1] for b in journal_batches(out)), first,
               what="a batch created and journaled")
    first.send_signal(signal.SIGKILL)
    first.wait()
    [(_, batch_id, kind, requests, state)] = journal_batches(out)
    assert (kind, requests, state) == ("entities", 10, "open")
    assert cli.main(generate_main.COMMAND, [*typed, "--cancel"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"open_batches": 1, "cancelled": 1, "answers_kept": 5, "back_to_pending": 5}
    assert server.batches.cancelled == [batch_id.removeprefix("batches/")]
    assert journal_batches(out)[0][4] == "expired" and len(texts(out)) == 5
    kept = set(texts(out))
    assert cli.main(generate_main.COMMAND, [*typed, "--cancel"]) == 0  # nothing open any more
    assert json.loads(capsys.readouterr().out)["open_batches"] == 0
    server.batches.polls = 1
    assert cli.main(generate_main.COMMAND, typed) == 0
    assert CorpusRun(out).summary()["status"] == "complete" and kept < set(texts(out))
    sent = Counter(server.batches.submitted())
    assert all(sent[request_id] == 1 for request_id in kept)  # what the cancelled batch answered is not sent again


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_a_lost_create_answer_is_found_by_key_not_paid_twice(server, tmp_path, backend):
    server.batches.inject_batch("lost_create")
    result = generate(config_for(server, tmp_path / "out", backend, **{"llm.mode": "batch"}))
    assert result.status == "complete" and server.batches.created == len(journal_batches(tmp_path / "out"))
    assert Counter(server.batches.submitted()) == Counter(list(texts(tmp_path / "out")))


def test_expired_and_partly_failed_batches_send_the_rest_again(server, tmp_path):
    server.batches.inject_batch("expired", "partial")
    config = config_for(server, tmp_path / "out", **{"llm.mode": "batch", "llm.batch_size": 10,
                                                     "llm.max_failure_fraction": 0.5})
    result = generate(config)
    states = [b[4] for b in journal_batches(tmp_path / "out")]
    assert states[0] == "expired" and states.count("expired") == 1
    with sqlite3.connect(CorpusRun(tmp_path / "out").journal) as db:
        failed = db.execute("SELECT error FROM requests WHERE status='failed'").fetchall()
    # the expired half (5 entity requests) is sent again in a batch whose 3rd request gets a 500 (sent a
    # third time) and 5th a 400 (a failure that is not retried)
    assert [e for (e,) in failed] == ["batch: HTTP 400 (bad request)"]
    assert result.requests["entities"] == {"done": 9, "failed": 1} and result.records == len(texts(tmp_path / "out"))
    assert sorted(Counter(server.batches.submitted()).values())[-5:] == [2, 2, 2, 2, 3]
    assert all(set(counts) <= {"done", "failed"} for counts in result.requests.values())


def test_a_failed_batch_fails_its_requests_with_the_reason(server, tmp_path):
    server.batches.inject_batch("failed")
    with pytest.raises(GenerationFailed, match="failed validation"):
        generate(config_for(server, tmp_path / "out", **{"llm.mode": "batch"}))
    assert journal_batches(tmp_path / "out")[0][4] == "failed"


def test_dry_run_prices_batch_mode_at_half(server, tmp_path):
    online = estimate(config_for(server, tmp_path / "a"))
    batch = estimate(config_for(server, tmp_path / "b", **{"llm.mode": "batch"}))
    assert batch.cost_usd == pytest.approx(online.cost_usd / 2, abs=0.01) and online.cost_usd > 0
    assert "gpt-4o-mini" in online.price  # genai-prices' figure where installed, else the table's


def llm_settings(model, given_in=-1.0, given_out=-1.0, backend="openai", given_cached=-1.0):
    return type("LLM", (), dict(model=model, backend=backend, price_per_million_input=given_in,
                                 price_per_million_output=given_out, price_per_million_cached_input=given_cached,
                                 batch_discount=0.5))


def test_price_table_longest_prefix_and_overrides(monkeypatch):
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # the offline fallback: the table
    llm = llm_settings

    assert (price(llm("gpt-4o-mini-2024-07-18")).input, price(llm("gpt-4o-2024-08-06")).input) == (0.15, 2.5)
    assert price(llm("models/gemini-2.5-flash-lite")).output == 0.4
    unknown = price(llm("meta-llama/Llama-3.1-8B-Instruct"))
    assert unknown.cost(10**6, 10**6) == 0 and "not priced" in unknown.source
    given = price(llm("gpt-4o", 1.0, 2.0))
    assert given.cost(10**6, 10**6) == 3.0 and given.cost(10**6, 10**6, batch=True) == 1.5
    assert given.cost(10**6, 0, 10**6) == 1.0  # a hand-set input price is paid in full for cached tokens too
    assert price(llm("gpt-4o", 1.0, 2.0, given_cached=0.25)).cost(10**6, 0, 10**6) == 0.25
    mini = price(llm("gpt-4o-mini"))  # half of the input served from the cache, at OpenAI's cached rate
    assert mini.cost(2 * 10**6, 0, 10**6) == pytest.approx(0.15 + 0.075)
    assert "the price table (gpt-4o-mini" in mini.source


def test_prices_from_genai_prices_where_installed():
    genai_prices = pytest.importorskip("genai_prices", reason="the prices extra (genai-prices) is not installed")
    usage = genai_prices.Usage(input_tokens=10**6, output_tokens=10**6)
    for model, backend, provider in (("gpt-4o-2024-08-06", "openai", "openai"),
                                     ("models/gemini-2.5-flash", "gemini", "google")):
        reference = genai_prices.calc_price(usage, model_ref=model.removeprefix("models/"), provider_id=provider)
        got = price(llm_settings(model, backend=backend))
        assert (got.input, got.output) == (float(reference.input_price), float(reference.output_price))
        cached = genai_prices.calc_price(genai_prices.Usage(input_tokens=10**6, cache_read_tokens=10**6),
                                         model_ref=model.removeprefix("models/"), provider_id=provider)
        assert got.cached_input == float(cached.input_price) < got.input
        assert got.source.startswith("genai-prices ") and reference.model.id in got.source
    assert "not priced" in price(llm_settings("meta-llama/Llama-3.1-8B-Instruct")).source
    assert price(llm_settings("gpt-4o", 1.0, 2.0)).source == "price_per_million_*"


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_cached_input_tokens_are_priced_at_the_cached_rate_and_the_dry_run_guesses_them(server, tmp_path, backend,
                                                                                       monkeypatch):
    """A server whose prompt cache reports the prefix a prompt shares with earlier ones (here from 64
    tokens in steps of 16): every request is priced from the usage it reported, the summary counts the
    cached tokens, and the dry run, with the same cache rule, guesses them from the prompt layout."""
    server.prompt_cache(minimum=64, step=16)
    config = config_for(server, tmp_path / "out", backend, **{"llm.max_concurrency": 1})
    result = generate(config)
    assert result.cached_input_tokens == server.cached_reported > 0.2 * result.input_tokens
    rate = price(config.llm)
    with sqlite3.connect(CorpusRun(tmp_path / "out").journal) as db:
        rows = db.execute("SELECT input_tokens, output_tokens, cached_input_tokens, cost FROM requests").fetchall()
    assert all(cost == pytest.approx(rate.cost(i, o, c), abs=1e-12) for i, o, c, cost in rows)
    assert result.cost_usd == pytest.approx(sum(r[3] for r in rows), abs=1e-6)
    assert result.cost_usd < rate.cost(result.input_tokens, result.output_tokens) - 1e-9  # cheaper than full rate
    monkeypatch.setattr(estimate_module, "CACHE_MIN_TOKENS", 64)
    monkeypatch.setattr(estimate_module, "CACHE_STEP_TOKENS", 16)
    guess = estimate(config)  # the journal's entities: the plan the run sent
    assert guess.cached_input_tokens == pytest.approx(result.cached_input_tokens, rel=0.01)


def test_entities_are_asked_with_a_schema_and_fall_back_to_json_mode(server, tmp_path):
    server.inject("no_schema")
    result = generate(config_for(server, tmp_path / "out", **{"entigraph.max_pairs_per_doc": 1,
                                                              "entigraph.max_triples_per_doc": 0}))
    assert result.status == "complete"
    formats = [r["body"].get("response_format", {}).get("type") for r in server.requests
               if "JSON object" in r["body"]["messages"][-1]["content"]]
    assert formats[0] == "json_schema" and formats[-1] == "json_object"  # refused once, then JSON mode


STAND_IN = """#!{python}
import sys, json, runpy
from pathlib import Path
Path({argv!r}).write_text(json.dumps(sys.argv[1:]))
if {fail}:
    print("CUDA out of memory while loading the model", flush=True)
    sys.exit(1)
port = sys.argv[sys.argv.index("--port") + 1]
sys.argv = ["entigraph_jax.testing", "--port", port]
runpy.run_module("entigraph_jax.testing", run_name="__main__")
"""


def stand_in(tmp_path, fail=False) -> Path:
    """An executable that stands in for `vllm`: records its arguments, then serves the fake LLM."""
    path = tmp_path / "vllm"
    path.write_text(STAND_IN.format(python=sys.executable, argv=str(tmp_path / "argv.json"), fail=fail))
    path.chmod(0o755)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vllm_backend_starts_a_server_with_prefix_caching_and_stops_it(tmp_path):
    port = free_port()
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    for key, value in {"output_dir": tmp_path / "out", "llm.backend": "vllm", "llm.model": "Qwen/Qwen2.5-7B-Instruct",
                       "llm.base_url": f"http://127.0.0.1:{port}/v1", "llm.vllm.command": stand_in(tmp_path),
                       "llm.vllm.args": "('--max-model-len', '4096')", "llm.max_concurrency": 1,
                       "entigraph.max_pairs_per_doc": 3, "entigraph.triples_fraction": 0}.items():
        apply_override(config, key, str(value))
    result = generate(GenerateSettings.from_config(config))
    assert result.status == "complete" and result.records == 40
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv == ["serve", "Qwen/Qwen2.5-7B-Instruct", "--port", str(port), "--enable-prefix-caching",
                    "--max-model-len", "4096"]
    with pytest.raises(OSError):  # the server was stopped with the run
        import socket
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    pairs = [r for r in read_records(CorpusRun(tmp_path / "out").records) if r["kind"] == "pair"]
    docs = [r["doc_id"] for r in pairs]  # in the order sent: each document's requests together
    assert docs == sorted(docs, key=docs.index) and len(set(docs)) == 10


def test_vllm_backend_attaches_to_a_running_server_and_reports_a_failed_start(server, tmp_path):
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    for key, value in {"output_dir": tmp_path / "out", "llm.backend": "vllm", "llm.base_url": server.base_url + "/v1",
                       "llm.vllm.command": tmp_path / "nowhere", "entigraph.max_pairs_per_doc": 1,
                       "entigraph.triples_fraction": 0}.items():
        apply_override(config, key, str(value))
    settings = GenerateSettings.from_config(config)
    assert generate(settings).status == "complete"  # the server at base_url answered /health: nothing started
    failing = settings.override({"llm.base_url": f"http://127.0.0.1:{free_port()}/v1",
                                 "output_dir": str(tmp_path / "failed"),
                                 "llm.vllm.command": str(stand_in(tmp_path, fail=True))})
    with pytest.raises(GenerationFailed, match=r"(?s)exited with status 1 before it was healthy.*CUDA out of memory"):
        generate(failing)

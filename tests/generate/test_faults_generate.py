"""Generation broken on purpose: failing servers fail the run, one corpus per folder, one run per folder."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from entigraph_jax.clients.embedders import EmbedderError, OpenAIEmbedder
from entigraph_jax.config import ConfigError, apply_override, load_config_file
from entigraph_jax.data import load_source, read_records
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.generate.requests import InvalidEntities, parse_entities
from entigraph_jax.generate.run import GenerationFailed, generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.runs import CorpusRun
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until


@pytest.fixture
def server():
    return FakeLLMServer(hang_s=1.0, retry_after_s=0.01).start()


def config_for(server, out, **overrides):
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    settings = {"output_dir": out, "llm.model": "fake-model", "llm.base_url": server.base_url + "/v1",
                "llm.backoff_initial_s": 0.001, "llm.backoff_max_s": 0.01, "llm.max_concurrency": 4,
                "llm.timeout_s": 0.2, "llm.max_failures_in_a_row": 12, **overrides}
    for key, value in settings.items():
        apply_override(config, key, str(value))
    return GenerateSettings.from_config(config)


def command(out, *args):
    return [sys.executable, "-m", "entigraph_jax.generate", "--config", str(ROOT / "configs" / "entigraph_sample.py"),
            f"--config.output_dir={out}", "--config.llm.model=fake-model", "--config.llm.backoff_initial_s=0.001",
            "--config.llm.backoff_max_s=0.01", "--config.llm.timeout_s=0.2", "--config.llm.max_failures_in_a_row=12",
            *args]


@pytest.fixture
def generate_here(run_command):
    """The command as `command` gives it, in this process: (exit code, stdout, stderr)."""
    return lambda out, *args: run_command(generate_main.COMMAND, command(out, *args)[3:])


@pytest.mark.parametrize("fault", ["500", "html", "hello", "no_choices", "timeout", "429"])
def test_a_server_that_never_answers_fails_the_run(server, tmp_path, fault, generate_here):
    server.fail_always(fault)
    done = generate_here(tmp_path / "out", f"--config.llm.base_url={server.base_url}/v1")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("generate: error:")]
    assert len(errors) == 1 and "stopped after 12 failed attempts in a row" in errors[0], done.stderr
    summary = CorpusRun(tmp_path / "out").summary()
    assert summary["status"] == "failed" and summary["records"] == 0


def test_too_many_failed_requests_fail_the_run_and_keep_the_records(server, tmp_path):
    server.inject(*["empty", "ok", "ok"] * 200)  # a third of the answers are empty: never 12 in a row
    with pytest.raises(GenerationFailed, match=r"requests failed \(llm.max_failure_fraction=0.1\); failed "
                                               r"requests: \d+ x empty answer"):
        generate(config_for(server, tmp_path / "out"))
    corpus = CorpusRun(tmp_path / "out")
    summary = corpus.summary()
    assert summary["status"] == "failed" and summary["records"] == len(list(read_records(corpus.records)))
    assert summary["records"] > 0 and summary["errors"][0]["error"].startswith("empty answer")
    allowed = config_for(server, tmp_path / "again", **{"llm.max_failure_fraction": 0.5})
    server.inject(*["empty", "ok", "ok"] * 200)
    assert generate(allowed).status == "incomplete"  # within the allowed share: the run succeeds


def test_an_unreachable_server_fails_at_once(tmp_path, generate_here):
    out = tmp_path / "out"
    done = generate_here(out, "--config.llm.base_url=http://127.0.0.1:9/v1", "--config.llm.backoff_initial_s=30",
                         "--config.llm.max_failures_in_a_row=50")
    assert done.returncode == 1 and "generate: error: llm: cannot reach http://127.0.0.1:9/v1" in done.stderr
    assert CorpusRun(out).summary()["retried_this_run"] == 0  # no 30 s backoff taken
    bad_url = generate_here(tmp_path / "url", "--config.llm.base_url=htp:/nowhere")
    assert bad_url.returncode == 1 and "is not an http(s) URL with a host" in bad_url.stderr


def test_an_output_dir_holds_one_corpus_unless_appending(server, tmp_path):
    out = tmp_path / "out"
    first = generate(config_for(server, out))
    with pytest.raises(ConfigError, match=r"holds a corpus written with other settings \(model 'fake-model' -> "
                                          r"'other-model'\).*--config.append=true"):
        generate(config_for(server, out, **{"llm.model": "other-model"}))
    assert len(list(read_records(CorpusRun(out).records))) == first.records  # nothing added or lost
    both = generate(config_for(server, out, **{"llm.model": "other-model", "append": "true"}))
    assert both.records_by_model == {"fake-model": first.records, "other-model": both.records - first.records}
    runs = json.loads(CorpusRun(out).manifest.read_text())["runs"]
    assert [r["model"] for r in runs] == ["fake-model", "other-model"]


def wait_for_lock(out: Path, process) -> dict:
    wait_until(lambda: (out / ".lock").is_file() and (out / ".lock").read_text().strip(), process,
               what="the run's lock")
    return json.loads((out / ".lock").read_text())


@pytest.mark.slow  # real processes, one killed
def test_one_generate_per_output_dir(tmp_path, generate_here):
    slow = FakeLLMServer(latency_s=2.0).start()  # slow enough that the first run is still working when killed
    out = tmp_path / "out"
    first = subprocess.Popen(command(out, f"--config.llm.base_url={slow.base_url}/v1", "--config.llm.timeout_s=30"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = wait_for_lock(out, first)
    assert holder["pid"] == first.pid
    second = generate_here(out, f"--config.llm.base_url={slow.base_url}/v1")
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith(f"generate: error: generate output_dir {out}: in use by "
                                                             f"pid {first.pid}")
    wait_until(lambda: slow.requests, first, what="the first run's first request")  # its journal is made
    os.kill(first.pid, signal.SIGKILL)  # a crash leaves its lock behind
    first.communicate()
    with sqlite3.connect(CorpusRun(out).journal) as db:
        finished = db.execute("SELECT COUNT(*) FROM requests WHERE status='done'").fetchone()[0]
    sent = len(slow.requests)
    third = generate_here(out, f"--config.llm.base_url={slow.base_url}/v1", "--config.llm.timeout_s=30")
    assert third.returncode == 0, third.stderr
    assert f"taking over the lock of pid {first.pid}, which no longer runs" in third.stderr
    records = CorpusRun(out).summary()["records"]
    assert len(slow.requests) - sent == records - finished  # only what the killed run had not finished
    assert (out / ".lock").read_text() == ""  # released


def test_junk_entities_are_dropped_and_kept_in_the_record():
    document = load_source("sample")[0].text  # "The Salt Bells of Quarrowmere"
    answer = json.dumps({"summary": "Bells.", "entities": [
        "} {[1]}  {{{", "fieldnames", "Quarrowmere", "quarrowmere", "  The   Salt Bells ", "x" * 150, 42,
        "Zanzibar Telegraph"]})
    summary, entities, dropped = parse_entities(answer, document)
    assert summary == "Bells." and entities == ["Quarrowmere", "The Salt Bells"]
    assert dropped == ["} {[1]} {{{", "fieldnames", "x" * 150, "42", "Zanzibar Telegraph"]
    with pytest.raises(InvalidEntities, match=r"no usable entity in the 'entities' list \(dropped: \} \{\[1\]\}"):
        parse_entities(json.dumps({"entities": ["} {[1]}  {{{", "fieldnames"]}), document)


def test_names_of_digits_and_signs_are_entities_and_only_debris_is_dropped():
    """With the in-document check off, every name the model returns is kept, as in the paper; only debris goes."""
    names = ["1984", "X-15", "R2-D2", "9/11", "C-3PO", "42nd Street", "A.I."]
    debris = ["", "  ", "--", "{\"name\": 1}", "[", "null", "y" * 101]
    _, entities, dropped = parse_entities(json.dumps({"entities": names + debris}))
    assert entities == names and dropped == [d for d in debris if d.strip()]
    in_text = "In 1984 the X-15 flew past R2-D2 on 9/11."
    _, entities, dropped = parse_entities(json.dumps({"entities": [*names[:4], "Zanzibar"]}), in_text)
    assert entities == names[:4] and dropped == ["Zanzibar"]


def test_a_failed_entity_answer_is_kept_in_the_journal(server, tmp_path):
    server.inject("malformed", "malformed", "malformed")  # the first document's three entity attempts
    config = config_for(server, tmp_path / "out", **{"llm.max_concurrency": 1, "llm.max_failure_fraction": 0.5})
    generate(config)
    with sqlite3.connect(CorpusRun(tmp_path / "out").journal) as db:
        (error, answer), = db.execute("SELECT error, answer FROM requests WHERE status='failed'").fetchall()
    assert error.startswith("invalid entity JSON after 3 attempt(s): not JSON")
    assert answer.startswith('{"summary": ') and len(answer) > 20  # the half answer the server sent


def test_per_token_embeddings_are_refused_in_one_line(server):
    server.fail_always("per_token")
    embedder = OpenAIEmbedder(server.base_url + "/v1", "fake-embed", None)
    with pytest.raises(EmbedderError, match=r"/embeddings: the server returned one vector per token \(\d+ x 64\), "
                                            r"not one per text; start it with pooling"):
        embedder.embed(["The Salt Bells of Quarrowmere", "A Short History of the Drennick Canal"])


KEY = "sk-test-0123456789abcdefSECRET"


def written(out: Path) -> bytes:
    """Every byte the run left in its folder: the journal, the summary, the records."""
    return b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())


def backend_flags(server, backend: str) -> list[str]:
    url = f"{server.base_url}/v1" if backend == "openai" else server.base_url
    return [f"--config.llm.backend={backend}", f"--config.llm.base_url={url}", "--config.llm.max_failures_in_a_row=3",
            "--config.llm.max_failure_fraction=1", "--config.llm.timeout_s=30"]  # no timeouts on a loaded machine


@pytest.mark.parametrize("backend", ["openai", "gemini"])
@pytest.mark.parametrize("fault", ["echo401", "echo400", "echo500"])
def test_a_server_that_echoes_the_key_never_gets_it_printed_or_written(server, tmp_path, fault, generate_here,
                                                                       monkeypatch, backend):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    server.fail_always(fault)
    out = tmp_path / "out"
    done = generate_here(out, *backend_flags(server, backend))
    shown = done.stderr + written(out).decode(errors="replace")
    assert done.returncode == 1 and KEY not in shown + done.stdout and KEY.encode() not in written(out)
    assert "0123456789" not in shown  # no part of it either
    if (fault, backend) != ("echo500", "gemini"):  # the Gemini backend keeps a 5xx's status alone
        assert "request refused; it had the headers" in shown and "[redacted]" in shown


@pytest.mark.parametrize("backend", ["openai", "gemini"])
@pytest.mark.parametrize("fault", ["garbage200", "garbage400", "garbage500"])
def test_an_unreadable_answer_is_one_bounded_line_in_every_file(server, tmp_path, generate_here, monkeypatch,
                                                                  backend, fault):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    server.fail_always(fault)  # 1 MB of invalid UTF-8
    out = tmp_path / "out"
    done = generate_here(out, *backend_flags(server, backend))
    assert len(done.stderr) < 5000, done.stderr[-3000:]
    assert CorpusRun(out).summary_path.stat().st_size < 10_000 and len(written(out)) < 200_000


def test_an_api_key_with_a_line_break_is_refused_in_one_line(server, tmp_path, generate_here, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-first-half\nsk-second-half")
    done = generate_here(tmp_path / "out", f"--config.llm.base_url={server.base_url}/v1")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "generate: error: llm: the API key from the environment variable OPENAI_API_KEY contains a space, line break "
        "or non-ASCII character; a key is one word"]
    assert not server.requests


def test_an_hour_of_retry_after_is_capped_and_said(tmp_path):
    slow_down = FakeLLMServer(retry_after_s=3600).start()
    slow_down.inject("429")
    config = config_for(slow_down, tmp_path / "out", **{"llm.backoff_max_s": 0.05, "llm.max_concurrency": 1})
    with pytest.MonkeyPatch.context() as patch:
        lines = []
        patch.setattr("entigraph_jax.llm.engine.tqdm.write", lambda text, file=None: lines.append(text))
        assert generate(config).status == "complete"
    assert lines == ["llm: the server asked to wait 3600 s (HTTP 429); waiting llm.backoff_max_s=0.05 s "
                     "between tries instead"]


def test_two_documents_with_one_id_are_refused_by_name(server, tmp_path, generate_here):
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in [
        ("a", "The Salt Bells of Quarrowmere ring at dawn."), ("b", "Drennick Canal."), ("a", "Another page.")]))
    out = tmp_path / "out"
    done = generate_here(out, f"--config.llm.base_url={server.base_url}/v1", f"--config.source=jsonl:{corpus}")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"generate: error: jsonl:{corpus}: documents 1 and 3 share the id 'a'; each document needs its own id"]
    assert not server.requests and not out.exists()


def test_a_document_without_text_is_left_out_aloud(server, tmp_path, generate_here):
    corpus = tmp_path / "wiki.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in [
        ("a", "The Salt Bells of Quarrowmere ring at dawn."), ("b", "  \n"), ("c", "The Drennick Canal Company.")]))
    done = generate_here(tmp_path / "out", f"--config.llm.base_url={server.base_url}/v1",
                         f"--config.source=jsonl:{corpus}")
    assert done.returncode == 0, done.stderr
    assert f"jsonl:{corpus}: 1 document(s) without text left out (ids 'b')" in done.stderr
    assert CorpusRun(tmp_path / "out").summary()["documents"] == 2


def test_a_damaged_journal_is_one_line_and_left_as_it_was(server, tmp_path, generate_here):
    out = tmp_path / "out"
    generate(config_for(server, out))
    journal = CorpusRun(out).journal
    journal.write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)  # a header, then garbage
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    done = generate_here(out, f"--config.llm.base_url={server.base_url}/v1")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"generate: error: {journal}: not a readable journal (file is not a database); nothing was changed"]
    assert {p: p.read_bytes() for p in before} == before


def test_a_full_disk_is_one_line_keeps_the_journal_and_the_rerun_resumes(server, tmp_path, generate_here,
                                                                        monkeypatch):
    from entigraph_jax.data import records

    real = records.ArrayRecordWriter

    class Full:  # ArrayRecord's writer on a disk that fills after 2000 bytes, failing as the real one does
        def __init__(self, path, options):
            self.writer, self.size = real(path, options), 0

        def write(self, data):
            self.size += len(data)
            if self.size > 2000:
                raise RuntimeError("write() failed: No space left on device")
            self.writer.write(data)

        def close(self):
            self.writer.close()

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(records, "ArrayRecordWriter", Full)
        done = generate_here(out, f"--config.llm.base_url={server.base_url}/v1")
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 1 and len(errors) == 1 and errors[0].startswith("generate: error: the disk is full ("), \
        done.stderr[-2000:]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".records")]
    sent = len(server.requests)

    def journaled(status: str = "") -> int:
        with sqlite3.connect(CorpusRun(out).journal) as db:
            where, args = ("WHERE status=?", (status,)) if status else ("", ())
            return db.execute(f"SELECT COUNT(*) FROM requests {where}", args).fetchone()[0]

    answered = journaled("done")  # the write may fail before every stage was asked: a rerun asks the rest
    assert answered
    again = generate_here(out, f"--config.llm.base_url={server.base_url}/v1")
    # every answer was in the journal: the rerun asks only for what the first run had not answered
    assert again.returncode == 0 and len(server.requests) - sent == journaled() - answered


def test_sigterm_writes_what_was_answered_and_the_rerun_sends_only_the_rest(tmp_path):
    slow = FakeLLMServer(latency_s=0.3).start()
    out = tmp_path / "out"
    process = subprocess.Popen(command(out, f"--config.llm.base_url={slow.base_url}/v1", "--config.llm.timeout_s=30",
                                       "--config.llm.max_concurrency=2"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_lock(out, process)
    wait_until(lambda: len(slow.requests) >= 14, process, what="the entity answers and a few pairs")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate()
    assert process.returncode == 143 and stderr.strip().splitlines()[-1].startswith(
        "generate: SIGTERM: stopped with "), stderr[-2000:]
    summary = CorpusRun(out).summary()
    assert summary["status"] == "stopped" and summary["records"] == len(list(read_records(CorpusRun(out).records)))
    with sqlite3.connect(CorpusRun(out).journal) as db:
        done = db.execute("SELECT COUNT(*) FROM requests WHERE status='done'").fetchone()[0]
    sent = len(slow.requests)
    rerun = subprocess.run(command(out, f"--config.llm.base_url={slow.base_url}/v1", "--config.llm.timeout_s=30"),
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(slow.requests) - sent == CorpusRun(out).summary()["records"] - done  # only what had no answer


@pytest.mark.parametrize("flag, message", [
    ("--config.llm.timeout_s=-1", "config: llm.timeout_s=-1.0: must be positive"),
    ("--config.llm.max_failure_fraction=-1", "config: llm.max_failure_fraction=-1.0: must be in [0, 1]"),
    ("--config.llm.backoff_max_s=-5", "config: llm.backoff_max_s=-5.0: must be >= 0"),
])
def test_a_nonsense_setting_is_refused_before_any_request(server, tmp_path, generate_here, flag, message):
    done = generate_here(tmp_path / "out", f"--config.llm.base_url={server.base_url}/v1", flag)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [f"generate: error: {message}"]
    assert not server.requests and not (tmp_path / "out").exists()


def test_the_fake_server_on_a_port_in_use_is_one_line(run_command):
    from entigraph_jax.testing import __main__ as testing_main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_command(testing_main.COMMAND, ["--port", port])
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"testing: error: cannot listen on 127.0.0.1:{port} (Address already in use); choose another with --port "
        "(0: any free one)"]

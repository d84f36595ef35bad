"""SIGKILL at several points, then reruns: the final record set equals the planned set exactly."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from entigraph_jax.data import read_records
from entigraph_jax.runs import CorpusRun
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until


def command(server, out):
    return [sys.executable, "-m", "entigraph_jax.generate", "--config", str(ROOT / "configs" / "entigraph_sample.py"),
            f"--config.output_dir={out}", f"--config.llm.base_url={server.base_url}/v1",
            "--config.llm.model=fake-model", "--config.llm.max_concurrency=4"]


def done_count(journal: Path) -> int:
    if not journal.is_file():
        return 0
    try:
        with sqlite3.connect(journal, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def record_set(out: Path):
    records = list(read_records(CorpusRun(out).records))
    assert len({r["request_id"] for r in records}) == len(records), "duplicate records"
    return sorted((r["request_id"], r["kind"], r["text"]) for r in records)


@pytest.mark.slow  # real processes killed with SIGKILL
def test_killed_runs_resume_to_the_planned_set(tmp_path):
    server = FakeLLMServer(latency_s=0.02).start()
    reference = subprocess.run(command(server, tmp_path / "reference"), capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    expected = record_set(tmp_path / "reference")

    out = tmp_path / "killed"
    for kill_after in (0, 5, 60, 150):  # before any answer, during entities, during pairs, near the end
        process = subprocess.Popen(command(server, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda n=kill_after, p=process: done_count(CorpusRun(out).journal) >= n or p.poll() is not None,
                   what=f"{kill_after} answers journaled", poll_s=0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert done_count(CorpusRun(out).journal) < len(expected)
    missing = len(expected) - done_count(CorpusRun(out).journal)
    sent_before = len(server.requests)
    final = subprocess.run(command(server, out), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert record_set(out) == expected
    assert len(server.requests) - sent_before == missing  # the rerun sent only what was missing

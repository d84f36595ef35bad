"""launch/tpu_vm.py against a fake `gcloud` on PATH that records its arguments."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
ARGS = ["--name", "cpt-8b", "--zone", "us-east5-a", "--accelerator", "v5p-8", "--bucket", "gs://runs/x",
        "--config", "configs/cpt_llama3_8b_quality.py"]


def fake_gcloud(tmp_path, fail_on: str = "") -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "gcloud.jsonl"
    script = bin_dir / "gcloud"
    script.write_text(f"""#!{sys.executable}
import json, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(1 if {fail_on!r} and {fail_on!r} in sys.argv[1:] else 0)
""")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def launch(env, *args):
    return subprocess.run([sys.executable, "launch/tpu_vm.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)


def recorded(tmp_path):
    log = tmp_path / "gcloud.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_dry_run_prints_exactly_what_a_real_run_sends(tmp_path):
    env = fake_gcloud(tmp_path)
    dry = launch(env, "all", *ARGS, "--spot", "--dry_run", "--", "--config.model.path=/ckpt/llama3")
    assert dry.returncode == 0, dry.stderr
    assert not recorded(tmp_path)  # a dry run calls nothing
    real = launch(env, "all", *ARGS, "--spot", "--", "--config.model.path=/ckpt/llama3")
    assert real.returncode == 0, real.stderr
    printed = [shlex.split(line) for line in dry.stdout.splitlines()]
    assert [cmd[1:] for cmd in printed if cmd[0] == "gcloud"] == recorded(tmp_path)
    calls = recorded(tmp_path)
    assert calls[0][:5] == ["compute", "tpus", "tpu-vm", "create", "cpt-8b"] and "--spot" in calls[0]
    run = next(c for c in calls if any("entigraph_jax.train" in a for a in c))
    assert "--worker=all" in run and "--config.distributed.initialize=true" in run[-1]
    assert "--config.model.path=/ckpt/llama3" in run[-1]
    assert calls[-1] == ["compute", "tpus", "tpu-vm", "delete", "cpt-8b", "--zone=us-east5-a", "--quiet"]


def test_queued_resources_and_a_failing_step(tmp_path):
    env = fake_gcloud(tmp_path, fail_on="ssh")
    queued = launch(env, "create", *ARGS, "--queued")
    assert queued.returncode == 0 and recorded(tmp_path)[0][:4] == ["compute", "tpus", "queued-resources", "create"]
    failed = launch(env, "run", *ARGS)
    assert failed.returncode == 1 and "run failed" in failed.stderr and "kept for inspection" in failed.stderr
    bad = launch(env, "create", *ARGS[:4], "--accelerator", "v9-8")
    assert bad.returncode != 0 and "unknown accelerator type 'v9-8'" in bad.stderr

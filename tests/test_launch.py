"""launch/tpu_vm.py against a fake `gcloud` on PATH that records its arguments."""

import json
import os
import shlex
import subprocess
import sys

from tests.helpers import ROOT

ARGS = ["--name", "cpt-8b", "--zone", "us-east5-a", "--accelerator", "v5p-8", "--bucket", "gs://runs/x",
        "--config", "configs/cpt_llama3_8b_quality.py"]


def fake_gcloud(tmp_path, fail_on: str = "", script: dict | None = None) -> dict:
    """A `gcloud` that records its arguments. `script` maps a word of the arguments to the answers of
    successive calls that contain it, each (exit code, stdout); the last answer repeats."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "gcloud.jsonl"
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(script or {}))
    fake = bin_dir / "gcloud"
    fake.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
script = json.load(open({str(answers)!r}))
for word, queue in script.items():
    if any(word in a for a in args):
        code, out = queue.pop(0) if len(queue) > 1 else queue[0]
        json.dump(script, open({str(answers)!r}, "w"))
        print(out)
        sys.exit(code)
sys.exit(1 if {fail_on!r} and {fail_on!r} in args else 0)
""")
    fake.chmod(0o755)
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


def test_queued_resources_are_waited_for_and_a_failing_step(tmp_path):
    env = fake_gcloud(tmp_path, fail_on="ssh", script={"describe": [(0, "WAITING_FOR_RESOURCES"), (0, "PROVISIONING"),
                                                                      (0, "ACTIVE")]})
    queued = launch(env, "create", *ARGS, "--queued", "--poll_s=0")
    calls = recorded(tmp_path)
    assert queued.returncode == 0 and calls[0][:4] == ["compute", "tpus", "queued-resources", "create"]
    assert [c[3] for c in calls[1:]] == ["describe"] * 3 and "--format=value(state.state)" in calls[1]
    failed = launch(env, "run", *ARGS)
    assert failed.returncode == 1 and "run failed" in failed.stderr and "kept for inspection" in failed.stderr
    bad = launch(env, "create", *ARGS[:4], "--accelerator", "v9-8")
    assert bad.returncode != 0 and "unknown accelerator type 'v9-8'" in bad.stderr


def test_install_uses_python_3_11_and_the_bucket_holds_the_workdir(tmp_path):
    dry = launch(fake_gcloud(tmp_path), "all", *ARGS, "--dry_run")
    lines = dry.stdout.splitlines()
    install = next(line for line in lines if "pip install" in line)
    assert "python3.11 -m venv .venv" in install and "apt-get install -y -q python3.11 python3.11-venv" in install
    run = next(line for line in lines if "entigraph_jax.train" in line)
    assert "--workdir=gs://runs/x/cpt-8b" in run  # checkpoints outlive the VM
    assert not any("storage cp" in line for line in lines)  # nothing to copy: the workdir is the bucket


def test_a_preempted_run_is_recreated_reinstalled_and_rerun(tmp_path):
    env = fake_gcloud(tmp_path, script={"entigraph_jax.train": [(255, ""), (0, "")],
                                        "describe": [(0, "PREEMPTED"), (0, "READY")]})
    done = launch(env, "all", *ARGS, "--spot")
    assert done.returncode == 0, done.stderr
    steps = [c[3] if c[2] == "tpu-vm" else c[0] for c in recorded(tmp_path)]
    assert steps == ["create", "scp", "ssh", "ssh", "describe", "delete", "create", "scp", "ssh", "ssh", "delete"]
    assert "VM is PREEMPTED: recreating it (retry 1 of 3)" in done.stderr


def test_a_run_that_fails_on_a_healthy_vm_is_not_retried(tmp_path):
    env = fake_gcloud(tmp_path, script={"entigraph_jax.train": [(1, "")], "describe": [(0, "READY")]})
    done = launch(env, "all", *ARGS, "--retries=5")
    assert done.returncode == 1 and "run failed (exit 1)" in done.stderr
    assert sum(1 for c in recorded(tmp_path) if c[3] == "create") == 1


def test_the_sbp_stage_runs_every_step_on_every_worker(tmp_path):
    env = fake_gcloud(tmp_path)
    done = launch(env, "run", *ARGS[:-2], "--config", "configs/sbp_paper_3b_200b.py", "--stage", "sbp", "--",
                  "--config.corpus=records:/data/dclm")
    assert done.returncode == 0, done.stderr
    [run] = recorded(tmp_path)
    assert "--worker=all" in run
    assert ("python -m entigraph_jax.sbp run --config configs/sbp_paper_3b_200b.py "
            "--config.joint.distributed.initialize=true --workdir=gs://runs/x/cpt-8b "
            "--config.corpus=records:/data/dclm") in run[-1]


def test_the_slurm_script_runs_the_stage_it_is_given(tmp_path):
    """launch/slurm_multinode.sbatch with a fake `srun` on PATH that prints what it would start."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\necho \"$@\"\n")
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NAME": "sbp", "SLURM_JOB_ID": "7"}

    def submit(stage, *args):
        return subprocess.run(["bash", "launch/slurm_multinode.sbatch", *args], cwd=ROOT, capture_output=True,
                              text=True, env={**env, **({"STAGE": stage} if stage else {})})

    train = submit("", "configs/quickstart.py", "--config.max_steps=5")
    assert train.stdout.split() == [".venv/bin/python", "-m", "entigraph_jax.train", "--config",
                                    "configs/quickstart.py", "--config.distributed.initialize=true", "--workdir",
                                    "workdir/sbp-7", "--config.max_steps=5"]
    sbp = submit("sbp", "configs/sbp_quickstart.py")
    assert sbp.stdout.split() == [".venv/bin/python", "-m", "entigraph_jax.sbp", "run", "--config",
                                  "configs/sbp_quickstart.py", "--config.joint.distributed.initialize=true",
                                  "--workdir", "workdir/sbp-7"]
    wrong = submit("generate", "configs/quickstart.py")
    assert wrong.returncode == 2 and wrong.stderr.strip() == "STAGE=generate: expected train or sbp"

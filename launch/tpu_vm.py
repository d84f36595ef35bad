"""Run a training job on a Cloud TPU VM: create, install, run, copy results, delete.

    python launch/tpu_vm.py all --name cpt-8b --zone us-east5-a --accelerator v5p-8 \
        --config configs/cpt_llama3_8b_quality.py --bucket gs://my-bucket/runs [--spot | --queued] \
        [--dry_run] [-- --config.model.path=/ckpt/Meta-Llama-3-8B ...]

Steps: `create` (on-demand, `--spot`, or `--queued` resources; a queued resource is waited for
until it is ACTIVE), `install` (copies the committed tree to every worker and installs it with the
TPU extra in a Python 3.11 virtual environment), `run` (the same train command on all workers, with
`jax.distributed` initialised automatically), `copy` (a local workdir to the bucket), `delete`, or
`all` in that order. With `--bucket` the workdir defaults to `BUCKET/NAME` (gs://), so checkpoints
outlive the VM: when `run` fails because the VM was preempted, `all` deletes it, creates it again,
installs and reruns, and the run resumes from its last checkpoint (`--retries` times). Every step
takes `--dry_run`, which prints the exact commands instead of running them.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

RUNTIME = {"v4": "tpu-ubuntu2204-base", "v5litepod": "v2-alpha-tpuv5-lite", "v5p": "v2-alpha-tpuv5",
           "v6e": "v2-alpha-tpuv6e"}
REMOTE_DIR = "~/entigraph-jax"
ARCHIVE = "/tmp/entigraph-jax.tar.gz"
PYTHON = "python3.11"  # the project's floor; TPU VM images ship an older python3
QUEUED_FAILED = ("FAILED", "SUSPENDED", "SUSPENDING")  # a queued resource that will not become ACTIVE
PREEMPTED = ("PREEMPTED", "TERMINATED", "STOPPED", "SUSPENDED", "NOT_FOUND")  # a VM whose run cannot go on


# --stage -> (the command after `python -m`, the settings section that starts jax.distributed)
STAGES = {"train": (["entigraph_jax.train"], "distributed"), "sbp": (["entigraph_jax.sbp", "run"], "joint.distributed")}


def runtime_for(accelerator: str) -> str:
    family = accelerator.rsplit("-", 1)[0]
    if family not in RUNTIME:
        raise SystemExit(f"tpu_vm: unknown accelerator type {accelerator!r} (known: "
                         f"{', '.join(f'{f}-N' for f in RUNTIME)})")
    return RUNTIME[family]


def ssh(args, command: str, worker: str = "all") -> list[str]:
    return ["gcloud", "compute", "tpus", "tpu-vm", "ssh", args.name, f"--zone={args.zone}", f"--worker={worker}",
            f"--command={command}"]


def commands(step: str, args) -> list[list[str]]:
    zone = f"--zone={args.zone}"
    if step == "create":
        if args.queued:
            cmd = ["gcloud", "compute", "tpus", "queued-resources", "create", args.name, f"--node-id={args.name}",
                   zone, f"--accelerator-type={args.accelerator}", f"--runtime-version={runtime_for(args.accelerator)}"]
        else:
            cmd = ["gcloud", "compute", "tpus", "tpu-vm", "create", args.name, zone,
                   f"--accelerator-type={args.accelerator}", f"--version={runtime_for(args.accelerator)}"]
        return [cmd + (["--spot"] if args.spot else [])]
    if step == "install":  # the committed tree (git archive), not local venvs and run folders
        return [["git", "archive", "--format=tar.gz", f"--output={ARCHIVE}", "HEAD"],
                ["gcloud", "compute", "tpus", "tpu-vm", "scp", ARCHIVE, f"{args.name}:~/", zone, "--worker=all"],
                ssh(args, f"(command -v {PYTHON} || (sudo apt-get update -q && sudo apt-get install -y -q "
                          f"{PYTHON} {PYTHON}-venv)) && mkdir -p {REMOTE_DIR} && "
                          f"tar -xzf ~/entigraph-jax.tar.gz -C {REMOTE_DIR} && cd {REMOTE_DIR} && "
                          f"{PYTHON} -m venv .venv && . .venv/bin/activate && pip install -q -e '.[tpu]'")]
    if step == "run":
        module, distributed = STAGES[args.stage]
        command = ["python", "-m", *module, "--config", args.config, f"--config.{distributed}.initialize=true",
                   f"--workdir={args.workdir}", *args.overrides]
        return [ssh(args, f"cd {REMOTE_DIR} && . .venv/bin/activate && {shlex.join(command)}")]
    if step == "copy":
        if not args.bucket:
            raise SystemExit("tpu_vm: copy needs --bucket gs://...")
        if args.workdir.startswith("gs://"):
            return []  # already there
        return [ssh(args, f"cd {REMOTE_DIR} && gcloud storage cp -r {shlex.quote(args.workdir)} "
                          f"{shlex.quote(args.bucket.rstrip('/') + '/' + args.name)}", worker="0")]
    if step == "delete":
        if args.queued:
            return [["gcloud", "compute", "tpus", "queued-resources", "delete", args.name, zone, "--force", "--quiet"]]
        return [["gcloud", "compute", "tpus", "tpu-vm", "delete", args.name, zone, "--quiet"]]
    raise ValueError(step)


def state_command(args) -> list[str]:
    """The command that prints the queued resource's state (--queued) or the VM's."""
    kind = ["queued-resources", "describe"] if args.queued else ["tpu-vm", "describe"]
    field = "state.state" if args.queued else "state"
    return ["gcloud", "compute", "tpus", *kind, args.name, f"--zone={args.zone}", f"--format=value({field})"]


def state(args) -> str:
    done = subprocess.run(state_command(args), capture_output=True, text=True)
    return done.stdout.strip().upper() if done.returncode == 0 else "NOT_FOUND"


def wait_until_active(args) -> None:
    """Poll a queued resource until it is ACTIVE (its VM exists); fail if it cannot become so."""
    print(shlex.join(state_command(args)) + f"  # every {args.poll_s:g} s until ACTIVE", flush=True)
    if args.dry_run:
        return
    waited = 0.0
    while (now := state(args)) != "ACTIVE":
        if now in QUEUED_FAILED:
            raise Failure("create", f"the queued resource {args.name!r} is {now}")
        if waited >= args.wait_s:
            raise Failure("create", f"the queued resource {args.name!r} is still {now} after {args.wait_s:g} s")
        time.sleep(args.poll_s)
        waited += args.poll_s


class Failure(Exception):
    def __init__(self, step: str, why: str):
        super().__init__(why)
        self.step = step


def execute(step: str, args) -> None:
    for cmd in commands(step, args):
        print(shlex.join(cmd), flush=True)
        if not args.dry_run:
            done = subprocess.run(cmd)
            if done.returncode:
                raise Failure(step, f"exit {done.returncode}")
    if step == "create" and args.queued:
        wait_until_active(args)


def run_with_retries(args) -> None:
    """`run`; when it fails because the VM was preempted, recreate, reinstall and rerun (it resumes)."""
    for attempt in range(args.retries + 1):
        try:
            execute("run", args)
            return
        except Failure:
            now = "" if args.dry_run else state(args)
            if now not in PREEMPTED or attempt == args.retries:
                raise
            print(f"tpu_vm: the run stopped and the VM is {now}: recreating it (retry {attempt + 1} of "
                  f"{args.retries}); the run resumes from its last checkpoint", file=sys.stderr, flush=True)
            if now != "NOT_FOUND":
                execute("delete", args)
            execute("create", args)
            execute("install", args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="launch/tpu_vm.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["create", "install", "run", "copy", "delete", "all"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--accelerator", default="v5p-8")
    parser.add_argument("--config", default="configs/cpt_llama3_8b_quality.py")
    parser.add_argument("--stage", choices=tuple(STAGES), default="train",
                        help="what every worker runs: train, or sbp (every SBP step, each host its share of the "
                             "mining and synthesis)")
    parser.add_argument("--workdir", default="", help="the run's workdir (default: BUCKET/NAME with --bucket, "
                                                        "else workdir/run on the VM)")
    parser.add_argument("--bucket", default="")
    capacity = parser.add_mutually_exclusive_group()
    capacity.add_argument("--spot", action="store_true", help="spot capacity (can be preempted)")
    capacity.add_argument("--queued", action="store_true", help="queued resources (waits for capacity)")
    parser.add_argument("--dry_run", action="store_true", help="print the gcloud commands, run nothing")
    parser.add_argument("--retries", type=int, default=3, help="times `all` recreates a preempted VM and reruns")
    parser.add_argument("--poll_s", type=float, default=30.0, help="seconds between queued-resource state checks")
    parser.add_argument("--wait_s", type=float, default=86400.0, help="longest wait for a queued resource")
    args = parser.parse_args(argv)
    args.overrides = overrides
    args.workdir = args.workdir or (f"{args.bucket.rstrip('/')}/{args.name}" if args.bucket else "workdir/run")
    steps = ["create", "install", "run", "copy", "delete"] if args.step == "all" else [args.step]
    if args.step == "all" and not args.bucket:
        steps.remove("copy")
    try:
        for step in steps:
            run_with_retries(args) if step == "run" and args.step == "all" else execute(step, args)
    except Failure as failure:
        print(f"tpu_vm: {failure.step} failed ({failure}); the TPU VM {args.name!r} is kept for inspection: "
              "delete it with `launch/tpu_vm.py delete`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

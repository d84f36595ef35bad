"""Run a training job on a Cloud TPU VM: create, install, run, copy results, delete.

    python launch/tpu_vm.py all --name cpt-8b --zone us-east5-a --accelerator v5p-8 \
        --config configs/cpt_llama3_8b_quality.py --bucket gs://my-bucket/runs [--spot | --queued] \
        [--dry_run] [-- --config.model.path=/ckpt/Meta-Llama-3-8B ...]

Steps: `create` (on-demand, `--spot`, or `--queued` resources), `install` (copies the committed
tree to every worker and installs it with the TPU extra), `run` (the same train command on all workers,
with `jax.distributed` initialised automatically), `copy` (the workdir to the bucket), `delete`, or
`all` in that order. Every step takes `--dry_run`, which prints the exact commands instead of running them.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

RUNTIME = {"v4": "tpu-ubuntu2204-base", "v5litepod": "v2-alpha-tpuv5-lite", "v5p": "v2-alpha-tpuv5",
           "v6e": "v2-alpha-tpuv6e"}
REMOTE_DIR = "~/entigraph-jax"
ARCHIVE = "/tmp/entigraph-jax.tar.gz"


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
                ssh(args, f"mkdir -p {REMOTE_DIR} && tar -xzf ~/entigraph-jax.tar.gz -C {REMOTE_DIR} && "
                          f"cd {REMOTE_DIR} && python3 -m venv .venv && . .venv/bin/activate && "
                          "pip install -q -e '.[tpu]'")]
    if step == "run":
        train = ["python", "-m", "entigraph_jax.train", "--config", args.config,
                 "--config.distributed.initialize=true", f"--workdir={args.workdir}", *args.overrides]
        return [ssh(args, f"cd {REMOTE_DIR} && . .venv/bin/activate && {shlex.join(train)}")]
    if step == "copy":
        if not args.bucket:
            raise SystemExit("tpu_vm: copy needs --bucket gs://...")
        return [ssh(args, f"cd {REMOTE_DIR} && gcloud storage cp -r {shlex.quote(args.workdir)} "
                          f"{shlex.quote(args.bucket.rstrip('/') + '/' + args.name)}", worker="0")]
    if step == "delete":
        if args.queued:
            return [["gcloud", "compute", "tpus", "queued-resources", "delete", args.name, zone, "--force", "--quiet"]]
        return [["gcloud", "compute", "tpus", "tpu-vm", "delete", args.name, zone, "--quiet"]]
    raise ValueError(step)


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
    parser.add_argument("--workdir", default="workdir/run")
    parser.add_argument("--bucket", default="")
    capacity = parser.add_mutually_exclusive_group()
    capacity.add_argument("--spot", action="store_true", help="spot capacity (can be preempted)")
    capacity.add_argument("--queued", action="store_true", help="queued resources (waits for capacity)")
    parser.add_argument("--dry_run", action="store_true", help="print the gcloud commands, run nothing")
    args = parser.parse_args(argv)
    args.overrides = overrides
    steps = ["create", "install", "run", "copy", "delete"] if args.step == "all" else [args.step]
    if args.step == "all" and not args.bucket:
        steps.remove("copy")
    for step in steps:
        for cmd in commands(step, args):
            print(shlex.join(cmd), flush=True)
            if not args.dry_run:
                done = subprocess.run(cmd)
                if done.returncode:
                    print(f"tpu_vm: {step} failed (exit {done.returncode}); the TPU VM {args.name!r} is kept "
                          f"for inspection: delete it with `launch/tpu_vm.py delete`", file=sys.stderr)
                    return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

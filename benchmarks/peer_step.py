"""One training step of the same Llama shape in three trainers, each in a process of its own, one run:
ours, MaxText and transformers + torch; ms/step (median, warm-up steps dropped) and tokens/s of each.

Ours is the step `python -m entigraph_jax.train` runs, built as it builds it from its settings (remat
full, float32, AdamW with clipping), on random tokens. MaxText is its own trainer on its synthetic data,
timed by the per-step seconds it logs; it is installed from PyPI (pinned below) into a Python 3.12 venv
of its own on first use and reused after. transformers' LlamaForCausalLM runs with gradient
checkpointing and torch's AdamW. Each takes the machine's accelerator when there is one (jax's and
torch's own choice; MaxText's hardware= is the platform its jax finds). The trainers run in `--rounds`
interleaved rounds (ours, MaxText, torch, ours, ...), each a fresh process; a ratio is each round's, and the
median and range over the rounds are printed (one run on a shared machine moved 1.4x to 4x). Target: ours >=
1.5x MaxText's tokens/s, by the median.

    python benchmarks/peer_step.py [--rounds 5 --steps 10 --warmup 3] [--skip maxtext,torch]
        [--maxtext_python python3.12]
        [--maxtext_venv DIR] [--layers 4 --d_model 256 --heads 4 --kv_heads 2 --head_dim 64 --mlp 768
         --vocab 32000 --batch 8 --seq 256]
"""

import argparse
import importlib.metadata
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAXTEXT = "0.2.5"  # the MaxText release measured: PyPI's `maxtext`, Python >= 3.12
TARGET = 1.5  # ours' tokens/s over MaxText's
RESULT = "peer_step: "  # the line a trainer's process reports its figures on, as JSON
SHAPE = {"layers": 4, "d_model": 256, "heads": 4, "kv_heads": 2, "head_dim": 64, "mlp": 768, "vocab": 32000,
         "batch": 8, "seq": 256}
TRAINERS = ("ours", "maxtext", "torch")


def timed(step, args) -> list[float]:
    """Seconds of each step after the warm-up; `step` returns once its work is done."""
    times = []
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times[args.warmup:]


def measure_ours(args) -> dict:
    import jax
    import numpy as np

    from entigraph_jax.models import ShardingRules
    from entigraph_jax.train import Trainer, TrainSettings, setup

    settings = TrainSettings().override({
        "data.seq_len": args.seq, "data.global_batch": args.batch, "tokenizer.train_vocab_size": args.vocab,
        "model.hidden_size": args.d_model, "model.intermediate_size": args.mlp, "model.num_layers": args.layers,
        "model.num_heads": args.heads, "model.num_kv_heads": args.kv_heads, "model.head_dim": args.head_dim,
        "model.max_position_embeddings": args.seq, "model.param_dtype": "float32", "model.dtype": "float32",
        "model.remat": "full"})
    mesh = setup.validate(settings)  # what the command does between its settings and its first step
    trainer = Trainer(setup.model_config(settings), settings.optim, args.warmup + args.steps, mesh, ShardingRules())
    state = [trainer.init_state(settings.seed)]
    rows = np.random.default_rng(0).integers(0, args.vocab, (args.batch, args.seq + 1), np.int32)
    ones = np.ones((args.batch, args.seq), np.int32)
    batch = trainer.place({"inputs": rows[:, :-1], "targets": rows[:, 1:], "segment_ids": ones,
                           "positions": np.cumsum(ones, axis=1, dtype=np.int32) - 1,
                           "loss_mask": ones.astype(np.float32)})

    def step():
        state[0], metrics = trainer.step(state[0], batch)
        jax.block_until_ready((state[0], metrics))

    return {"version": f"entigraph-jax {importlib.metadata.version('entigraph-jax')}, jax {jax.__version__}",
            "device": f"{jax.device_count()} x {jax.devices()[0].device_kind}", "seconds": timed(step, args)}


def measure_torch(args) -> dict:
    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.mlp, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
        max_position_embeddings=args.seq, tie_word_embeddings=False, use_cache=False)
    model = transformers.LlamaForCausalLM(config).to(device).train()
    model.gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.01)
    rows = torch.randint(0, args.vocab, (args.batch, args.seq), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=rows, labels=rows).loss  # the model shifts the labels itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss.item()  # waits for the device

    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    return {"version": f"transformers {transformers.__version__}, torch {torch.__version__}", "device": name,
            "seconds": timed(step, args)}


def in_process(name: str, args) -> dict:
    """Run `name` (ours or torch) in a fresh process of this script; its figures, or why there are none."""
    shape = [f"--{key}={getattr(args, key)}" for key in (*SHAPE, "steps", "warmup")]
    done = subprocess.run([sys.executable, __file__, "--only", name, *shape], stdout=subprocess.PIPE, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        return {"error": f"its process exited with {done.returncode} (its error is printed above)"}
    return json.loads(lines[-1][len(RESULT):])


def maxtext_python(args, libtpu: str | None = None) -> tuple[Path, dict]:
    """The MaxText venv's python (made and installed when missing or another version) and what it has:
    MaxText's, jax's and libtpu's versions, jax's platform and device count. `libtpu`: the TPU compiler's
    version it must have (peer_compile.py compiles both trainers with one compiler)."""
    venv = Path(args.maxtext_venv).expanduser()
    python = venv / "bin" / "python"
    probe = ("import importlib.metadata as m, json, jax; print(json.dumps({'maxtext': m.version('maxtext'), "
             "'jax': jax.__version__, 'libtpu': next((d.version for d in m.distributions() "
             "if d.metadata['Name'] == 'libtpu'), None), "
             "'platform': jax.devices()[0].platform, 'devices': jax.device_count()}))")

    def installed():
        if not python.exists():
            return None
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True)
        return json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None

    found = installed()
    if found is None or found["maxtext"] != MAXTEXT or (libtpu and found["libtpu"] != libtpu):
        extra = "cuda12" if shutil.which("nvidia-smi") and not libtpu else "tpu"  # tpu: libtpu runs on CPU too
        wanted = [f"maxtext[{extra}]=={MAXTEXT}", *([f"libtpu=={libtpu}"] if libtpu else [])]
        print(f"installing {' '.join(wanted)} into {venv} (once; minutes)", file=sys.stderr, flush=True)
        if not python.exists():
            subprocess.run([shutil.which(args.maxtext_python) or args.maxtext_python, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *wanted], check=True)
        found = installed()
        if found is None:
            raise RuntimeError(f"maxtext {MAXTEXT} installed into {venv} but `import jax` fails there")
    return python, found


def measure_maxtext(args) -> dict:
    """MaxText's trainer (`python -m maxtext.trainers.pre_train.train`, base.yml) on the same shape."""
    try:
        python, found = maxtext_python(args)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as e:
        return {"error": f"not installed: {e}"}
    log = Path(args.maxtext_venv).expanduser().parent / "maxtext-peer_step.log"
    with tempfile.TemporaryDirectory() as out:
        overrides = {
            "run_name": "peer_step", "base_output_directory": out, "jax_cache_dir": f"{out}/jax_cache",
            "hardware": found["platform"], "dataset_type": "synthetic", "steps": args.warmup + args.steps,
            "enable_checkpointing": False, "enable_tensorboard": False,
            "skip_jax_distributed_system": True,  # one process; hardware=cpu would expect a CPU cluster's env
            "base_emb_dim": args.d_model, "base_num_query_heads": args.heads, "base_num_kv_heads": args.kv_heads,
            "head_dim": args.head_dim, "base_mlp_dim": args.mlp, "base_num_decoder_layers": args.layers,
            "vocab_size": args.vocab, "max_target_length": args.seq,
            "per_device_batch_size": args.batch / found["devices"],  # the same global batch
            "dtype": "float32", "weight_dtype": "float32", "remat_policy": "full"}
        command = [python, "-m", "maxtext.trainers.pre_train.train", *(f"{k}={v}" for k, v in overrides.items())]
        with open(log, "w") as f:
            code = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    text = log.read_text(errors="replace")
    seconds = [float(s) for step, s in re.findall(r"completed step: (\d+), seconds: ([\d.]+)", text)
               if int(step) >= args.warmup]
    if code or len(seconds) < args.steps:
        errors = [line for line in text.splitlines() if re.search(r"Error|Exception|error:", line)]
        reason = errors[-1].strip() if errors else (text.strip().splitlines() or ["no output"])[-1]
        return {"error": f"its trainer exited with {code} after {len(seconds)} timed steps: {reason} (log: {log})"}
    return {"version": f"maxtext {found['maxtext']}, jax {found['jax']}",
            "device": f"{found['devices']} x {found['platform']}", "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key, default in SHAPE.items():
        parser.add_argument(f"--{key}", type=int, default=default)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of every trainer")
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each trainer in a round")
    parser.add_argument("--warmup", type=int, default=3, help="steps dropped first (compiling, warming up)")
    parser.add_argument("--skip", default="", help=f"comma-separated trainers not to run: {', '.join(TRAINERS)}")
    parser.add_argument("--maxtext_venv", default="~/.cache/entigraph-jax/maxtext-venv",
                        help="MaxText's own venv: made and installed there when missing, reused after")
    parser.add_argument("--maxtext_python", default="python3.12", help="the Python (>= 3.12) that makes it")
    parser.add_argument("--only", choices=("ours", "torch"), help="measure one trainer in this process and print "
                        "its figures as JSON (what the script runs each of them with)")
    args = parser.parse_args()
    if args.only:
        measure = measure_ours if args.only == "ours" else measure_torch
        print(RESULT + json.dumps(measure(args)), flush=True)
        return
    skipped = {name for name in args.skip.split(",") if name}
    if skipped - set(TRAINERS):
        parser.error(f"--skip: unknown trainer {sorted(skipped - set(TRAINERS))[0]}; expected {', '.join(TRAINERS)}")

    rounds: dict[str, list[dict]] = {n: [] for n in TRAINERS if n not in skipped}
    for number in range(args.rounds):
        for name in rounds:
            print(f"round {number + 1} of {args.rounds}: measuring {name} ...", file=sys.stderr, flush=True)
            rounds[name].append(measure_maxtext(args) if name == "maxtext" else in_process(name, args))

    tokens = args.batch * args.seq
    # a round's figure: the median step of that round; a trainer's: the median over rounds
    seconds = {n: [statistics.median(r["seconds"]) for r in runs if "seconds" in r] for n, runs in rounds.items()}
    rate = {n: tokens / statistics.median(s) for n, s in seconds.items() if len(s) == args.rounds}
    print(f"shape: {args.layers} layers, d_model {args.d_model}, {args.heads} heads / {args.kv_heads} kv heads x "
          f"{args.head_dim}, mlp {args.mlp}, vocab {args.vocab}, batch {args.batch} x seq {args.seq}, float32, "
          f"full remat, AdamW; a round's median of {args.steps} steps after {args.warmup} warm-up, {args.rounds} "
          "interleaved rounds")
    print(f"{'trainer':<8} {'version':<40} {'device':<22} {'ms/step':>9} {'tokens/s':>9} "
          f"{'ours/it (median, range)':>24}")
    for name, runs in rounds.items():
        if name not in rate:
            error = next((r["error"] for r in runs if "error" in r), "")
            print(f"{name:<8} not measured: {error}")
            continue
        first = runs[0]
        ratio = spread(seconds[name], seconds["ours"]) if "ours" in rate else "n/a"
        print(f"{name:<8} {first['version']:<40} {first['device']:<22} {tokens / rate[name] * 1e3:9.1f} "
              f"{rate[name]:9.0f} {ratio:>24}")
    if "ours" in rate and "maxtext" in rate:
        ratios = [m / o for o, m in zip(seconds["ours"], seconds["maxtext"], strict=True)]
        ratio = statistics.median(ratios)
        print(f"target: ours >= {TARGET}x MaxText's tokens/s: median {ratio:.2f}x (range {min(ratios):.2f}x to "
              f"{max(ratios):.2f}x) {'PASS' if ratio >= TARGET else 'FAIL'}")
    else:
        missing = " and ".join(n for n in ("ours", "maxtext") if n not in rate)
        print(f"target: ours >= {TARGET}x MaxText's tokens/s: not decided ({missing} not measured)")


def spread(theirs: list[float], ours: list[float]) -> str:
    """Ours' speed over theirs, round by round: the median and the range."""
    ratios = [t / o for o, t in zip(ours, theirs, strict=True)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"


if __name__ == "__main__":
    main()

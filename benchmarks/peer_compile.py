"""Per-chip memory of one training step, ours and MaxText's, compiled for the same TPU slice by the same
TPU compiler (libtpu, on this CPU: no TPU attached), recipe by recipe; and the largest per-chip batch
each can hold.

Ours is the step `python -m entigraph_jax.train` builds from the recipe (`train plan`'s compile). MaxText's
is its own ahead-of-time compile, `python -m maxtext.trainers.pre_train.train_compile base.yml
compile_topology=...`, in the Python 3.12 venv `peer_step.py` builds, with the flags that give it the same
model, per-chip batch, sequence, dtypes, remat and attention family (printed, so a reader can rerun them).
Both are fully sharded over the slice (MaxText's default ici_fsdp_parallelism=-1; ours mesh.fsdp=-1).
The MaxText venv gets the libtpu this Python has: one compiler for both (two libtpu releases differ by
gigabytes on the same program). Every compile is a fresh process.

A batch fits when the compiler accepts the step (it refuses one whose buffers exceed the chip) and its
per-chip total is within the chip's memory. The largest batch is searched from the recipe's: doubling
until a batch does not fit, then a line through the two largest that fit predicts the boundary, and
bisection keeps every probe inside the bracket, so the answer is a batch that fits next to one that
does not.

The compiler's cost analysis is not printed: it counts a loop's body once, and the two programs loop
over different things (our logits are computed in chunks inside a loop), so their `flops` are not
comparable. The analytic model FLOPs of the step (6 per matmul weight per token, plus attention) are
the same for both and are printed instead.

    python benchmarks/peer_compile.py [--rows 8b,3b,1b] [--no-search] [--maxtext_venv DIR]
"""

import argparse
import dataclasses
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from peer_step import maxtext_python

GiB = 2**30
RESULT = "peer_compile: "  # the line a compile's process reports its figures on, as JSON
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclasses.dataclass(frozen=True)
class Row:
    title: str
    config: str  # our recipe in configs/
    section: str  # where in that file the train settings are ("": the file's own)
    preset: str  # the architecture (models.PRESETS), so no checkpoint is read
    hardware: str  # a TPU slice of train.hardware.HARDWARE; MaxText's compile_topology of the same name
    batch: int  # rows per chip in the recipe
    seq: int


ROWS = {
    "8b": Row("Llama 3 8B, the paper's CPT recipe", "cpt_llama3_8b_quality.py", "", "llama3-8b", "v5p-8", 4, 2048),
    "3b": Row("Llama 3.2 3B shape, SBP's 3B recipe", "sbp_3b_tpu.py", "joint", "llama3.2-3b", "v5e-8", 1, 4096),
    "1b": Row("Llama 3.2 1B, the 1B CPT recipe", "cpt_llama32_1b_quality.py", "", "llama3.2-1b", "v5e-4", 4, 2048),
}
REMAT = {"full": "full", "save_dots": "minimal", "none": "none"}  # ours -> MaxText's (minimal: every matmul out)


def compile_ours(row: Row, batch: int) -> dict:
    """Our step for `row` at `batch` rows per chip, compiled for the slice: its memory, and the MaxText
    flags for the same model and step."""
    from entigraph_jax.config import apply_override, load_config_file
    from entigraph_jax.models.attention import choose
    from entigraph_jax.train import TrainSettings
    from entigraph_jax.train.hardware import HARDWARE
    from entigraph_jax.train.plan import plan
    from entigraph_jax.train.setup import model_config

    config = load_config_file(CONFIGS / row.config)
    config = config[row.section] if row.section else config
    chips = HARDWARE[row.hardware].devices
    for key, value in {"data.global_batch": batch * chips, "data.seq_len": row.seq, "mesh.data": 1,
                       "mesh.fsdp": -1, "mesh.tensor": 1, "optim.microbatches": 1}.items():
        apply_override(config, key, str(value))
    settings = TrainSettings.from_config(config).override({"model.path": ""})
    result = plan(settings, row.hardware, row.preset)
    got = result.compiled
    cfg = model_config(settings, platform="tpu", preset_name=row.preset)
    flags = {
        "model_name": "default", "decoder_block": "llama2", "base_emb_dim": cfg.hidden_size,
        "base_num_query_heads": cfg.num_heads, "base_num_kv_heads": cfg.num_kv_heads, "head_dim": cfg.head_dim,
        "base_num_decoder_layers": cfg.num_layers, "base_mlp_dim": cfg.intermediate_size,
        "vocab_size": cfg.vocab_size, "logits_via_embedding": cfg.tie_word_embeddings,
        "normalization_layer_epsilon": cfg.rms_norm_eps,
        "enable_dropout": False, "weight_dtype": cfg.param_dtype, "dtype": cfg.dtype,
        "remat_policy": REMAT[cfg.remat],
        "attention": "dot_product" if choose(cfg, row.seq, "tpu") == "xla" else "flash"}
    return {"arguments": got.arguments, "temporaries": got.temporaries, "outputs": got.outputs,
            "out_of_memory": got.out_of_memory, "setup": result.setup, "maxtext_flags": flags,
            "model_flops": cfg.train_flops_per_token(row.seq) * batch * row.seq,
            "version": f"entigraph-jax {importlib.metadata.version('entigraph-jax')}, jax "
                       f"{importlib.metadata.version('jax')}, libtpu {importlib.metadata.version('libtpu')}"}


def ours(row: str, batch: int) -> dict:
    """compile_ours in a fresh process of this script."""
    done = subprocess.run([sys.executable, __file__, "--only", row, "--batch", str(batch)],
                          stdout=subprocess.PIPE, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        raise SystemExit(f"our compile of {row} at batch {batch} exited with {done.returncode} (its error is above)")
    return json.loads(lines[-1][len(RESULT):])


def maxtext_flags(row: Row, batch: int, model: dict) -> dict:
    return {"compile_topology": row.hardware, "compile_topology_num_slices": 1, **model,
            "per_device_batch_size": batch, "max_target_length": row.seq}


def flag_text(flags: dict) -> list[str]:
    """MaxText's command-line overrides (`key=value`; YAML's lowercase booleans)."""
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in flags.items()]


def compile_maxtext(python: Path, row: Row, batch: int, model: dict) -> dict:
    """MaxText's own ahead-of-time compile of the same step; its memory analysis, or out of memory."""
    base = subprocess.run([python, "-c", "import maxtext, os; print(os.path.dirname(maxtext.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as out:
        flags = {**maxtext_flags(row, batch, model), "run_name": "peer_compile", "base_output_directory": out,
                 "dataset_type": "synthetic", "enable_checkpointing": False}
        command = [python, "-m", "maxtext.trainers.pre_train.train_compile", f"{base}/configs/base.yml",
                   *flag_text(flags)]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = done.stdout
    stats = re.search(r"Memory analysis: CompiledMemoryStats\((.*?)\)", text)
    if done.returncode == 0 and stats:
        field = dict(re.findall(r"(\w+)=(\d+)", stats[1]))
        return {"arguments": int(field["argument_size_in_bytes"]), "temporaries": int(field["temp_size_in_bytes"]),
                "outputs": max(0, int(field["output_size_in_bytes"]) - int(field["alias_size_in_bytes"])),
                "out_of_memory": False}
    if "RESOURCE_EXHAUSTED" in text:
        return {"out_of_memory": True}
    errors = [line for line in text.splitlines() if re.search(r"Error|Exception", line)]
    raise SystemExit(f"MaxText's compile of {row.title} at batch {batch} exited with {done.returncode}: "
                     f"{(errors or text.strip().splitlines() or ['no output'])[-1].strip()}")


def known(results: dict, compile_at, batch: int) -> dict:
    """The figures of `batch`: those already compiled, else a new compile."""
    return results[batch] if batch in results else compile_at(batch)


def total(figures: dict) -> int:
    return figures["arguments"] + figures["temporaries"] + figures["outputs"]


def fits(figures: dict, memory: float) -> bool:
    return not figures["out_of_memory"] and total(figures) <= memory


def largest(compile_at, start: int, memory: float) -> tuple[int, dict]:
    """(the largest rows per chip that fit, the figures of each batch compiled), by a safeguarded
    search from `start`: double until one does not fit; then, after a batch that fits, predict the
    boundary from the two largest that fit (memory is close to linear in the batch), and after one
    that does not, bisect, so the bracket at least halves every other probe."""
    seen: dict[int, dict] = {}
    low, high, probe = 0, None, start
    while high is None or high - low > 1:
        seen[probe] = compile_at(probe)
        fit = fits(seen[probe], memory)
        print(f"  batch {probe}: {'fits' if fit else 'does not fit'}", file=sys.stderr, flush=True)
        low, high = (probe, high) if fit else (low, probe)
        good = sorted(b for b, f in seen.items() if fits(f, memory))
        if fit and len(good) >= 2:
            (b1, t1), (b2, t2) = [(b, total(seen[b])) for b in good[-2:]]
            probe = b2 + int((memory - t2) // max((t2 - t1) / (b2 - b1), 1.0))
        else:
            probe = 2 * low if high is None else (low + high) // 2
        probe = max(probe, low + 1) if high is None else min(max(probe, low + 1), high - 1)
    return low, seen


def gib(figures: dict | None, part: str = "") -> str:
    if figures is None:
        return "not measured"
    if figures["out_of_memory"]:
        return "out of memory"
    return f"{(figures[part] if part else total(figures)) / GiB:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows: {', '.join(ROWS)}")
    parser.add_argument("--no-search", dest="search", action="store_false",
                        help="only the recipe's batch, no search for the largest")
    parser.add_argument("--maxtext_venv", default="~/.cache/entigraph-jax/maxtext-venv",
                        help="MaxText's own venv: made and installed there when missing, reused after")
    parser.add_argument("--maxtext_python", default="python3.12", help="the Python (>= 3.12) that makes it")
    parser.add_argument("--only", choices=tuple(ROWS), help="compile our step for one row in this process and "
                        "print its figures as JSON (what the script runs each compile of ours with)")
    parser.add_argument("--batch", type=int, help="with --only: rows per chip")
    args = parser.parse_args()
    if args.only:
        print(RESULT + json.dumps(compile_ours(ROWS[args.only], args.batch)), flush=True)
        return
    names = [n for n in args.rows.split(",") if n]
    if unknown := sorted(set(names) - set(ROWS)):
        parser.error(f"--rows: unknown row {unknown[0]}; expected {', '.join(ROWS)}")
    try:
        libtpu = importlib.metadata.version("libtpu")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("the TPU compiler is not installed here: pip install -e \".[tpu]\"") from None
    ours_jax, (_, found) = importlib.metadata.version("jax"), maxtext_python(args)
    if found["jax"] != ours_jax:  # a libtpu is built for one jax: the two must share both
        raise SystemExit(f"MaxText's venv has jax {found['jax']}, this Python jax {ours_jax}: run this script "
                         f"with a Python whose jax is {found['jax']} (Python 3.12 and `pip install -e \".[tpu]\"`)")
    python, found = maxtext_python(args, libtpu)
    from entigraph_jax.train.hardware import HARDWARE

    lines, verdicts = [], []
    for name in names:
        row = ROWS[name]
        memory = HARDWARE[row.hardware].memory
        print(f"{row.title} on {row.hardware}: compiling ours and MaxText's ...", file=sys.stderr, flush=True)
        first = ours(name, row.batch)
        model = first["maxtext_flags"]
        results = {"ours": {row.batch: first}, "MaxText": {row.batch: compile_maxtext(python, row, row.batch, model)}}
        best = {}
        if args.search:
            compilers = {"ours": functools.partial(ours, name), "MaxText": functools.partial(compile_maxtext, python,
                                                                                           row, model=model)}
            for who, compile_at in compilers.items():
                print(f" {who}: the largest batch per chip", file=sys.stderr, flush=True)
                best[who], seen = largest(functools.partial(known, results[who], compile_at), row.batch, memory)
                results[who].update(seen)
        print(f"\n{row.title} on {row.hardware} ({memory / GiB:.0f} GiB per chip), {row.batch} x {row.seq} per "
              f"chip: {first['setup']}; model FLOPs per chip-step {first['model_flops'] / 1e12:.1f} T (analytic, "
              f"the same program for both)")
        print(f"  MaxText's flags: {' '.join(flag_text(maxtext_flags(row, row.batch, model)))}")
        for who in ("ours", "MaxText"):
            at = results[who][row.batch]
            size = f"{best[who]} ({gib(results[who].get(best[who]))} GiB)" if who in best else "not searched"
            lines.append(f"| {row.title} | {row.hardware} | {row.batch} x {row.seq} | {who} | {gib(at, 'arguments')} "
                         f"| {gib(at, 'temporaries')} | **{gib(at)}** | {size} |")
        ours_at, theirs_at = results["ours"][row.batch], results["MaxText"][row.batch]
        less = fits(ours_at, memory) and (theirs_at["out_of_memory"] or total(ours_at) <= total(theirs_at))
        more = not best or best["ours"] >= best["MaxText"]
        verdicts.append(f"{row.hardware} {name}: memory ours <= MaxText's {'yes' if less else 'NO'}"
                        + (f", largest batch ours >= MaxText's {'yes' if more else 'NO'}" if best else ""))
    print(f"\nours: {first['version']}; MaxText {found['maxtext']}, jax {found['jax']}, libtpu {found['libtpu']}")
    print("| recipe | slice | batch per chip | trainer | arguments (GiB) | temporaries (GiB) | per chip (GiB) | "
          "largest batch per chip |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    print("target: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()

"""What `accelerator_check.sh` needs in Python (run it, not this):

    wheels DIR               the carried wheels this Python lacks, or holds outside pyproject's range
    model SRC OUT [--tiny]   a random-weight model of SRC's config.json (SmolLM2's), SRC's tokenizer beside it
    table LOGS               the one table of figures from the parts' logs and LOGS/status
"""

import dataclasses
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wheels(folder: str) -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename

    pins = {canonicalize_name(r.name): r.specifier
            for r in map(Requirement, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])}
    carried = set()
    for wheel in sorted(Path(folder).glob("*.whl")):
        name, version = parse_wheel_filename(wheel.name)[:2]
        carried.add(name)
        have = installed(name)
        if have is None or (name in pins and not pins[name].contains(have, prereleases=True)):
            print(wheel)
            print(f"{name}: {have or 'missing'} here, installing the carried {version}", file=sys.stderr)
    for name, spec in pins.items():
        have = installed(name)
        if name not in carried and (have is None or not spec.contains(have, prereleases=True)):
            print(f"{name}: {have or 'missing'} here, pyproject wants {spec} (not carried)", file=sys.stderr)


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def model(source: str, out: str, tiny: bool) -> None:
    from flax import nnx

    from entigraph_jax.models import Llama, config_from_hf, save_pretrained_hf

    cfg = config_from_hf(source)
    if tiny:
        cfg = dataclasses.replace(cfg, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2,
                                  num_kv_heads=1, head_dim=32)
    save_pretrained_hf(Llama(cfg, rngs=nnx.Rngs(0)), out, tokenizer=source)
    print(f"{out}: random weights, {cfg.num_params() / 1e6:.1f}M params ({cfg.num_layers} x {cfg.hidden_size}, "
          f"vocab {cfg.vocab_size}), the tokenizer of {source}")


# table: part -> (its title, its figures: (figure, pattern of value [and unit], unit or None, baseline / target))
TRAIN = [("MFU", r"MFU\s+([\d.]+)(%)", None, "of the spec peak; plans assume 40%"),
         ("throughput", r"([\d.]+) (tokens/s)", None, ""), ("step time", r"([\d.]+) (ms/step)", None, "")]
PARTS = {
    "setup": ("setup", []),
    "train_xla": ("a) train{shape}, XLA attention", TRAIN),
    "train_cudnn": ("a) train{shape}, cuDNN attention", TRAIN),
    "peer": ("b) peer train step, fp32", [
        ("ours", r"^ours .* ([\d.]+) +[\d.]+x \(", "tokens/s", ">= 1.5x MaxText's"),
        ("torch + transformers", r"^torch .* ([\d.]+) +[\d.]+x \(", "tokens/s", ""),
        ("MaxText", r"^maxtext .* ([\d.]+) +[\d.]+x \(", "tokens/s", ""),
        ("ours / MaxText (median of rounds)", r"MaxText's tokens/s: median ([\d.]+)(x)", None, "target >= 1.5x")]),
    "decode": ("c) decode, fp32", [
        ("ours (jax)", r"^ *jax: +([\d.]+) (new tokens/s)", None, ""),
        ("transformers (same device)", r"^ *transformers: +([\d.]+) (new tokens/s)", None, ""),
        ("ours / transformers (median of rounds)", r"^ratio: median ([\d.]+)(x)", None, "target >= 2x")]),
    "closed_book": ("d) closed-book QuALITY, an ablation of the sampler's speed-ups", [
        ("both off (whole prompts, whole batch)", r"both off: .*?([\d.]+) (questions/s)", None, ""),
        ("finished rows leave", r"finished leave: .*?([\d.]+) (questions/s)", None, ""),
        ("both on (+ shared-prefix cache)", r"both on: .*?([\d.]+) (questions/s)", None, ""),
        ("both on / both off (median of rounds)", r"^both on / both off: median ([\d.]+)(x)", None,
         "target >= 3x")]),
    "bf16_propagation": ("e) TPU only: xla_jf_bf16_propagation off (ours) vs the compiler's default", [
        ("propagation loss", r"largest loss difference ([\d.e+-]+)", "abs. difference", "expected ~0"),
        ("propagation grad norm", r"relative grad-norm difference ([\d.e+-]+)", "rel. difference", "expected ~0")]),
}
ABSENT = {"MaxText": "skipped (--skip maxtext): it cannot be installed offline"}  # why a figure may be missing


def table(logs: str) -> None:
    folder = Path(logs)
    status = {}
    if (folder / "status").exists():
        for line in (folder / "status").read_text().splitlines():
            name, code, seconds = line.split()
            status[name] = (int(code), int(seconds))
    rows = [("part", "figure", "value", "unit", "baseline / target")]
    for name, (title, figures) in PARTS.items():
        log = folder / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() and name in status else ""
        code, seconds = status.get(name, (None, 0))
        shape = re.search(r"^ *(\S+): +([\d.]+)M params, batch (\d+ x \d+), (\w+)", text, re.M)
        title = title.format(shape=f" {shape[1]} ({float(shape[2]):.0f}M, {shape[3]}, {shape[4]})" if shape else "")
        part = f"{title} ({seconds} s)" if code is not None else title
        if code is None:
            why = "not run: out of time"
        elif code in (124, 137):
            why = f"FAILED: timed out after {seconds} s"
        else:
            said = [line.strip() for line in text.splitlines() if line.strip()] or ["no output"]
            errors = [line for line in said if re.match(r"[\w.]*(Error|Exception)\b|\S+: error:", line)]
            why = f"FAILED (exit {code}): {(errors or said)[-1][:110]}"
        if not figures:
            rows.append((part, "status", "ok" if code == 0 else "FAILED", "", "" if code == 0 else why))
        for label, pattern, unit, target in figures:
            match = re.search(pattern, text, re.M)
            skipped = re.search(rf"^{label.split()[0].lower()} +not measured: (.*)$", text, re.M)
            if match:
                rows.append((part, label, match.group(1), unit or match.group(2), target))
            elif skipped or code == 0:
                reason = skipped.group(1)[:100] if skipped else ABSENT.get(label, "no figure in its log")
                rows.append((part, label, "not measured", "", reason))
            else:
                rows.append((part, label, "not measured", "", why))
                why = "(as above)"
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + " | " + r[4] for r in rows]
    lines.insert(1, "-" * (sum(widths) + 3 * len(widths) + 17))
    (folder / "table.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    command, *args = sys.argv[1:] or ["help"]
    if command == "wheels":
        wheels(args[0])
    elif command == "model":
        model(args[0], args[1], "--tiny" in args)
    elif command == "table":
        table(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

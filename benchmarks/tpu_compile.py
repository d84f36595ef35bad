"""The paper's recipes compiled for TPU slices by the TPU compiler (libtpu; no TPU attached): per-chip
memory with XLA vs splash attention and whole vs lean (chunked) logits, and the planner's estimate
beside each figure. Needs the `tpu` extra.

    python benchmarks/tpu_compile.py                 # about 5 minutes on 2 CPU cores
"""

import argparse
from pathlib import Path

import jax

jax.config.update("jax_platforms", "cpu")

from entigraph_jax.config import apply_override, load_config_file  # noqa: E402
from entigraph_jax.train import TrainSettings  # noqa: E402
from entigraph_jax.train.hardware import TPU_EXTRA, has_tpu_compiler  # noqa: E402
from entigraph_jax.train.memory import GiB  # noqa: E402
from entigraph_jax.train.plan import plan  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = [  # (name, config file, preset, hardware, overrides)
    ("Llama 3 8B, 16 x 2048, fsdp 4, remat full", "cpt_llama3_8b_quality.py", "llama3-8b", "v5p-8",
     {"mesh.fsdp": 4}),
    ("Llama 3.2 1B, 16 x 2048, fsdp 8, remat save_dots", "cpt_llama32_1b_quality.py", "llama3.2-1b", "v5e-8",
     {"mesh.fsdp": 8}),
]
VARIANTS = [("xla", 0), ("xla", 512), ("splash", 0), ("splash", 512)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remat", help="override the recipes' remat policy (none | full | save_dots)")
    args = parser.parse_args()
    if not has_tpu_compiler():
        raise SystemExit(f"the TPU compiler is not installed: {TPU_EXTRA}")
    for title, file, preset, hardware, overrides in RECIPES:
        print(f"{title} on {hardware} (GiB per chip)")
        print(f"  {'attention':<9} {'logits':<8} {'compiled':>9} {'estimate':>9} {'error':>7}")
        for attention, chunk in VARIANTS:
            config = load_config_file(CONFIGS / file)
            settings = {**overrides, "model.attention": attention, "model.logits_chunk": chunk}
            if args.remat:
                settings["model.remat"] = args.remat
            for key, value in settings.items():
                apply_override(config, key, str(value))
            result = plan(TrainSettings.from_config(config), hardware, preset)
            got, est = result.compiled, result.estimate
            mark = " (out of memory: at least)" if got.out_of_memory else ""
            print(f"  {attention:<9} {'chunk ' + str(chunk) if chunk else 'whole':<8} {got.total / GiB:9.2f} "
                  f"{est.total / GiB:9.2f} {100 * (est.total / got.total - 1):+6.1f}%{mark}", flush=True)


if __name__ == "__main__":
    main()

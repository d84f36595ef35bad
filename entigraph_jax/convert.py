"""`python -m entigraph_jax.convert`: Hugging Face safetensors <-> Orbax parameter checkpoints.

  python -m entigraph_jax.convert hf-to-orbax HF_DIR OUT_DIR [--dtype float32]
  python -m entigraph_jax.convert orbax-to-hf CKPT_DIR OUT_DIR [--dtype bfloat16]

The Orbax side is the layout of `models.checkpoint`; the Hugging Face side loads in transformers
and vLLM. The output folder must not exist (or be empty): nothing is overwritten.
"""

from __future__ import annotations

import argparse
import sys

from entigraph_jax.models import CheckpointError, from_pretrained_hf, save_pretrained_hf
from entigraph_jax.models.checkpoint import load_params, save_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entigraph_jax.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("direction", choices=["hf-to-orbax", "orbax-to-hf"])
    parser.add_argument("src", help="folder to read")
    parser.add_argument("dst", help="folder to write (must not exist or be empty)")
    parser.add_argument("--dtype", default=None,
                        help="dtype of the written parameters (default: float32 to Orbax, "
                             "the checkpoint's own to Hugging Face)")
    args = parser.parse_args(argv)
    try:
        if args.direction == "hf-to-orbax":
            model = from_pretrained_hf(args.src, dtype=args.dtype or "float32")
            out = save_params(model, args.dst)
        else:
            model = load_params(args.src, dtype=args.dtype or "float32")
            out = save_pretrained_hf(model, args.dst, dtype=args.dtype)
    except (CheckpointError, FileExistsError, FileNotFoundError, TypeError) as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

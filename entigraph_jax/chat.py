"""`python -m entigraph_jax.chat --checkpoint DIR --tokenizer T [--format hf|orbax] [--system TEXT]`

A terminal chat with a checkpoint over the KV-cache sampler: each line you type is a user turn; the
model answers with the chat template the tokenizer supports (Llama 3.1's, or a plain one). An empty
line or end of input quits.
"""

from __future__ import annotations

import argparse
import sys

from entigraph_jax.data import TokenizerError, load_tokenizer
from entigraph_jax.data.chat import ChatError, chat_template
from entigraph_jax.models import CheckpointError, from_pretrained_hf
from entigraph_jax.models.checkpoint import load_params
from entigraph_jax.models.sampling import Sampler, SamplingParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entigraph_jax.chat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a Hugging Face folder or an Orbax folder from convert")
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--format", choices=["hf", "orbax"], default="hf")
    parser.add_argument("--system", default="")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top_p", type=float, default=0.9)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        tokenizer = load_tokenizer(args.tokenizer)
        template = chat_template(tokenizer)
        model = (from_pretrained_hf if args.format == "hf" else load_params)(args.checkpoint)
    except (TokenizerError, ChatError, CheckpointError) as e:
        print(f"chat: error: {e}", file=sys.stderr)
        return 1
    sampler = Sampler(model, tokenizer)
    stop_tokens, stop_strings = template.stop()
    messages = [{"role": "system", "content": args.system}] if args.system else []
    interactive = sys.stdin.isatty()
    for turn in range(10**9):
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        messages.append({"role": "user", "content": line.strip()})
        params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                top_p=args.top_p, stop=stop_strings, stop_tokens=stop_tokens, seed=args.seed + turn)
        reply = sampler.generate([template.prompt(messages)], params)[0][0].text.strip()
        messages.append({"role": "assistant", "content": reply})
        print(reply, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

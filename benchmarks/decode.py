"""Decode tokens/s of a tiny Llama, batch 8, 128 new tokens: our KV-cache sampler against
transformers' `generate` (greedy, KV cache) on the same CPU in one run. Target: ours >= 2x.

    python benchmarks/decode.py [--layers 4 --d_model 256 --batch 8 --new 128 --prompt 64]
"""

import argparse
import statistics
import time

import numpy as np
import torch
import transformers

from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams


class IdTokenizer:
    bos_id, eos_id, pad_id = None, None, 0

    def decode(self, ids):
        return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default="/tmp/decode_bench_model")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.d_model,
                                      intermediate_size=4 * args.d_model, num_hidden_layers=args.layers,
                                      num_attention_heads=args.d_model // 64, num_key_value_heads=args.d_model // 64,
                                      max_position_embeddings=1024)
    reference = transformers.LlamaForCausalLM(config).eval()
    reference.save_pretrained(args.out)
    prompts = np.random.default_rng(0).integers(3, args.vocab, (args.batch, args.prompt)).tolist()

    sampler = Sampler(from_pretrained_hf(args.out), IdTokenizer())
    params = SamplingParams(max_new_tokens=args.new, temperature=0)

    def ours():
        return sampler.generate(prompts, params)

    def theirs():
        with torch.no_grad():
            return reference.generate(torch.tensor(prompts), max_new_tokens=args.new, min_new_tokens=args.new,
                                      do_sample=False, pad_token_id=0)

    ours(), theirs()  # compile, warm up
    times = {"jax": [], "transformers": []}
    for _ in range(args.repeats):
        for name, run in (("jax", ours), ("transformers", theirs)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {k: args.batch * args.new / statistics.median(v) for k, v in times.items()}
    same = [s[0].tokens for s in ours()] == theirs()[:, args.prompt:].tolist()
    print(f"{args.layers} layers, d_model {args.d_model}, vocab {args.vocab}, batch {args.batch}, "
          f"prompt {args.prompt} + {args.new} new tokens, greedy, fp32, torch threads {torch.get_num_threads()}")
    for name, value in rate.items():
        print(f"{name:>12}: {value:8.0f} new tokens/s")
    print(f"ratio: {rate['jax'] / rate['transformers']:.2f}x (target >= 2x); same greedy tokens: {same}")


if __name__ == "__main__":
    main()

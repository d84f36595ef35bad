"""Decode tokens/s, batch 8, 128 new tokens: our KV-cache sampler against transformers' `generate`
(greedy, KV cache) on the same device in one run — the accelerator JAX uses, where torch sees it too (the
torch model and its inputs moved there), else the CPU — on a tiny random Llama or a real model; with `--gguf`
and llama-cpp-python installed, llama.cpp on the same GGUF too (one sequence at a time, as its Python API
decodes). Rounds interleave the runs (ours, theirs, ours, ...); the ratio is each round's, its median and
range printed. Target: ours >= 2x transformers.

    python benchmarks/decode.py [--layers 4 --d_model 256 --batch 8 --new 128 --prompt 64]
    python benchmarks/decode.py --model workdir/smollm2 --gguf SmolLM2-135M-Instruct.Q4_1.gguf
"""

import argparse
import statistics
import time

import jax
import numpy as np
import torch
import transformers

from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams


class IdTokenizer:
    bos_id, eos_id, pad_id = None, None, 0
    vocab_size = 0  # ids only: any model's embeddings hold them

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
    parser.add_argument("--model", default="", help="a Hugging Face folder (e.g. SmolLM2 from `models convert`)")
    parser.add_argument("--gguf", default="", help="the same model as GGUF, for llama.cpp")
    args = parser.parse_args()
    if args.model:
        args.out = args.model
        reference = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
        args.vocab, args.layers = reference.config.vocab_size, reference.config.num_hidden_layers
        args.d_model = reference.config.hidden_size
    else:
        reference = random_reference(args)
    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"  # the same as ours
    reference = reference.to(device)
    prompts = np.random.default_rng(0).integers(3, min(args.vocab, 30000), (args.batch, args.prompt)).tolist()
    runs = {"jax": ours(args, prompts), "transformers": theirs(args, prompts, reference, device)}
    if args.gguf:
        runs["llama.cpp"] = llama_cpp(args, prompts)
    for run in runs.values():
        run()  # compile, warm up
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {k: args.batch * args.new / statistics.median(v) for k, v in times.items()}
    same = [s[0].tokens for s in runs["jax"]()] == runs["transformers"]()[:, args.prompt:].tolist()
    print(f"{args.model or 'random Llama'}: {args.layers} layers, d_model {args.d_model}, vocab {args.vocab}, "
          f"batch {args.batch}, prompt {args.prompt} + {args.new} new tokens, greedy, fp32; jax on "
          f"{jax.devices()[0].platform}, torch on {device} ({torch.get_num_threads()} threads)")
    for name, value in rate.items():
        print(f"{name:>12}: {value:8.0f} new tokens/s (median of {args.repeats})")
    ratios = sorted(t / j for j, t in zip(times["jax"], times["transformers"], strict=True))
    print(f"ratio: median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}x to {ratios[-1]:.2f}x over "
          f"{len(ratios)} interleaved rounds (target >= 2x); same greedy tokens: {same}")


def random_reference(args):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.d_model,
                                      intermediate_size=4 * args.d_model, num_hidden_layers=args.layers,
                                      num_attention_heads=args.d_model // 64, num_key_value_heads=args.d_model // 64,
                                      max_position_embeddings=1024)
    reference = transformers.LlamaForCausalLM(config).eval()
    reference.save_pretrained(args.out)
    return reference


def ours(args, prompts):
    """Every row decodes all `new` tokens (no EOS), as transformers' min_new_tokens makes it."""
    sampler = Sampler(from_pretrained_hf(args.out), IdTokenizer())
    params = SamplingParams(max_new_tokens=args.new, temperature=0)
    return lambda: sampler.generate(prompts, params)


def theirs(args, prompts, reference, device):
    inputs = torch.tensor(prompts, device=device)

    def run():
        with torch.no_grad():
            out = reference.generate(inputs, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                                     pad_token_id=0)
        return out.cpu()  # waits for the device, so the time is the work's

    return run


def llama_cpp(args, prompts):
    from llama_cpp import Llama

    model = Llama(model_path=args.gguf, n_ctx=args.prompt + args.new + 8, verbose=False, logits_all=False)

    def run():
        for prompt in prompts:
            model.reset()
            tokens = []
            for token in model.generate(prompt, temp=0.0):
                tokens.append(token)
                if len(tokens) == args.new:
                    break
        return tokens

    return run


if __name__ == "__main__":
    main()

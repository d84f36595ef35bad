"""One training step of a tiny Llama: our JAX code against transformers + torch, same CPU, same run.

Prints tokens/s for each, their ratio (target: ours >= 1.5x), and our achieved FLOP/s against this
machine's stored float32 matmul peak (measured once, the figure MFU on CPU divides by). Steps of the
two frameworks alternate in rounds so that machine noise hits both alike; each figure is the median
step time.

    python benchmarks/model_step.py [--layers 4 --d_model 256 --seq 256 --batch 8 --vocab 32000]
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import transformers
from flax import nnx

from entigraph_jax.models import Llama, LlamaConfig
from entigraph_jax.train.metrics import stored_cpu_peak


def jax_step_fn(cfg: LlamaConfig, tokens: np.ndarray):
    graphdef, params = nnx.split(Llama(cfg, rngs=nnx.Rngs(0)))
    optimizer = optax.adamw(1e-4, weight_decay=0.01)
    opt_state = optimizer.init(params)

    def loss_fn(params, batch):
        logits = nnx.merge(graphdef, params)(batch[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()

    @jax.jit
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    batch = jnp.asarray(tokens)
    state = [params, opt_state]

    def run():
        state[0], state[1], loss = step(state[0], state[1], batch)
        return float(loss)

    return run


def torch_step_fn(cfg: LlamaConfig, tokens: np.ndarray):
    torch.manual_seed(0)
    hf_config = transformers.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        head_dim=cfg.head_dim, max_position_embeddings=tokens.shape[1], tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(hf_config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    batch = torch.as_tensor(tokens, dtype=torch.long)

    def run():
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        loss.backward()
        optimizer.step()
        return loss.item()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv_heads", type=int, default=4)
    parser.add_argument("--mlp", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per framework per round")
    args = parser.parse_args()

    cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.mlp,
                      num_layers=args.layers, num_heads=args.heads, num_kv_heads=args.kv_heads,
                      head_dim=args.d_model // args.heads, param_dtype="float32", dtype="float32")
    # seq + 1 tokens per row: inputs and shifted targets are both `seq` long.
    tokens = np.random.default_rng(0).integers(0, args.vocab, (args.batch, args.seq + 1), np.int32)
    runners = {"jax": jax_step_fn(cfg, tokens), "torch": torch_step_fn(cfg, tokens)}
    for run in runners.values():  # compile / warm up
        run(), run()
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            for _ in range(args.steps):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)

    tokens_per_step = args.batch * args.seq
    step_time = {name: statistics.median(t) for name, t in times.items()}
    tps = {name: tokens_per_step / t for name, t in step_time.items()}
    flops = cfg.train_flops_per_token(args.seq) * tokens_per_step / step_time["jax"]
    peak, source = stored_cpu_peak()
    print(f"config: {args.layers} layers, d_model {args.d_model}, mlp {args.mlp}, vocab {args.vocab}, "
          f"batch {args.batch} x seq {args.seq}, float32, {jax.devices()[0].platform}, "
          f"torch threads {torch.get_num_threads()}")
    for name in runners:
        print(f"{name:>5}: {step_time[name] * 1e3:8.1f} ms/step  {tps[name]:10.0f} tokens/s")
    print(f"ratio jax/torch tokens/s: {tps['jax'] / tps['torch']:.2f}x (target >= 1.5x)")
    print(f"jax achieved {flops / 1e9:.1f} GFLOP/s; f32 matmul peak {peak / 1e9:.1f} GFLOP/s ({source}) "
          f"({100 * flops / peak:.0f}% of peak)")


if __name__ == "__main__":
    main()

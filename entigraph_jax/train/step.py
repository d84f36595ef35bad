"""The optimizer, the loss and the jitted, sharded train step.

State is a plain pytree `{"params", "opt_state", "step"}` with params as the model's pure dict, so
Optax, Orbax and jit see ordinary arrays; the model is rebuilt inside the step from its graphdef.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from entigraph_jax.models import Llama, LlamaConfig, ShardingRules, param_sharding
from entigraph_jax.models.lean_logits import lse_and_target

from .settings import OptimSettings

BATCH_KEYS = ("inputs", "targets", "segment_ids", "positions", "loss_mask")

# The TPU compiler's bf16 propagation sees that the layer scan only ever reads its float32 weight
# shards cast to bfloat16, and casts the whole stack of shards before the loop: a bfloat16 copy of
# every layer's weights held through forward and backward (3.3 GiB per chip on the 8B recipe over a
# v5p-8). Off, each layer's shard is cast inside the scan, when its layer runs. The propagation should
# not change results (it only moves a cast every reader makes), so neither should turning it off: not
# measured yet (it needs a TPU; `benchmarks/bf16_propagation.py` in the accelerator check compares them).
TPU_COMPILER_OPTIONS = {"xla_jf_bf16_propagation": False}


def learning_rate_schedule(cfg: OptimSettings, num_steps: int) -> optax.Schedule:
    """Linear warmup over `warmup_fraction` of the run, then cosine to `min_lr` (the paper's: zero)."""
    warmup = max(1, round(cfg.warmup_fraction * num_steps))
    return optax.warmup_cosine_decay_schedule(0.0, cfg.lr, warmup, max(num_steps, warmup + 1), cfg.min_lr)


def make_optimizer(cfg: OptimSettings, num_steps: int) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW; norms are not weight-decayed."""
    decay_mask = lambda params: jax.tree_util.tree_map_with_path(  # noqa: E731
        lambda path, _: "norm" not in jax.tree_util.keystr(path), params)
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(learning_rate_schedule(cfg, num_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                    weight_decay=cfg.weight_decay, mask=decay_mask),
    )


def loss_sums(graphdef, params, batch, z_loss: float):
    """(sum of masked token losses incl. z-loss, number of target tokens) for one (micro)batch."""
    model = nnx.merge(graphdef, params)
    cfg = model.config
    if cfg.logits_chunk:  # never the whole [batch, seq, vocab] logits at once
        x = model.hidden(batch["inputs"], batch["positions"], batch["segment_ids"])
        chunk = min(cfg.logits_chunk, x.shape[1])
        log_z, target_logit = lse_and_target(x, model.head(), batch["targets"], chunk, cfg.final_softcap)
    else:
        logits = model(batch["inputs"], batch["positions"], batch["segment_ids"])
        log_z = jax.nn.logsumexp(logits, axis=-1)
        target_logit = jnp.take_along_axis(logits, batch["targets"][..., None], axis=-1)[..., 0]
    per_token = log_z - target_logit + z_loss * jnp.square(log_z)
    mask = batch["loss_mask"].astype(jnp.float32)
    return jnp.sum(per_token * mask), jnp.sum(mask)


@dataclasses.dataclass
class Trainer:
    """Everything the step needs: the model's graphdef, the optimizer and where each array lives."""

    model_config: LlamaConfig
    optim: OptimSettings
    num_steps: int
    mesh: Mesh
    rules: ShardingRules

    def __post_init__(self):
        abstract = nnx.eval_shape(lambda: Llama(self.model_config, rngs=nnx.Rngs(0)))
        self.graphdef, abstract_state = nnx.split(abstract)
        self.tx = make_optimizer(self.optim, self.num_steps)
        self.param_shardings = nnx.to_pure_dict(jax.tree.map(
            lambda v: v.replace(param_sharding(v, self.mesh, self.rules)), abstract_state,
            is_leaf=lambda x: isinstance(x, nnx.Variable)))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        abstract_params = nnx.to_pure_dict(abstract_state)
        abstract_opt = jax.eval_shape(self.tx.init, abstract_params)
        opt_shardings = optax.tree_map_params(
            self.tx, lambda _, sharding: sharding, abstract_opt, self.param_shardings,
            transform_non_params=lambda _: replicated)
        self.state_shardings = {"params": self.param_shardings, "opt_state": opt_shardings,
                                "step": replicated}
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec(self.rules.batch))
        self.abstract_state = jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
            {"params": abstract_params, "opt_state": abstract_opt,
             "step": jax.ShapeDtypeStruct((), jnp.int32)},
            self.state_shardings)
        options = TPU_COMPILER_OPTIONS if self.mesh.devices.flat[0].platform == "tpu" else None
        self.step = jax.jit(self._step, in_shardings=(self.state_shardings, self.batch_sharding),
                            out_shardings=(self.state_shardings, None), donate_argnums=0, compiler_options=options)
        self.eval_loss = jax.jit(self._eval_loss, in_shardings=(self.param_shardings, self.batch_sharding))

    def init_state(self, seed: int) -> dict:
        """Fresh parameters (transformers' N(0, 0.02) init), created directly in their shardings."""
        def init():
            model = Llama(self.model_config, rngs=nnx.Rngs(seed))
            params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
            return {"params": params, "opt_state": self.tx.init(params), "step": jnp.zeros((), jnp.int32)}

        return jax.jit(init, out_shardings=self.state_shardings)()

    def state_from_params(self, params: dict) -> dict:
        """A step-0 state around given (e.g. converted Hugging Face) parameters."""
        params = jax.device_put(params, self.param_shardings)
        opt_state = jax.jit(self.tx.init, out_shardings=self.state_shardings["opt_state"])(params)
        return {"params": params, "opt_state": opt_state, "step": jnp.zeros((), jnp.int32)}

    def place(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """This process's rows of a batch -> arrays over the whole mesh."""
        return {k: jax.make_array_from_process_local_data(self.batch_sharding, v) for k, v in local.items()}

    def model(self, params: dict) -> Llama:
        """The module around a state's parameters (for evaluation, sampling, export)."""
        return nnx.merge(self.graphdef, params)

    def _step(self, state: dict, batch: dict[str, jax.Array]) -> tuple[dict, dict[str, Any]]:
        with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):
            return self._sharded_step(state, batch)

    def _sharded_step(self, state: dict, batch: dict[str, jax.Array]) -> tuple[dict, dict[str, Any]]:
        micro = self.optim.microbatches

        def accumulate(carry, microbatch):
            grads, loss_sum, tokens = carry

            def objective(params):
                total, count = loss_sums(self.graphdef, params, microbatch, self.optim.z_loss)
                return total, (total, count)

            # grad of the loss *sum*; dividing by all microbatches' tokens at the end makes the
            # result the gradient of the mean over the whole batch, whatever the split.
            g, (total, count) = jax.grad(objective, has_aux=True)(state["params"])
            return (jax.tree.map(jnp.add, grads, g), loss_sum + total, tokens + count), None

        # microbatch j takes rows j, j + micro, ... so each stays spread over the batch shards
        split = {k: v.reshape(v.shape[0] // micro, micro, *v.shape[1:]).swapaxes(0, 1)
                 for k, v in batch.items()}
        zeros = jax.tree.map(jnp.zeros_like, state["params"])
        (grads, loss_sum, tokens), _ = jax.lax.scan(accumulate, (zeros, 0.0, 0.0), split)
        tokens = jnp.maximum(tokens, 1.0)
        grads = jax.tree.map(lambda g: g / tokens, grads)
        updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        metrics = {"loss": loss_sum / tokens, "grad_norm": optax.tree.norm(grads),
                   "param_norm": optax.tree.norm(params),  # non-finite once any parameter is
                   "lr": learning_rate_schedule(self.optim, self.num_steps)(state["step"]),
                   "tokens": tokens}
        return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, metrics

    def _eval_loss(self, params, batch):
        with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):
            return loss_sums(self.graphdef, params, batch, 0.0)


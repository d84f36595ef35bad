"""The two numbers a next-token loss needs from the logits, without holding the logits.

`lse_and_target(x, head, targets)` returns, per token, logsumexp over the vocabulary and the
target's logit: the cross-entropy is their difference, the z-loss the square of the first. Full
logits are batch x seq x vocab float32 (4 GiB per chip for Llama 3.2 1B at 16 x 2048 over 4 chips,
and their gradient as much again); here the sequence is cut into chunks, each chunk's logits live
only inside one step of a scan, and a custom VJP recomputes them in the backward pass instead of
keeping them, so memory grows with batch x chunk x vocab. Chunks keep the batch dimension whole,
so a batch-sharded input stays sharded.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _chunks(a: jax.Array, size: int) -> jax.Array:
    """[batch, seq, ...] -> [seq / size, batch, size, ...] (the scan runs over the first axis)."""
    b, t = a.shape[:2]
    return a.reshape(b, t // size, size, *a.shape[2:]).swapaxes(0, 1)


def _unchunk(a: jax.Array) -> jax.Array:
    n, b, size = a.shape[:3]
    return a.swapaxes(0, 1).reshape(b, n * size, *a.shape[3:])


def _capped_logits(x, head, cap: float):
    """float32 logits of one chunk (matmul in x's dtype, as the model's head) and, with a soft cap,
    the derivative of the cap at them."""
    raw = (x @ head.astype(x.dtype)).astype(jnp.float32)
    if not cap:
        return raw, None
    capped = cap * jnp.tanh(raw / cap)
    return capped, 1.0 - jnp.square(capped / cap)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _lse_and_target(x, head, targets, chunk: int, cap: float):
    def one(_, xs):
        xc, tc = xs
        logits, _ = _capped_logits(xc, head, cap)
        return None, (jax.nn.logsumexp(logits, axis=-1),
                      jnp.take_along_axis(logits, tc[..., None], axis=-1)[..., 0])

    _, (lse, target) = jax.lax.scan(one, None, (_chunks(x, chunk), _chunks(targets, chunk)))
    return _unchunk(lse), _unchunk(target)


def _forward(x, head, targets, chunk, cap):
    lse, target = _lse_and_target(x, head, targets, chunk, cap)
    return (lse, target), (x, head, targets, lse)


def _backward(chunk, cap, residuals, cotangents):
    x, head, targets, lse = residuals
    d_lse, d_target = cotangents

    def one(d_head, xs):
        xc, tc, lse_c, dl_c, dt_c = xs
        logits, cap_slope = _capped_logits(xc, head, cap)
        d_logits = dl_c[..., None] * jnp.exp(logits - lse_c[..., None])
        d_logits += dt_c[..., None] * jax.nn.one_hot(tc, logits.shape[-1], dtype=jnp.float32)
        if cap_slope is not None:
            d_logits *= cap_slope
        d_logits = d_logits.astype(xc.dtype)
        d_x = d_logits @ head.astype(xc.dtype).T
        d_head += jnp.einsum("btd,btv->dv", xc, d_logits, preferred_element_type=jnp.float32)
        return d_head, d_x

    xs = tuple(_chunks(a, chunk) for a in (x, targets, lse, d_lse, d_target))
    d_head, d_x = jax.lax.scan(one, jnp.zeros(head.shape, jnp.float32), xs)
    return _unchunk(d_x).astype(x.dtype), d_head.astype(head.dtype), None


_lse_and_target.defvjp(_forward, _backward)


def lse_and_target(x: jax.Array, head: jax.Array, targets: jax.Array, chunk: int,
                   softcap: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """(logsumexp of the logits, the target's logit), float32 [batch, seq] each, for final hidden
    states x [batch, seq, embed], the output head [embed, vocab] and int targets [batch, seq]; the
    logits are `softcap * tanh(x @ head / softcap)` where a soft cap is set. `chunk` tokens of each
    row at a time; it must divide seq."""
    if x.shape[1] % chunk:
        raise ValueError(f"a logits chunk of {chunk} tokens does not divide the sequence length {x.shape[1]}")
    return _lse_and_target(x, head, targets, chunk, softcap)

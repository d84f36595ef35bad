"""Batched generation with a KV cache under jax.jit: prefill, then decode with static shapes.

Prompts are left-padded to a bucketed length so a handful of shapes cover every batch; each prompt
can be sampled `n` times; temperature (0: greedy), top-p and top-k; stop strings and EOS end a
sample. Decoding runs on the device in chunks of steps; between chunks the host checks whether
every row has stopped, and once at most half the rows are still going only they decode on, in a
smaller batch (each row draws from its own random stream, so which rows share a batch changes no
sample). Parameters sharded over a mesh decode sharded: jit follows their shardings.

A prefix the prompts share (an evaluation's few-shot block) is prefilled once and kept: later calls
whose prompts start with it prefill only the rest, and every row attends to the prefix's keys and
values held once for the whole batch (not on a mesh, nor for sliding-window models).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import math
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from entigraph_jax.data import check_vocabulary
from entigraph_jax.errors import UserError

from .constrained import JsonPrefix, TokenTexts
from .llama import KVCache, Llama, SharedPrefix
from .sharding import ShardingRules

JSON_CANDIDATES = 64  # tokens per row and step tried against the JSON automaton before the whole vocabulary
MIN_SHARED = 64  # tokens: a shorter prefix common to the prompts is prefilled with each of them


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k
    n: int = 1  # samples per prompt
    stop: tuple[str, ...] = ()  # the text is cut right before the first stop string
    stop_tokens: tuple[int, ...] = ()  # ids that end a sample like EOS (e.g. a chat end-of-turn)
    seed: int = 0
    json: bool = False  # every sample is one JSON object (constrained decoding, `constrained.py`) ...
    json_schema: str = ""  # ... following this JSON Schema (as text; "" or "{}": any object)


@dataclasses.dataclass(frozen=True)
class Sample:
    text: str
    tokens: list[int]
    finish_reason: str  # "stop" (a stop string), "eos" or "length"
    stop_string: str | None = None  # the stop string that ended the sample (not part of `text`)


def filtered(logits: jax.Array, params: SamplingParams) -> jax.Array:
    """Logits [batch, vocab] over temperature, -inf outside top-k and the top-p nucleus."""
    logits = logits / params.temperature
    if params.top_k:
        kth = jax.lax.top_k(logits, params.top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if params.top_p < 1.0:
        ordered = jnp.sort(logits, axis=-1)[:, ::-1]
        mass = jnp.cumsum(jax.nn.softmax(ordered, axis=-1), axis=-1)
        # the smallest logit still inside the nucleus: tokens below it are dropped (the top one never)
        cutoff_index = jnp.sum(mass - jax.nn.softmax(ordered, axis=-1) < params.top_p, axis=-1) - 1
        cutoff = jnp.take_along_axis(ordered, cutoff_index[:, None], axis=-1)
        logits = jnp.where(logits < cutoff, -jnp.inf, logits)
    return logits


def next_token(logits: jax.Array, key: jax.Array, params: SamplingParams) -> jax.Array:
    """One token per row of logits [batch, vocab] under the sampling parameters."""
    if params.temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, filtered(logits, params), axis=-1).astype(jnp.int32)


def candidates(logits: jax.Array, key: jax.Array, params: SamplingParams, count: int) -> tuple[jax.Array, jax.Array]:
    """The `count` best tokens per row in Gumbel-max order (greedy: by logit) and whether each lies in
    the top-k / top-p set: the first allowed one of them is a sample restricted to the allowed tokens."""
    if params.temperature == 0:
        scores, inside = logits, jnp.ones_like(logits, bool)
    else:
        kept = filtered(logits, params)
        scores = logits / params.temperature + jax.random.gumbel(key, logits.shape)
        inside = kept > -jnp.inf
    order = jax.lax.top_k(scores, count)[1]
    return order, jnp.take_along_axis(inside, order, axis=-1)


def _bucket(length: int) -> int:
    """Powers of two up to 256, then multiples of 256: few distinct shapes are ever compiled."""
    return max(16, 1 << (max(length, 1) - 1).bit_length()) if length <= 256 else -(-length // 256) * 256


class DecodeStopped(RuntimeError):
    """A decode abandoned because `Sampler.stop` was set."""


class Sampler:
    """`Sampler(model, tokenizer).generate(prompts, SamplingParams(...))` -> n `Sample`s per prompt."""

    def __init__(self, model: Llama, tokenizer, chunk: int = 32, mesh: Mesh | None = None,
                 rules: ShardingRules = ShardingRules(), share_prefix: bool = True, drop_finished: bool = True):
        """With a `mesh` (the model's parameters already placed on it, e.g. by `from_pretrained_hf(...,
        mesh=mesh)`), rows are spread over the batch axes and the KV cache over batch and kv_heads.
        `share_prefix=False` prefills every prompt whole, `drop_finished=False` decodes every row to the
        batch's end (what the shared prefix and the smaller batches are compared against)."""
        check_vocabulary(tokenizer, model.config.vocab_size)
        self.graphdef, self.state = nnx.split(model)
        self.config, self.tokenizer, self.chunk, self.mesh = model.config, tokenizer, chunk, mesh
        self.share_prefix = share_prefix and mesh is None and not model.config.sliding_window
        self.drop_finished = drop_finished and mesh is None  # a mesh's rows are spread over its devices
        self.pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else 0
        self._texts: TokenTexts | None = None  # each token's text, built on the first JSON request
        self._shared: tuple[list[int], SharedPrefix] | None = None  # the last shared prefix: tokens, keys/values
        # set from another thread (a server shutting down): a decode in progress raises `DecodeStopped` at its
        # next chunk of tokens (its next token under JSON), so a stop never waits for a whole batch
        self.stop = threading.Event()
        self.row_multiple = 1
        if mesh is not None:
            batch_axes = rules.spec(("batch",), (0,), mesh)[0] or ()
            self.row_multiple = math.prod(mesh.shape[a] for a in batch_axes)
            heads = rules.spec(("kv_heads",), (self.config.num_kv_heads,), mesh)[0]
            self.rows_sharding = NamedSharding(mesh, PartitionSpec(batch_axes))
            kv = NamedSharding(mesh, PartitionSpec(None, batch_axes, None, heads, None))
            self.cache_sharding = KVCache(kv, kv, self.rows_sharding, NamedSharding(mesh, PartitionSpec()))

    @functools.partial(jax.jit, static_argnums=(0, 5, 6))
    def _prefill(self, state, tokens, positions, valid, n: int, max_len: int):
        """The last logits and the cache of the prompts, each row then repeated `n` times: a prompt is
        prefilled once however many samples it gets."""
        cache = KVCache.empty(self.config, tokens.shape[0], max_len)
        logits, cache = nnx.merge(self.graphdef, state).prefill(tokens, positions[:, :-1], valid, cache)
        return self._repeat(logits, cache, n)

    @functools.partial(jax.jit, static_argnums=(0, 5))
    def _prefill_after(self, state, tokens, positions, valid, n: int, cache: KVCache, shared: SharedPrefix):
        """`_prefill` of what follows the `shared` prefix in each prompt, into the empty `cache` (an
        argument: made inside, XLA would spend seconds constant-folding attention over its zeros)."""
        logits, cache = nnx.merge(self.graphdef, state).decode(tokens, positions[:, :-1], valid, cache, shared,
                                                                last=True)
        return self._repeat(logits[:, -1], cache, n)

    @functools.partial(jax.jit, static_argnums=0)
    def _prefill_shared(self, state, tokens) -> SharedPrefix:
        """The keys and values of one prefix [1, p], to be held once for every row that continues it."""
        length = tokens.shape[1]
        cache = KVCache.empty(self.config, 1, length)
        _, cache = nnx.merge(self.graphdef, state).prefill(tokens, jnp.arange(length, dtype=jnp.int32)[None],
                                                           jnp.ones((1, length), bool), cache)
        return SharedPrefix(cache.k[:, 0], cache.v[:, 0])

    def _repeat(self, logits, cache: KVCache, n: int):
        """Each row of the prefilled logits and cache `n` times (a prompt's samples), placed on the mesh."""
        logits = jnp.repeat(logits, n, axis=0)
        cache = KVCache(jnp.repeat(cache.k, n, axis=1), jnp.repeat(cache.v, n, axis=1),
                        jnp.repeat(cache.valid, n, axis=0), cache.index)
        if self.mesh is not None:
            logits = jax.lax.with_sharding_constraint(logits, self.rows_sharding)
            cache = jax.lax.with_sharding_constraint(cache, self.cache_sharding)
        return logits, cache

    @functools.partial(jax.jit, static_argnums=(0, 2), donate_argnums=4)
    def _decode(self, state, params: SamplingParams, limit: jax.Array, carry, shared: SharedPrefix | None):
        """Decode until step `limit` or until every row has ended (a while loop: it exits early)."""
        model = nnx.merge(self.graphdef, state)
        enders = jnp.asarray(self._enders(params), jnp.int32)

        def step(carry):
            logits, cache, positions, out, done, count, rows = carry
            # each row's own random stream (its sample's number in the call, the step): the same
            # draws whichever rows share the batch, so finished rows can be dropped between chunks
            keys = jax.vmap(lambda row: jax.random.fold_in(jax.random.fold_in(jax.random.key(params.seed), row),
                                                           count))(rows)
            drawn = jax.vmap(lambda row_logits, key: next_token(row_logits[None], key, params)[0])(logits, keys)
            token = jnp.where(done, self.pad_id, drawn)
            out = jax.lax.dynamic_update_slice(out, token[:, None], (0, count))
            ends = jnp.isin(token, enders)
            done = done | ends
            logits, cache = model.decode(token[:, None], positions[:, None], (~done | ends)[:, None], cache, shared)
            return logits[:, -1], cache, positions + 1, out, done, count + 1, rows

        return jax.lax.while_loop(lambda c: (c[5] < limit) & ~jnp.all(c[4]), step, carry)

    @functools.partial(jax.jit, static_argnums=0)
    def _gather(self, carry, keep):
        """The decoding state of the rows `keep` only (a smaller batch to decode)."""
        logits, cache, positions, out, done, count, rows = carry
        cache = KVCache(cache.k[:, keep], cache.v[:, keep], cache.valid[keep], cache.index)
        return logits[keep], cache, positions[keep], out[keep], done[keep], count, rows[keep]

    @functools.partial(jax.jit, static_argnums=(0, 3, 4))
    def _candidates(self, logits, key, params: SamplingParams, count: int):
        return candidates(logits, key, params, count)

    @functools.partial(jax.jit, static_argnums=0, donate_argnums=5)
    def _advance(self, state, tokens, positions, valid, cache, shared: SharedPrefix | None):
        logits, cache = nnx.merge(self.graphdef, state).decode(tokens[:, None], positions[:, None], valid[:, None],
                                                               cache, shared)
        return logits[:, -1], cache

    def _decode_json(self, logits, cache, positions, params: SamplingParams, shared) -> list[Sample]:
        """Step by step, each row's token the first of its candidates that keeps it a JSON prefix."""
        if self._texts is None:
            self._texts = TokenTexts(self.tokenizer, self.config.vocab_size)
        rows = logits.shape[0]
        schema = json.loads(params.json_schema) if params.json_schema else None
        states, tokens = [JsonPrefix.start(schema or None)] * rows, [[] for _ in range(rows)]
        done = np.zeros(rows, bool)
        positions = np.asarray(positions)
        count = min(JSON_CANDIDATES, self.config.vocab_size)
        for step in range(params.max_new_tokens):
            self._check_stop()
            key = jax.random.fold_in(jax.random.key(params.seed), step)
            order, inside = (np.asarray(a) for a in self._candidates(logits, key, params, count))
            chosen, produced = np.full(rows, self.pad_id, np.int32), np.zeros(rows, bool)
            for r in np.flatnonzero(~done):
                picked = self._first_valid(states[r], order[r], inside[r], lambda r=r, rows=logits: np.asarray(rows[r]))
                if picked is None:
                    done[r] = True  # no token continues the JSON: the row ends as it is
                    continue
                chosen[r], states[r] = picked
                tokens[r].append(int(picked[0]))
                produced[r], done[r] = True, states[r].complete
            if done.all():
                break
            logits, cache = self._advance(self.state, jnp.asarray(chosen), jnp.asarray(positions + step),
                                          jnp.asarray(produced), cache, shared)
        return [Sample(self.tokenizer.decode(t), t, "eos" if s.complete else "length")
                for t, s in zip(tokens, states, strict=True)]

    def _first_valid(self, state: JsonPrefix, order, inside, row_logits) -> tuple[int, JsonPrefix] | None:
        """The first candidate inside the top-k / top-p set that keeps `state` valid, else the first
        valid one at all, else (rarely) the best valid token of the whole vocabulary."""
        fallback = None
        for token, kept in zip(order.tolist(), inside.tolist(), strict=True):
            after = self._texts.next_state(state, token)
            if after is not None:
                if kept:
                    return token, after
                fallback = fallback or (token, after)
        if fallback:
            return fallback
        for token in np.argsort(-row_logits()).tolist():
            after = self._texts.next_state(state, token)
            if after is not None:
                return token, after
        return None

    def generate(self, prompts: list[str] | list[list[int]], params: SamplingParams) -> list[list[Sample]]:
        if not prompts:
            return []
        ids = [p if isinstance(p, list) else self.tokenizer.bos() + self.tokenizer.encode(p) for p in prompts]
        wanted = len(ids) * params.n
        ids += [ids[0]] * (-len(ids) % self.row_multiple)  # whole rows per device; dropped below
        longest, limit = max(map(len, ids)), self.config.max_position_embeddings
        if longest + params.max_new_tokens > limit:
            raise UserError(f"a prompt of {longest} tokens plus {params.max_new_tokens} new "
                             f"exceeds max_position_embeddings={limit}")
        # room for whole chunks of new tokens (few shapes to compile) where the positions allow it
        new = min(-(-params.max_new_tokens // self.chunk) * self.chunk, limit - longest)
        start, shared = self._shared_prefix(ids)
        rest = [row[start:] for row in ids]
        width = min(_bucket(max(map(len, rest))), limit - new - start)
        tokens = np.full((len(ids), width), self.pad_id, np.int32)
        valid = np.zeros((len(ids), width), bool)
        for i, row in enumerate(rest):  # left padding: every prompt ends at the same column
            tokens[i, width - len(row):], valid[i, width - len(row):] = row, True
        # each row's positions (after the shared prefix), and one more column: where its first new token goes
        positions = np.cumsum(np.concatenate([valid, np.ones((len(ids), 1), bool)], axis=1), axis=1) - 1 + start
        positions = np.maximum(positions, 0).astype(np.int32)
        if self.mesh is not None:
            tokens, positions, valid = (jax.device_put(a, self.rows_sharding) for a in (tokens, positions, valid))
        if shared is None:
            logits, cache = self._prefill(self.state, tokens, positions, valid, params.n, width + new)
        else:
            empty = KVCache.empty(self.config, len(ids), width + new)
            logits, cache = self._prefill_after(self.state, tokens, positions, valid, params.n, empty, shared)
        rows = len(ids) * params.n
        following = np.repeat(np.asarray(positions[:, -1]), params.n)
        if params.json:
            samples = self._decode_json(logits, cache, following, params, shared)[:wanted]
            return [samples[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]
        carry = (logits, cache, jnp.asarray(following), jnp.zeros((rows, new), jnp.int32),
                 jnp.zeros(rows, bool), jnp.zeros((), jnp.int32), jnp.arange(rows, dtype=jnp.int32))
        out = self._decode_rows(carry, params, new, shared)
        samples = [self._finish(out[i, : params.max_new_tokens], params) for i in range(wanted)]
        return [samples[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _decode_rows(self, carry, params: SamplingParams, new: int, shared) -> np.ndarray:
        """Every row's new tokens [rows, new]. Without stop strings the device decodes to the end in
        one call; with them it stops every `chunk` steps so the host can look for them in the text so
        far, and once at most half the rows are still going, only those decode on (in a batch of the
        next power of two) where `drop_finished`."""
        out = np.zeros(carry[3].shape, np.int32)
        live = len(out)  # the batch's first rows are samples; any after them pad it to its size
        step = self.chunk if params.stop else new
        for limit in (*range(step, new, step), new):
            self._check_stop()
            carry = self._decode(self.state, params, jnp.int32(limit), carry, shared)
            rows, done = np.asarray(carry[6])[:live], np.asarray(carry[4])[:live]
            out[rows] = np.asarray(carry[3])[:live]
            going = [i for i, (row, d) in enumerate(zip(rows, done, strict=True))
                     if not d and self._stop_index(out[row, :limit], params) is None]
            if not going:
                break
            size = 1 << (len(going) - 1).bit_length()
            if self.drop_finished and size <= carry[4].shape[0] // 2:
                # padding rows copy the first kept one, marked done: they only repeat the pad token
                keep = jnp.asarray(going + going[:1] * (size - len(going)), jnp.int32)
                carry = self._gather(carry, keep)
                live, carry = len(going), (*carry[:4], jnp.arange(size) >= len(going), *carry[5:])
        return out

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise DecodeStopped("the sampler was stopped during a decode")

    def _shared_prefix(self, ids: list[list[int]]) -> tuple[int, SharedPrefix | None]:
        """(its length, its keys and values) of a prefix every prompt starts with, or (0, None): the one
        kept from an earlier call as far as these prompts share it, else the prefix these prompts have
        in common (then kept), when at least `MIN_SHARED` tokens long; each prompt keeps one token of
        its own to prefill, whose logits start its decoding."""
        if not self.share_prefix:
            return 0, None
        room = min(map(len, ids)) - 1
        if self._shared is not None:
            kept, kv = self._shared
            length = min(room, len(os.path.commonprefix([kept, *ids])))
            if length >= MIN_SHARED:
                if length < len(kept):  # keys and values of a prefix do not depend on what follows it
                    kv = SharedPrefix(kv.k[:, :length], kv.v[:, :length])
                    self._shared = (kept[:length], kv)
                return length, kv
        length = min(room, len(os.path.commonprefix(ids))) if len(ids) > 1 else 0
        if length < MIN_SHARED:
            return 0, None
        kept = ids[0][:length]
        self._shared = (kept, self._prefill_shared(self.state, jnp.asarray([kept], jnp.int32)))
        return length, self._shared[1]

    def _stop_index(self, tokens: np.ndarray, params: SamplingParams) -> tuple[int, str] | None:
        """(where the first stop string starts in the decoded text, which one), or None."""
        if not params.stop:
            return None
        text = self.tokenizer.decode(tokens.tolist())
        found = [(i, s) for s in params.stop if (i := text.find(s)) >= 0]
        return min(found) if found else None

    def _enders(self, params: SamplingParams) -> tuple[int, ...]:
        eos = (self.tokenizer.eos_id,) if self.tokenizer.eos_id is not None else ()
        return eos + tuple(params.stop_tokens) or (-1,)

    def _finish(self, tokens: np.ndarray, params: SamplingParams) -> Sample:
        tokens = tokens.tolist()
        reason = "length"
        ends = [i for i, t in enumerate(tokens) if t in self._enders(params)]
        if ends:
            tokens, reason = tokens[: ends[0]], "eos"
        text = self.tokenizer.decode(tokens)
        stop = self._stop_index(np.asarray(tokens, np.int32), params)
        if stop is not None:  # the tokens up to the one that completes the stop string
            ends = bisect.bisect_left(range(len(tokens) + 1), True, key=lambda k: stop[1] in self.tokenizer.decode(
                tokens[:k]))
            return Sample(text[: stop[0]], tokens[:ends], "stop", stop[1])
        return Sample(text, tokens, reason)

"""The Grain pipeline: token cache -> rows (packed or whole) -> shuffle -> epochs -> mixture -> replay ->
host slice -> batch.

Everything before batching is a random-access `grain.MapDataset`, so the number of steps is known
before training starts and the iterator state is a position: saving it (through Orbax, with
`grain.checkpoint`) and restoring it yields exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import grain
import jax
import numpy as np

from entigraph_jax.errors import UserError

from .cache import TokenCache


class PipelineError(UserError):
    """Pipeline settings that do not fit the corpus or the hosts (batch, budget, replay rate)."""


@dataclasses.dataclass(frozen=True)
class PackedRows:
    """Concatenate-and-chunk (as the paper did): the documents `order` of `cache`, end to end, cut
    into rows of `seq_len` inputs and their next-token targets; every token is a target once.

    With `mask_documents`, each document fragment in a row gets its own segment id (1, 2, ...) and
    positions from 0, so the model can keep attention inside documents; otherwise one segment.
    With `loss_on_all`, every target is trained on, prompts and user turns too (the paper's
    instruction tuning); otherwise only what the cache's loss mask marks (assistant turns, the text
    after a record's prompt).
    """

    cache: TokenCache
    order: np.ndarray  # document indices, in concatenation order
    seq_len: int
    mask_documents: bool = False
    loss_on_all: bool = False

    def __post_init__(self):
        starts = np.concatenate([[0], np.cumsum(self.cache.lengths[self.order])])
        object.__setattr__(self, "starts", starts)  # stream offset of each document in `order`

    @property
    def num_tokens(self) -> int:
        return int(self.starts[-1])

    def __len__(self) -> int:
        return max(self.num_tokens - 1, 0) // self.seq_len

    def __getitem__(self, row: int) -> dict[str, np.ndarray]:
        begin, end = row * self.seq_len, row * self.seq_len + self.seq_len + 1
        first = int(np.searchsorted(self.starts, begin, side="right")) - 1
        last = int(np.searchsorted(self.starts, end, side="left"))
        parts = self.cache.documents_with_masks(self.order[first:last])
        window = slice(begin - self.starts[first], end - self.starts[first])
        stream = np.concatenate([tokens for tokens, _ in parts])[window]
        learn = np.concatenate([mask for _, mask in parts])[window]
        if self.mask_documents:
            # the document each stream position belongs to, numbered from 1 within the row
            owner = np.searchsorted(self.starts, np.arange(begin, end), side="right") - first
            segments = owner[:-1].astype(np.int32)
            fragment_start = np.maximum(self.starts[first + segments - 1], begin)
            positions = (np.arange(begin, end - 1) - fragment_start).astype(np.int32)
        else:
            segments = np.ones(self.seq_len, np.int32)
            positions = np.arange(self.seq_len, dtype=np.int32)
        return {
            "inputs": stream[:-1],
            "targets": stream[1:],
            "segment_ids": segments,
            "positions": positions,
            "loss_mask": np.ones(self.seq_len, np.float32) if self.loss_on_all else learn[1:].astype(np.float32),
        }


@dataclasses.dataclass(frozen=True)
class WholeRows:
    """One record per row, never split across rows (SBP's synthesizer: every token of d2 is trained
    with its d1 in context). A record longer than a row is cut to fit: BOS stays, the prompt keeps its
    end (the end of d1 and the separator), at most half the row when the text needs the rest, and the
    text is cut at its end. The rest of a short record's row is padding that teaches nothing
    (loss mask 0, segment id 0 with `mask_documents`)."""

    cache: TokenCache
    order: np.ndarray  # record indices
    seq_len: int
    mask_documents: bool = False
    loss_on_all: bool = False

    @property
    def num_tokens(self) -> int:
        return int(np.minimum(self.cache.lengths[self.order], self.seq_len + 1).sum())

    def __len__(self) -> int:
        return len(self.order)

    def fit(self, tokens: np.ndarray, learn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The record cut to at most seq_len + 1 tokens, as the docstring says."""
        room = self.seq_len + 1
        if len(tokens) <= room:
            return tokens, learn
        unlearned = np.flatnonzero(learn == 0)  # the prompt: the tokens without loss after BOS
        start = int(unlearned[0]) if len(unlearned) else 0
        end = start + (int(np.argmax(learn[start:] > 0)) if learn[start:].any() else len(learn) - start)
        room -= start  # BOS stays
        kept = min(end - start, max(room - (len(tokens) - end), room // 2))
        index = np.concatenate([np.arange(start), np.arange(end - kept, end), np.arange(end, end + room - kept)])
        return tokens[index], learn[index]

    def __getitem__(self, row: int) -> dict[str, np.ndarray]:
        [(tokens, learn)] = self.cache.documents_with_masks([self.order[row]])
        tokens, learn = self.fit(tokens, learn)
        n, pad = len(tokens) - 1, self.seq_len + 1 - len(tokens)
        stream = np.concatenate([tokens, np.zeros(pad, tokens.dtype)])
        real = np.arange(self.seq_len) < n
        mask = real if self.loss_on_all else real & (np.concatenate([learn[1:], np.zeros(pad, learn.dtype)]) > 0)
        return {
            "inputs": stream[:-1],
            "targets": stream[1:],
            "segment_ids": real.astype(np.int32) if self.mask_documents else np.ones(self.seq_len, np.int32),
            "positions": np.arange(self.seq_len, dtype=np.int32),
            "loss_mask": mask.astype(np.float32),
        }


Rows = PackedRows | WholeRows


def subsample(cache: TokenCache, seed: int, fraction: float | None = None,
              num_tokens: int | None = None) -> np.ndarray:
    """Document indices in a seeded order, cut to a `fraction` or `num_tokens` of the corpus.

    The same seed gives the same order, so a smaller budget's subset is a prefix of a larger one's:
    the runs of a scaling study see nested corpora, as in the paper."""
    order = np.random.default_rng(seed).permutation(len(cache))
    if fraction is None and num_tokens is None:
        return order
    if fraction is not None and num_tokens is not None:
        raise PipelineError("subsample by a fraction or by a number of tokens, not both")
    budget = cache.num_tokens * fraction if fraction is not None else num_tokens
    if not 0 < budget <= cache.num_tokens:
        raise PipelineError(f"subsample budget {budget:.0f} tokens is outside (0, {cache.num_tokens}]")
    taken = np.cumsum(cache.lengths[order])
    return order[: int(np.searchsorted(taken, budget, side="left")) + 1]


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """Batches for one host, and what the learning-rate schedule needs to know in advance."""

    dataset: grain.MapDataset  # per-host batches, random access
    steps_per_epoch: float  # rows of one epoch / global batch: a batch may hold the end of one epoch and the next
    num_steps: int
    global_batch: int
    read_options: grain.ReadOptions

    def iterator(self) -> grain.DatasetIterator:
        """A fresh iterator from step 0; restore a saved state into it to resume."""
        return iter(self.dataset.to_iter_dataset(self.read_options))


@dataclasses.dataclass(frozen=True)
class PaddedRows:
    """`rows` followed by copies of its first row that teach nothing (loss mask 0), up to `length`:
    evaluation scores every row of a source smaller than (or not a multiple of) one global batch."""

    rows: Rows
    length: int

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, row: int) -> dict[str, np.ndarray]:
        if row < len(self.rows):
            return self.rows[row]
        first = self.rows[0]
        return dict(first, loss_mask=np.zeros_like(first["loss_mask"]))


@dataclasses.dataclass(frozen=True)
class Mixture:
    """Sources mixed into the main corpus, each at a share of the rows (the main corpus has the rest).
    The shares may change between phases (a resumed run given new weights): each phase holds from its
    first step, and every source goes on where the earlier phases left it, so no row of any source is
    skipped or seen twice on account of the change."""

    sources: tuple[Rows, ...]
    phases: tuple[tuple[int, tuple[float, ...]], ...]  # (first step, each source's share), from step 0

    def __post_init__(self):
        firsts = [first for first, _ in self.phases]
        if not firsts or firsts[0] != 0 or firsts != sorted(set(firsts)):
            raise PipelineError(f"mixture phases must start at step 0 in increasing order: {self.phases}")
        for _, shares in self.phases:
            if len(shares) != len(self.sources) or any(not 0 <= s < 1 for s in shares) or sum(shares) >= 1:
                raise PipelineError(f"mixture shares {shares} must be one per source, each in [0, 1), "
                                    "together below 1")
        if any(len(source) == 0 for source in self.sources):
            raise PipelineError("a mixed source is shorter than one row")

    def most(self, source: int | None = None) -> float:
        """The largest share, of one source or of all together, in any phase."""
        return max(sum(shares) if source is None else shares[source] for _, shares in self.phases)


def taken(weights: list[float], rows: int) -> list[int]:
    """How many rows of each part Grain's `MapDataset.mix` with these weights takes in its first
    `rows`: read off the mix itself (over endless index ranges), the next index it takes of each part."""
    tags = [grain.MapDataset.range(2**62).map(functools.partial(lambda part, i: (part, i), part))
            for part in range(len(weights))]
    mixed, found, row = grain.MapDataset.mix(tags, weights), {}, rows
    while len(found) < len(weights):
        part, index = mixed[row]
        found.setdefault(part, index)
        row += 1
    return [found[part] for part in range(len(weights))]


def mix(main: grain.MapDataset, mixture: Mixture, seed: int, global_batch: int) -> grain.MapDataset:
    """`main`'s rows, each once, with the mixture's sources at their shares, phase by phase."""
    rows_at_most = len(main) / (1 - mixture.most()) + len(mixture.phases)
    extras = [grain.MapDataset.source(source).shuffle(seed=seed + 2 + i)
              .repeat(math.ceil((rows_at_most * mixture.most(i) + 1) / len(source)) + 1)
              for i, source in enumerate(mixture.sources)]
    offsets, pieces = [0] * (1 + len(extras)), []
    for phase, (first_step, shares) in enumerate(mixture.phases):
        used = [0] + [i + 1 for i, share in enumerate(shares) if share > 0]
        parts = [(main, *extras)[i] for i in used]
        parts = [part[offsets[i]:] if offsets[i] else part for part, i in zip(parts, used, strict=True)]
        weights = [1 - sum(shares)] + [shares[i - 1] for i in used[1:]]
        rows = grain.MapDataset.mix(parts, weights) if len(parts) > 1 else parts[0]
        if phase + 1 < len(mixture.phases):
            length = (mixture.phases[phase + 1][0] - first_step) * global_batch
            if len(rows) < length:
                raise PipelineError(f"the mixture's phase from step {first_step} needs {length} rows; the main "
                                    f"corpus leaves {len(rows)}")
            rows = rows[:length]
            for i, count in zip(used, taken(weights, length), strict=True):
                offsets[i] += count
        pieces.append(rows)
    return pieces[0] if len(pieces) == 1 else grain.MapDataset.concatenate(pieces)


def build_pipeline(
    train: Rows,
    *,
    global_batch: int,
    seed: int,
    epochs: int = 1,
    mixture: Mixture | None = None,
    replay: Rows | None = None,
    replay_rate: float = 0.0,
    process_index: int | None = None,
    process_count: int | None = None,
    num_threads: int = 2,
    prefetch: int = 16,
    pad_last: bool = False,
) -> Pipeline:
    """Shuffle the rows globally, repeat for `epochs` (reshuffled each epoch), interleave the rows of
    the `mixture`'s sources at exactly their shares of every stretch (each shuffled and repeated as
    often as needed: `train`'s rows are seen `epochs` times, never more), replace each row with
    probability `replay_rate` by a row of `replay` drawn at random (the paper's rehearsal: the run
    keeps its step count, and about `replay_rate` of its rows, and so of its tokens, are replay),
    give this host its share of every global batch, and batch. The draws are seeded by the row's
    position, so a resumed run sees the same rows. With `pad_last` (evaluation) the rows are padded
    with rows that teach nothing to whole global batches, so none is dropped."""
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    if global_batch % process_count:
        raise PipelineError(f"global batch {global_batch} is not divisible by {process_count} hosts")
    if len(train) == 0:
        raise PipelineError(f"the training corpus ({train.num_tokens} tokens) is shorter than one row "
                         f"of seq_len {train.seq_len}")
    if pad_last:
        train = PaddedRows(train, -(-len(train) // global_batch) * global_batch)
    rows = grain.MapDataset.source(train).shuffle(seed=seed)
    steps_per_epoch = len(rows) / global_batch
    if steps_per_epoch < 1:
        raise PipelineError(f"one epoch has {len(rows)} rows, fewer than the global batch {global_batch}")
    rows = rows.repeat(epochs)
    if mixture is not None and mixture.sources:
        rows = mix(rows, mixture, seed, global_batch)
        steps_per_epoch = len(rows) / epochs / global_batch
    if replay is not None and replay_rate > 0:
        if not 0 < replay_rate < 1 or len(replay) == 0:
            raise PipelineError(f"replay_rate {replay_rate} must be in (0, 1) with a non-empty replay corpus")

        def rehearse(row, rng):
            return replay[int(rng.integers(len(replay)))] if rng.random() < replay_rate else row

        rows = rows.random_map(rehearse, seed=seed + 1)
    local = rows[process_index::process_count]
    batches = local.batch(global_batch // process_count, drop_remainder=True)
    num_steps = math.floor(len(rows) / global_batch)
    return Pipeline(
        dataset=batches[:num_steps],
        steps_per_epoch=steps_per_epoch,
        num_steps=num_steps,
        global_batch=global_batch,
        read_options=grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch),
    )

"""The KV-cache sampler against full forward passes, and its sampling controls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entigraph_jax.data.tokenizers import Tokenizer
from entigraph_jax.models import Llama, LlamaConfig, from_pretrained_hf, make_mesh
from entigraph_jax.models.llama import KVCache
from entigraph_jax.models.sampling import DecodeStopped, Sampler, SamplingParams, next_token


class CharTokenizer(Tokenizer):
    """ids 3..63 <-> characters; bos 1, eos 2, pad 0."""

    bos_id, eos_id, pad_id, vocab_size = 1, 2, 0, 64

    def encode(self, text):
        return [3 + (ord(c) % 61) for c in text]

    def decode(self, ids):
        return "".join(chr(ord("A") + (i - 3) % 58) for i in ids if i >= 3)


@pytest.fixture(scope="module")
def model():
    cfg = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
                      num_kv_heads=2, head_dim=16, dtype="float32", max_position_embeddings=512)
    return Llama(cfg, rngs=nnx.Rngs(3))


PROMPTS = ["hello world", "a", "the quick brown fox jumps"]


def test_greedy_equals_argmax_of_full_forward_passes(model):
    samples = Sampler(model, CharTokenizer(), chunk=8).generate(PROMPTS, SamplingParams(max_new_tokens=24,
                                                                                         temperature=0))
    forward = jax.jit(lambda row: model(row[None])[0])  # right padding to one width: causal, so harmless
    for prompt, (sample,) in zip(PROMPTS, samples, strict=True):
        ids = [1] + CharTokenizer().encode(prompt)
        for token in sample.tokens + ([2] if sample.finish_reason == "eos" else []):
            assert int(jnp.argmax(forward(jnp.asarray(ids + [0] * (64 - len(ids))))[len(ids) - 1])) == token
            ids.append(token)
        assert sample.finish_reason == "eos" or len(sample.tokens) == 24


def test_stop_strings_cut_exactly(model):
    sampler = Sampler(model, CharTokenizer(), chunk=8)
    full = sampler.generate(PROMPTS[:1], SamplingParams(max_new_tokens=24, temperature=0))[0][0]
    stop = full.text[5:7]
    cut = sampler.generate(PROMPTS[:1], SamplingParams(max_new_tokens=24, temperature=0, stop=(stop,)))[0][0]
    assert cut.text == full.text[: full.text.find(stop)] and cut.finish_reason == "stop"
    assert cut.stop_string == stop and full.stop_string is None  # which stop string ended it


def test_a_stop_set_during_a_decode_ends_it_at_the_next_chunk(model):
    """A server shutting down sets `Sampler.stop` from another thread: the decode raises at its next chunk
    instead of running the batch to its end; cleared, the sampler decodes as before."""
    sampler = Sampler(model, CharTokenizer(), chunk=8)
    params = SamplingParams(max_new_tokens=64, temperature=0, stop=("never said",))
    whole = sampler.generate(PROMPTS, params)
    chunks, decode = [], sampler._decode

    def one_chunk_then_stop(*args):
        chunks.append(1)
        sampler.stop.set()
        return decode(*args)

    sampler._decode = one_chunk_then_stop
    with pytest.raises(DecodeStopped, match="stopped during a decode"):
        sampler.generate(PROMPTS, params)
    assert len(chunks) == 1  # not the 8 chunks the batch had left
    sampler._decode, _ = decode, sampler.stop.clear()
    assert sampler.generate(PROMPTS, params) == whole


@pytest.mark.parametrize("gemma2", [False, True])
def test_prefill_equals_decoding_into_an_empty_cache(gemma2):
    """The prompt-only prefill against the general cached decoding step (the reference), with left
    padding, and for Gemma 2's sliding layers with soft-capped scores and logits."""
    extra = dict(gemma=True, sliding_window=3, layer_types=("sliding_attention", "full_attention"),
                 attn_softcap=5.0, final_softcap=3.0) if gemma2 else {}
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4,
                      num_kv_heads=2, head_dim=8, dtype="float32", max_position_embeddings=64, **extra)
    model = Llama(cfg, rngs=nnx.Rngs(5))
    valid = np.ones((3, 8), bool)
    valid[1, :5], valid[2, :1] = False, False  # rows of 8, 3 and 7 tokens
    tokens = np.where(valid, np.random.default_rng(0).integers(1, 64, (3, 8)), 0).astype(np.int32)
    positions = np.maximum(np.cumsum(valid, axis=1) - 1, 0).astype(np.int32)
    empty = KVCache.empty(cfg, 3, 12)
    logits, cache = model.prefill(tokens, positions, valid, empty)
    reference, expected = model.decode(tokens, positions, valid, empty)
    np.testing.assert_allclose(logits, reference[:, -1], atol=1e-5)
    keep = np.asarray(expected.valid)[None, :, :, None, None]  # the padding's keys and values are never read
    for got, want in ((cache.k, expected.k), (cache.v, expected.v)):
        np.testing.assert_allclose(np.where(keep, got, 0), np.where(keep, want, 0), atol=1e-5)
    assert (np.asarray(cache.valid) == np.asarray(expected.valid)).all() and int(cache.index) == 8


def test_seeded_sampling_is_reproducible(model):
    sampler = Sampler(model, CharTokenizer())
    params = SamplingParams(max_new_tokens=16, temperature=1.0, n=4, seed=7)
    first, again = sampler.generate(PROMPTS, params), sampler.generate(PROMPTS, params)
    assert [[s.tokens for s in row] for row in first] == [[s.tokens for s in row] for row in again]
    assert len({tuple(s.tokens) for s in first[0]}) > 1  # n samples of one prompt differ
    other = sampler.generate(PROMPTS, SamplingParams(max_new_tokens=16, temperature=1.0, n=4, seed=8))
    assert [[s.tokens for s in row] for row in other] != [[s.tokens for s in row] for row in first]
    top1 = sampler.generate(PROMPTS, SamplingParams(max_new_tokens=16, temperature=1.0, top_k=1))
    greedy = sampler.generate(PROMPTS, SamplingParams(max_new_tokens=16, temperature=0))
    assert [r[0].tokens for r in top1] == [r[0].tokens for r in greedy]


def test_top_p_keeps_only_the_nucleus():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]] * 2000))
    keys = jax.random.split(jax.random.key(0), 1)[0]
    drawn = np.asarray(next_token(logits, keys, SamplingParams(temperature=1.0, top_p=0.7)))
    assert set(drawn.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7; 0.15 and 0.05 are cut
    assert abs((drawn == 0).mean() - 0.5 / 0.8) < 0.05


@pytest.mark.torch
def test_sharded_decoding_matches_one_device(hf_llama):
    path, _ = hf_llama("llama3")
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    tokenizer = CharTokenizer()
    params = SamplingParams(max_new_tokens=16, temperature=0)
    prompts = PROMPTS + ["five", "six six"]  # 5 rows: padded to a multiple of the 4 batch shards
    sharded = Sampler(from_pretrained_hf(path, mesh=mesh), tokenizer, mesh=mesh)
    assert sharded.cache_sharding.k.spec == jax.sharding.PartitionSpec(None, ("data", "fsdp"), None, "tensor", None)
    single = Sampler(from_pretrained_hf(path), tokenizer)
    got, expected = sharded.generate(prompts, params), single.generate(prompts, params)
    assert [r[0].tokens for r in got] == [r[0].tokens for r in expected]


def test_a_shared_prefix_is_prefilled_once_and_changes_no_answer(model):
    """Prompts that begin with one long block (an evaluation's few shots): the block is prefilled once,
    kept for later calls (cut where they share less of it), and every answer, greedy or sampled, is the
    one the whole-prompt path gives."""
    block = "Question: which ferry leaves first? Answer: the one at dawn. " * 3  # 186 tokens, shared
    batches = [[block + s for s in ("hello world", "a", "the quick brown fox")],
               [block + s for s in ("jumps over", "the lazy dog again")],
               [block[:100] + s for s in ("x" * 20, "yz" * 15)]]
    shared, whole = Sampler(model, CharTokenizer(), chunk=8), Sampler(model, CharTokenizer(), chunk=8,
                                                                      share_prefix=False)
    kept = []
    for prompts in batches:
        for params in (SamplingParams(max_new_tokens=20, temperature=0),
                       SamplingParams(max_new_tokens=20, temperature=1.0, n=3, seed=7)):
            got, want = shared.generate(prompts, params), whole.generate(prompts, params)
            assert [[s.tokens for s in row] for row in got] == [[s.tokens for s in row] for row in want]
        kept.append(shared._shared)
    assert [len(tokens) for tokens, _ in kept] == [1 + len(block), 1 + len(block), 1 + 100]
    assert kept[1][1] is kept[0][1] and whole._shared is None  # the second batch prefilled only its own part


def test_rows_that_finish_leave_the_batch_and_change_no_sample(model):
    """Once at most half the rows are still going, only they decode on (a smaller batch): every
    sample, greedy or seeded, is the one the whole batch gives when decoded in one piece."""
    prompts = [p * k for p in PROMPTS for k in (1, 2, 3)]
    compacted, whole = Sampler(model, CharTokenizer(), chunk=4), Sampler(model, CharTokenizer(), chunk=4,
                                                                          drop_finished=False)
    sizes = []
    gather = compacted._gather
    compacted._gather = lambda carry, keep: sizes.append(len(keep)) or gather(carry, keep)
    for params in (SamplingParams(max_new_tokens=40, temperature=0, stop=("B", "K", "Q")),
                   SamplingParams(max_new_tokens=40, temperature=1.0, n=4, seed=3, stop=("B", "K", "Q"))):
        got, want = compacted.generate(prompts, params), whole.generate(prompts, params)
        assert [[(s.text, s.tokens, s.finish_reason) for s in row] for row in got] == \
               [[(s.text, s.tokens, s.finish_reason) for s in row] for row in want]
    assert sizes and all(size & (size - 1) == 0 for size in sizes)  # batches of powers of two

"""JSON-constrained decoding: the automaton against Python's json parser, and constrained greedy
decoding against a brute-force reference (full forward passes, every token of the vocabulary tried)."""

import json
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entigraph_jax.data.tokenizers import Tokenizer
from entigraph_jax.models import Llama, LlamaConfig
from entigraph_jax.models.constrained import JsonPrefix
from entigraph_jax.models.sampling import DecodeStopped, Sampler, SamplingParams


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.choice(["str", "num", "lit", "list", "dict"] if depth < 3 else ["str", "num", "lit"])
    if kind == "str":
        return "".join(rng.choice('ab é"\\\n\t/日') for _ in range(rng.randint(0, 6)))
    if kind == "num":
        return rng.choice([0, -3, 17, 2.5, -0.125, 1e-7, 3e21])
    if kind == "lit":
        return rng.choice([True, False, None])
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


def python_accepts_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict) and text.lstrip().startswith("{") and text == text.rstrip()
    except ValueError:
        return False


def test_automaton_agrees_with_the_json_parser():
    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        value = {f"k{i}": random_value(rng) for i in range(rng.randint(0, 4))}
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2]))
        state = JsonPrefix()
        for c in text:  # every prefix of valid JSON is a valid prefix
            state = state.feed(c)
            assert state is not None, text
        assert state.complete
        for _ in range(5):  # one character changed, dropped or added: the parser decides
            i = rng.randrange(len(text))
            edit = rng.choice([text[:i] + text[i + 1:], text[:i] + rng.choice('{}[]":,0-.e tfnu\\x') + text[i:],
                               text[:i] + rng.choice('{}[]":,0-.e tfnu\\x') + text[i + 1:]])
            if "NaN" in edit or "Infinity" in edit or "  " * 8 in edit:
                continue
            state = JsonPrefix().feed(edit)
            assert (state is not None and state.complete) == python_accepts_object(edit), edit
            checked += 1
    assert checked > 1000


JSON_VOCAB = ["<pad>", "<s>", "</s>", *'{}[]":, ', *"abcdefxyz0123456789-.", '{"', '": ', '", "', '"]', "ab", "true",
              "null", "\n", "})", "x{"]


class JsonCharTokenizer(Tokenizer):
    """One token per JSON character plus a few longer pieces (and two that never fit JSON)."""

    path, vocab_size, bos_id, eos_id, pad_id = "json-chars", len(JSON_VOCAB), 1, 2, 0

    def encode(self, text):
        return [JSON_VOCAB.index(c) for c in text]

    def decode(self, ids):
        return "".join(JSON_VOCAB[i] for i in ids if i > 2)

    def token_texts(self, count):
        return [None, None, None, *JSON_VOCAB[3:]] + [None] * (count - len(JSON_VOCAB))


@pytest.fixture(scope="module")
def model():
    cfg = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
                      num_kv_heads=2, head_dim=16, dtype="float32", max_position_embeddings=512)
    return Llama(cfg, rngs=nnx.Rngs(5))


def constrained_greedy_reference(model, prompt: list[int], steps: int) -> list[int]:
    """Full forward pass per step; the best-scoring token whose text keeps the JSON valid."""
    texts = JsonCharTokenizer().token_texts(64)
    forward = jax.jit(lambda row: model(row[None])[0])  # right padding to one width: causal, so harmless
    ids, state, out = list(prompt), JsonPrefix(), []
    for _ in range(steps):
        logits = np.asarray(forward(jnp.asarray(ids + [0] * (64 - len(ids)))))[len(ids) - 1]
        for token in np.argsort(-logits):
            after = state.feed(texts[token]) if texts[token] else None
            if after is not None:
                break
        ids.append(int(token))
        out.append(int(token))
        state = after
        if state.complete:
            break
    return out


def test_constrained_greedy_equals_brute_force(model):
    tok = JsonCharTokenizer()
    prompts = [tok.encode('{"a": 1}'), tok.encode("[1, 2]\n"), tok.encode("abc")]
    got = Sampler(model, tok).generate([[1] + p for p in prompts], SamplingParams(max_new_tokens=24, temperature=0,
                                                                                 json=True))
    for prompt, (sample,) in zip(prompts, got, strict=True):
        assert sample.tokens == constrained_greedy_reference(model, [1] + prompt, 24)
        state = JsonPrefix().feed(sample.text)
        assert state is not None and (state.complete == (sample.finish_reason == "eos"))


def test_sampled_json_is_always_valid(model):
    tok = JsonCharTokenizer()
    samples = Sampler(model, tok).generate([[1]], SamplingParams(max_new_tokens=120, temperature=1.5, top_p=0.9,
                                                                 n=16, seed=3, json=True))[0]
    finished = [s for s in samples if s.finish_reason == "eos"]
    assert len(finished) >= 4 and len({s.text for s in samples}) > 8
    for s in finished:
        assert isinstance(json.loads(s.text), dict)
    for s in samples:
        assert JsonPrefix().feed(s.text) is not None


def test_a_stop_set_during_a_json_decode_ends_it_at_the_next_token(model):
    """Under the JSON constraint the stop is looked at every token (`Sampler.stop`, set by a closing server)."""
    sampler = Sampler(model, JsonCharTokenizer())
    params = SamplingParams(max_new_tokens=64, temperature=0, json=True)
    steps, candidates = [], sampler._candidates

    def one_token_then_stop(*args):
        steps.append(1)
        sampler.stop.set()
        return candidates(*args)

    sampler._candidates = one_token_then_stop
    with pytest.raises(DecodeStopped, match="stopped during a decode"):
        sampler.generate([[1]], params)
    assert len(steps) == 1

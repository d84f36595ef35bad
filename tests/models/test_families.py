"""Families beside Llama against transformers on random tiny configs: Qwen 2 (q/k/v biases; sliding
layers), Qwen 3 (q/k RMSNorm), Mistral (a sliding window on every layer), Gemma 2 (scaled embeddings,
GeGLU, 1 + w norms around attention and MLP, query scale, soft-capped scores and logits, alternating
sliding layers) and Gemma 3 (q/k norms, a rotary base of its own for sliding layers). Logits, export, greedy
decoding through the KV cache, sharded loading, training and the memory planner."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entigraph_jax.config import load_config_file
from entigraph_jax.data import load_tokenizer
from entigraph_jax.models import from_pretrained_hf, make_mesh, save_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.train import TrainSettings, train
from entigraph_jax.train.plan import plan
from tests.helpers import ROOT
from tests.helpers.models import hf_logits
from tests.helpers.tokenizers import build_bpe_tokenizer

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
BASE = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=3, max_position_embeddings=256,
            initializer_range=0.1, rms_norm_eps=1e-6, num_attention_heads=4, num_key_value_heads=2)
FAMILIES = {
    "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM,
              dict(BASE, rope_theta=1e6, tie_word_embeddings=True)),
    "qwen2_sliding": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM,
                      dict(BASE, use_sliding_window=True, sliding_window=8, max_window_layers=1)),
    "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM,
              dict(BASE, head_dim=32, rope_theta=1e6, tie_word_embeddings=False)),
    "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM,
                dict(BASE, num_key_value_heads=1, sliding_window=8)),
    "gemma2": (transformers.Gemma2Config, transformers.Gemma2ForCausalLM,
               dict(BASE, head_dim=16, query_pre_attn_scalar=24, attn_logit_softcapping=2.0,
                    final_logit_softcapping=3.0, sliding_window=8)),
    "gemma3": (transformers.Gemma3TextConfig, transformers.Gemma3ForCausalLM,
               dict(BASE, head_dim=16, query_pre_attn_scalar=24, sliding_window=8, rope_local_base_freq=100.0,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"])),
}


def build(family: str, path: Path):
    """A random transformers model of `family` whose biases and q/k norm scales are random too."""
    config_class, model_class, settings = FAMILIES[family]
    torch.manual_seed(1)
    model = model_class(config_class(**settings)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias") or "norm" in name:
                param.add_(0.3 * torch.randn_like(param))
    model.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = {}

    def get(family):
        if family not in cache:
            path = tmp_path_factory.mktemp(family)
            cache[family] = (path, build(family, path))
        return cache[family]

    return get


TOKENS = np.random.default_rng(0).integers(0, 512, size=(2, 40), dtype=np.int32)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_logits_and_export_match_transformers(built, family, tmp_path):
    path, reference = built(family)
    expected = hf_logits(reference, TOKENS)
    model = from_pretrained_hf(path)
    assert np.abs(np.asarray(model(jnp.asarray(TOKENS))) - expected).max() <= 1e-4
    out = save_pretrained_hf(model, tmp_path / "export")
    reloaded = FAMILIES[family][1].from_pretrained(out).eval()
    assert json.loads((out / "config.json").read_text())["model_type"] == reference.config.model_type
    np.testing.assert_array_equal(hf_logits(reloaded, TOKENS), expected)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_greedy_decoding_matches_transformers_generate(built, family):
    """Prompts longer than the sliding window, so the cache path must apply it too."""
    path, reference = built(family)
    prompts = TOKENS[:, :20].tolist()

    class Ids:
        bos_id, eos_id, pad_id, vocab_size = None, None, 0, reference.config.vocab_size

        def decode(self, ids):
            return ""

    ours = Sampler(from_pretrained_hf(path), Ids()).generate(prompts, SamplingParams(max_new_tokens=12, temperature=0))
    with torch.no_grad():
        theirs = reference.generate(torch.tensor(prompts), max_new_tokens=12, min_new_tokens=12, do_sample=False,
                                    pad_token_id=0, eos_token_id=None)
    assert [s[0].tokens for s in ours] == theirs[:, 20:].tolist()


def test_sharded_loading_trains_and_plans(built, tmp_path):
    """Qwen 3 (the most new parameters) over 8 devices; a short CPT from it; the planner's compile."""
    path, reference = built("qwen3")
    mesh = make_mesh(1, 4, 2)
    sharded = from_pretrained_hf(path, mesh=mesh)
    assert np.abs(np.asarray(sharded(jnp.asarray(TOKENS))) - hf_logits(reference, TOKENS)).max() <= 1e-4
    assert len(sharded.layers.q_norm[...].sharding.device_set) == 8

    (tmp_path / "tok").mkdir()
    tokenizer = build_bpe_tokenizer(tmp_path / "tok", ["<|endoftext|>", "<|im_end|>"], 500, add_bos=False)
    assert load_tokenizer(tokenizer.parent).vocab_size <= 512
    config = TrainSettings.from_config(load_config_file(ROOT / "configs" / "quickstart.py")).override({
        "model.path": str(path), "tokenizer.path": str(tokenizer.parent), "model.dtype": "float32", "max_steps": 3,
        "log.tensorboard": False, "export.dtype": "float32", "workdir": str(tmp_path / "run")})
    run = train(config)
    assert np.isfinite(run.final_loss)
    exported = transformers.Qwen3ForCausalLM.from_pretrained(run.export).eval()
    assert exported.config.head_dim == 32 and np.isfinite(hf_logits(exported, TOKENS)).all()
    memory = plan(config, compile_step=True)
    assert memory.compiled.total > 0 and memory.estimate.total > 0
    assert jax.device_count() == 8

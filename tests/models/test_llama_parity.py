"""Our Llama against transformers' on random tiny configs, and Hugging Face import/export."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec

from entigraph_jax.models import CheckpointError, from_pretrained_hf, make_mesh, save_pretrained_hf
from tests.helpers.models import CONFIGS, build_hf_llama, hf_logits

pytestmark = pytest.mark.torch
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_logits_match_transformers(hf_llama, tokens, kind):
    path, reference = hf_llama(kind)
    expected = hf_logits(reference, tokens)
    assert expected.std() > 0.3, "reference logits too flat to make the comparison meaningful"
    model = from_pretrained_hf(path, dtype="float32")
    logits = np.asarray(model(jnp.asarray(tokens)))
    assert logits.shape == (2, 64, CONFIGS[kind]["vocab_size"]) and logits.dtype == np.float32
    assert np.abs(logits - expected).max() <= 1e-4


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_export_round_trip_loads_in_transformers(hf_llama, tokens, tmp_path, kind):
    path, reference = hf_llama(kind)
    save_pretrained_hf(from_pretrained_hf(path), tmp_path / "export")
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "export").eval()
    assert reloaded.config.tie_word_embeddings == CONFIGS[kind]["tie_word_embeddings"]
    np.testing.assert_array_equal(hf_logits(reloaded, tokens), hf_logits(reference, tokens))


def test_sharded_index_files_are_read(tmp_path, tokens):
    reference = build_hf_llama("llama3", tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    logits = np.asarray(from_pretrained_hf(tmp_path)(jnp.asarray(tokens)))
    assert np.abs(logits - hf_logits(reference, tokens)).max() <= 1e-4


def test_export_writes_shards_with_an_index(hf_llama, tokens, tmp_path):
    path, reference = hf_llama("llama2")
    save_pretrained_hf(from_pretrained_hf(path), tmp_path / "out", max_shard_bytes=100_000)
    assert len(list((tmp_path / "out").glob("model-*-of-*.safetensors"))) > 1
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "out").eval()
    np.testing.assert_array_equal(hf_logits(reloaded, tokens), hf_logits(reference, tokens))


def test_export_refuses_to_overwrite(hf_llama, tmp_path):
    path, _ = hf_llama("llama2")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not empty"):
        save_pretrained_hf(from_pretrained_hf(path), tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_sharded_load_matches_unsharded(hf_llama, tokens, tmp_path):
    assert jax.device_count() == 8
    path, reference = hf_llama("llama3")
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    sharded = from_pretrained_hf(path, mesh=mesh)
    q = sharded.layers.q[...]
    assert q.sharding.spec == PartitionSpec(None, "fsdp", "tensor", None)
    assert q.addressable_shards[0].data.shape == (3, 32, 4, 16)
    single = from_pretrained_hf(path)
    for (name, a), (_, b) in zip(nnx.to_flat_state(nnx.state(sharded)),
                                 nnx.to_flat_state(nnx.state(single)), strict=True):
        np.testing.assert_array_equal(np.asarray(a[...]), np.asarray(b[...]), err_msg=str(name))
    forward = nnx.jit(lambda model, t: model(t))
    np.testing.assert_allclose(np.asarray(forward(sharded, jnp.asarray(tokens))),
                               np.asarray(forward(single, jnp.asarray(tokens))), atol=1e-5)
    save_pretrained_hf(sharded, tmp_path / "from_mesh")
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "from_mesh").eval()
    np.testing.assert_array_equal(hf_logits(reloaded, tokens), hf_logits(reference, tokens))


def test_packed_documents_match_documents_run_alone(hf_llama, tokens):
    path, reference = hf_llama("llama3")
    model = from_pretrained_hf(path)
    first, second = tokens[0, :20], tokens[1, :44]
    packed = np.concatenate([first, second])[None]
    positions = np.concatenate([np.arange(20), np.arange(44)])[None]
    segments = np.concatenate([np.full(20, 1), np.full(44, 2)])[None]
    logits = np.asarray(model(jnp.asarray(packed), jnp.asarray(positions), jnp.asarray(segments)))
    alone = [hf_logits(reference, doc[None])[0] for doc in (first, second)]
    assert np.abs(logits[0, :20] - alone[0]).max() <= 1e-4
    assert np.abs(logits[0, 20:] - alone[1]).max() <= 1e-4
    unmasked = np.asarray(model(jnp.asarray(packed)))
    assert np.abs(unmasked[0, 20:] - alone[1]).max() > 1e-2, "segment ids had no effect"


def test_bfloat16_compute_stays_close(hf_llama, tokens):
    path, reference = hf_llama("llama3")
    model = from_pretrained_hf(path, dtype="float32", compute_dtype="bfloat16")
    assert model.layers.q[...].dtype == jnp.float32
    logits = np.asarray(model(jnp.asarray(tokens)))
    expected = hf_logits(reference, tokens)
    assert np.abs(logits - expected).max() < 0.1 * np.abs(expected).max()
    agreement = (logits.argmax(-1) == expected.argmax(-1)).mean()
    assert agreement > 0.9


def test_legacy_rope_keys_of_hub_checkpoints(hf_llama, tokens, tmp_path):
    """Llama 3.1 checkpoints on the Hub write `rope_theta` and `rope_scaling` (not
    `rope_parameters`); transformers and we must read them the same way."""
    path, _ = hf_llama("llama3")
    legacy = shutil.copytree(path, tmp_path / "legacy")
    config = json.loads((legacy / "config.json").read_text())
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = rope
    (legacy / "config.json").write_text(json.dumps(config))
    reference = transformers.LlamaForCausalLM.from_pretrained(legacy).eval()
    logits = np.asarray(from_pretrained_hf(legacy)(jnp.asarray(tokens)))
    assert np.abs(logits - hf_logits(reference, tokens)).max() <= 1e-4


@pytest.mark.parametrize("remat", ["full", "save_dots"])
def test_remat_policies_give_the_same_gradients(hf_llama, tokens, remat):
    path, _ = hf_llama("llama3")

    def grads(model):
        def loss(m):
            logits = m(jnp.asarray(tokens[:, :-1]))
            return -jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[:, 1:, None], -1).mean()

        return nnx.to_flat_state(nnx.jit(nnx.grad(loss))(model))

    for (name, a), (_, b) in zip(grads(from_pretrained_hf(path)),
                                 grads(from_pretrained_hf(path, remat=remat)), strict=True):
        np.testing.assert_allclose(np.asarray(a[...]), np.asarray(b[...]), atol=1e-6, err_msg=str(name))

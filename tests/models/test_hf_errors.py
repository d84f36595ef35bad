"""Bad checkpoints fail with one clear error naming the file and the tensor at fault."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from entigraph_jax.models import CheckpointError, from_pretrained_hf, load

pytestmark = pytest.mark.torch  # every checkpoint here is one transformers built


@pytest.fixture
def checkpoint(hf_llama, tmp_path):
    """A private copy of a good checkpoint that a test may damage."""
    path, _ = hf_llama("llama2")
    return shutil.copytree(path, tmp_path / "ckpt")


def rewrite_tensors(path, change):
    file = path / "model.safetensors"
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, file, metadata={"format": "pt"})
    return file


def test_missing_config(checkpoint):
    (checkpoint / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"ckpt/config.json: no config.json"):
        from_pretrained_hf(checkpoint)


def test_missing_tensor(checkpoint):
    rewrite_tensors(checkpoint, lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(CheckpointError, match=r"'model.layers.1.mlp.up_proj.weight' is missing"):
        from_pretrained_hf(checkpoint)


def test_misshaped_tensor(checkpoint):
    def shrink(tensors):
        tensors["model.layers.2.self_attn.k_proj.weight"] = np.zeros((64, 32), np.float32)

    file = rewrite_tensors(checkpoint, shrink)
    with pytest.raises(CheckpointError) as error:
        from_pretrained_hf(checkpoint)
    message = str(error.value)
    assert str(file) in message and "'model.layers.2.self_attn.k_proj.weight'" in message
    assert "(64, 32)" in message and "(64, 64)" in message


def test_unsupported_architecture(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    config.update(model_type="mixtral", architectures=["MixtralForCausalLM"])
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: unsupported architecture.*mixtral"):
        from_pretrained_hf(checkpoint)


def test_unsupported_option(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    config["attention_bias"] = True
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"unsupported attention_bias=True"):
        from_pretrained_hf(checkpoint)


def test_corrupt_safetensors(checkpoint):
    (checkpoint / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors"):
        from_pretrained_hf(checkpoint)


def test_no_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no \*.safetensors files"):
        from_pretrained_hf(checkpoint)


def test_index_names_a_missing_shard(checkpoint):
    names = load_file(checkpoint / "model.safetensors")
    index = {"weight_map": dict.fromkeys(names, "model-00001-of-00002.safetensors")}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"model-00001-of-00002.safetensors: listed in the index"):
        from_pretrained_hf(checkpoint)


def test_index_naming_a_shard_outside_the_folder_is_refused(checkpoint, tmp_path):
    (tmp_path / "outside").mkdir()
    shutil.move(checkpoint / "model.safetensors", tmp_path / "outside" / "model.safetensors")
    names = load_file(tmp_path / "outside" / "model.safetensors")
    index = {"weight_map": dict.fromkeys(names, "../outside/model.safetensors")}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"names shards outside the checkpoint folder "
                                              r"\(\.\./outside/model\.safetensors\)"):
        from_pretrained_hf(checkpoint)


def test_hub_names_resolve_through_the_cache_and_fail_clearly_offline(hf_llama, tmp_path):
    """A model in the Hugging Face cache loads by name with no network; one not there is one line."""
    path, reference = hf_llama("llama2")
    commit = "0" * 40
    snapshot = tmp_path / "hub" / "models--tiny-org--tiny-llama" / "snapshots" / commit
    shutil.copytree(path, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(commit)
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    out = tmp_path / "orbax"
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.models", "convert", "tiny-org/tiny-llama", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tokens = np.arange(12, dtype=np.int32)[None] % 100
    np.testing.assert_allclose(np.asarray(load(out)(tokens)), np.asarray(from_pretrained_hf(path)(tokens)), atol=1e-6)
    missing = subprocess.run([sys.executable, "-m", "entigraph_jax.models", "convert", "tiny-org/absent", str(out)],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"models convert: error: tiny-org/absent: not a local folder, not in the Hugging Face cache "
        f"({tmp_path / 'hub'}), and the Hub cannot be reached (offline?)"]

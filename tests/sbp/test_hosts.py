"""SBP's mining and synthesis over two processes (4 CPU devices each, `jax.distributed` on this machine), as on
two hosts of a slice: the pairs equal one process's, the synthesized documents are each process's share."""

import json
import socket
import subprocess
import sys

import pytest
from flax import nnx

from entigraph_jax.data import load_source, read_records, train_sentencepiece
from entigraph_jax.models import Llama, LlamaConfig, save_pretrained_hf
from tests.helpers import ROOT

PROCESS = """
import os, runpy, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
sys.argv = ["sbp", *sys.argv[1:]]
runpy.run_module("entigraph_jax.sbp", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_step(step: str, workdir, tokenizer, processes: int) -> None:
    config = [step, "--config", str(ROOT / "configs" / "sbp_quickstart.py"), f"--config.workdir={workdir}",
              f"--config.tokenizer.path={tokenizer}", "--config.mine.index=sharded", "--config.mine.block=2",
              "--config.mine.embed_chunk=3", "--config.joint.max_steps=1", "--config.synthesize.num_docs=13",
              "--config.synthesize.batch_size=4", "--config.synthesize.max_new_tokens=48"]
    if processes > 1:
        port = free_port()
        config += ["--config.joint.distributed.initialize=true",
                   f"--config.joint.distributed.coordinator_address=localhost:{port}",
                   f"--config.joint.distributed.num_processes={processes}"]
    running = [subprocess.Popen([sys.executable, "-c", PROCESS, *config,
                                 *([f"--config.joint.distributed.process_id={i}"] if processes > 1 else [])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(processes)]
    errors = [process.communicate(timeout=600)[1] for process in running]
    assert all(process.returncode == 0 for process in running), "\n".join(e[-2000:] for e in errors)


@pytest.mark.slow
def test_two_processes_mine_the_pairs_one_mines_and_synthesize_their_shares(tmp_path):
    tokenizer = train_sentencepiece([d.text for d in load_source("sample")], tmp_path / "sp", 500)
    model = Llama(LlamaConfig(vocab_size=500, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                              num_kv_heads=1, head_dim=16, max_position_embeddings=2048), rngs=nnx.Rngs(0))
    for processes in (1, 2):
        workdir = tmp_path / f"processes_{processes}"
        save_pretrained_hf(model, workdir / "synthesizer" / "hf", tokenizer=tokenizer)
        run_step("mine", workdir, tokenizer, processes)
        run_step("synthesize", workdir, tokenizer, processes)
    one, two = tmp_path / "processes_1", tmp_path / "processes_2"
    assert list(read_records(two / "pairs")) == list(read_records(one / "pairs"))
    assert sorted(p.name for p in (two / "pairs").iterdir()) == ["pairs-p00000-00000.array_record",
                                                                 "pairs-p00001-00000.array_record"]
    assert json.loads((two / "summary.json").read_text())["pairs"] == len(list(read_records(one / "pairs")))
    progress = [json.loads((two / "synthetic" / f"progress-p{i:05d}.json").read_text()) for i in (0, 1)]
    assert [p["seeds"] for p in progress] == [7, 6]  # 13 documents: the first process takes the remainder
    records = list(read_records(two / "synthetic"))
    summary = json.loads((two / "summary.json").read_text())
    assert summary["synthetic"] == len(records) == sum(p["documents"] for p in progress)
    assert summary["synthetic"] + summary["dropped_copies"] == 13
    texts = [r["text"] for r in records]
    assert len(set(texts)) == len(texts)  # the processes sample from seeds of their own

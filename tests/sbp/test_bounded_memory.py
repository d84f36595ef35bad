"""`sbp mine` and `sbp synthesize` on a corpus whose pairs the process could not hold: each step in a process
whose address space is capped a little above what the same steps needed on a corpus a tenth the size. A
control under the same cap, holding the pair texts as a list, fails: the cap is tight enough to tell."""

import json
import random
import subprocess
import sys

import pytest
from flax import nnx

from entigraph_jax.data import load_source, read_records, train_sentencepiece
from entigraph_jax.models import Llama, LlamaConfig, save_pretrained_hf
from tests.helpers import ROOT

STEP = """
import resource, runpy, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit << 20, limit << 20))
sys.argv = ["sbp", *sys.argv[2:]]
try:
    runpy.run_module("entigraph_jax.sbp", run_name="__main__")
    code = 0
except SystemExit as e:
    code = e.code
peak = next(line for line in open("/proc/self/status") if line.startswith("VmPeak")).split()[1]
print("VmPeak", int(peak) >> 10, file=sys.stderr)
sys.exit(code)
"""
HOLD = """
import sys
from entigraph_jax.data import read_records
pairs = list(read_records(sys.argv[1]))  # what mining held before it wrote its records as a stream
print("held", len(pairs), file=sys.stderr)
"""
MARGIN = 64  # MiB over the small corpus's peak


def corpus(path, documents: int, chars: int) -> None:
    rng = random.Random(documents)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 8))) for _ in range(3000)]
    with open(path, "w") as f:
        for i in range(documents):
            topic = rng.sample(words, 40)
            f.write(json.dumps({"id": f"d{i}", "text": " ".join(rng.choice(topic) for _ in range(chars // 6))}) + "\n")


def arguments(workdir, jsonl, tokenizer) -> list[str]:
    return [str(a) for a in ["--config", ROOT / "configs" / "sbp_quickstart.py", f"--config.workdir={workdir}",
              f"--config.corpus=jsonl:{jsonl}", f"--config.tokenizer.path={tokenizer}", "--config.mine.embed_chunk=8",
              "--config.mine.min_similarity=0.01", "--config.joint.max_steps=1", "--config.synthesize.num_docs=24",
              "--config.synthesize.batch_size=8", "--config.synthesize.commit_every=8",
              "--config.synthesize.max_new_tokens=32", "--config.synthesize.max_seed_chars=400"]]


def step(limit: int, workdir, jsonl, tokenizer, command: str) -> tuple[int, int, str]:
    done = subprocess.run([sys.executable, "-c", STEP, str(limit), command, *arguments(workdir, jsonl, tokenizer)],
                          capture_output=True, text=True)
    peak = int(done.stderr.rsplit("VmPeak", 1)[1].split()[0]) if "VmPeak" in done.stderr else 0
    return done.returncode, peak, done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc/self/status")
def test_mining_and_synthesis_keep_to_a_cap_the_corpus_would_break(tmp_path):
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    corpus(small, 20, 200_000)
    corpus(large, 200, 200_000)  # 40 MB of text; its pair records, 320 MB
    tokenizer = train_sentencepiece([d.text for d in load_source("sample")], tmp_path / "sp", 500)
    model = Llama(LlamaConfig(vocab_size=500, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                              num_kv_heads=1, head_dim=16, max_position_embeddings=2048), rngs=nnx.Rngs(0))
    peaks = {}
    for name, jsonl, limit in (("small", small, 0), ("large", large, None)):
        workdir = tmp_path / name
        save_pretrained_hf(model, workdir / "synthesizer" / "hf", tokenizer=tokenizer)
        limit = peaks.get("small", 0) + MARGIN if limit is None else limit
        for command in ("mine", "synthesize"):
            code, peak, stderr = step(limit, workdir, jsonl, tokenizer, command)
            assert code == 0, stderr[-2000:]
            peaks[name] = max(peaks.get(name, 0), peak)
        assert len(list(read_records(workdir / "synthetic"))) + json.loads(
            (workdir / "synthetic" / "progress.json").read_text())["dropped"] == 24
    assert sum(1 for _ in read_records(tmp_path / "large" / "pairs")) == 800  # k=4 for each of 200 documents
    # the control: the same step under the same cap, then its pair records held in a list
    control = STEP.replace("sys.exit(code)", HOLD.replace("sys.argv[1]", repr(str(tmp_path / "control" / "pairs"))))
    held = subprocess.run([sys.executable, "-c", control, str(peaks["small"] + MARGIN), "mine",
                           *arguments(tmp_path / "control", large, tokenizer)], capture_output=True, text=True)
    assert '"pairs": 800' in held.stdout, held.stderr[-2000:]  # mining itself kept to the cap again
    assert held.returncode != 0 and "MemoryError" in held.stderr, held.stderr[-2000:]  # holding its pairs did not

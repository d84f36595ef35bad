"""`benchmarks/entigraph_miniature.py --quick` end to end: the pipeline's integrity, not a scientific outcome —
every question scored in every run, the arms trained the same tokens, the generated corpora state no fact
outside the world, each arm's fit written."""

import json
import subprocess
import sys

import pytest

from entigraph_jax.data import read_records
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.runs import TrainRun
from entigraph_jax.testing.world import make_world, read_facts
from tests.helpers import ROOT


@pytest.mark.slow
def test_the_miniature_runs_end_to_end_and_keeps_its_integrity(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "entigraph_miniature.py"), "--quick",
                           "--workdir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    world = make_world(seed=1, half=0, people=48)  # the script's target world
    facts = set(world.facts)
    arms = ("raw", "rephrase", "entigraph")
    for budget in (4096, 8192, 16384):
        trained = {arm: TrainRun(tmp_path / f"sweep_{arm}" / f"tokens_{budget}").tokens_trained for arm in arms}
        assert max(trained.values()) - min(trained.values()) <= 8 * 128 and min(trained.values()) >= budget
        for arm in arms:
            result = read_result(tmp_path / f"sweep_{arm}" / f"tokens_{budget}" / "evaluation.json")
            assert result.splits["all"].overall.total == len(world.facts)  # every question scored
    for arm in arms:
        assert "A" in json.loads((tmp_path / f"sweep_{arm}" / "fit.json").read_text())
    for method in ("rephrase", "entigraph"):
        texts = [r["text"] for r in read_records(tmp_path / method / "records") if r["kind"] != "entities"]
        said = set().union(*(read_facts(t) for t in texts))
        assert texts and said and said <= facts  # the generator stated no fact the world lacks
    assert "| entigraph |" in done.stdout and "base world: ppl" in done.stdout
    assert (tmp_path / "entigraph_miniature.png").stat().st_size > 0 and (tmp_path / "tables.md").is_file()
    for arm in arms:  # the recall probes scored every fact, in the documents' words and in unseen ones
        recalled = json.loads((tmp_path / f"sweep_{arm}" / "tokens_16384" / "recall.json").read_text())
        assert recalled["documents"]["score"]["total"] == recalled["unseen"]["score"]["total"] == len(world.facts)
    assert "| raw -> entigraph |" in done.stdout

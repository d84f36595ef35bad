"""Publishing to the Hub through huggingface_hub's own client against a fake Hub that speaks its HTTP
API: the folder that arrives, the cards, the repository's visibility, and failures in one line."""

import json

import huggingface_hub
import pyarrow.parquet as pq
import pytest
import yaml

from entigraph_jax import cli
from entigraph_jax.data import load_source
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.generate.run import generate
from entigraph_jax.publish import PublishError, push
from entigraph_jax.runs import TrainRun
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.testing.fake_hub import FakeHub
from entigraph_jax.train import __main__ as train_main
from entigraph_jax.train.card import corpus_provenance
from tests.helpers.generate import config_for
from tests.helpers.runs import quickstart, train_in


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub that `huggingface_hub.HfApi()` reaches as the real one (endpoint and token from
    where it reads them)."""
    hub = FakeHub().start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    yield hub
    hub.stop()


def front_matter(card: bytes) -> tuple[dict, str]:
    _, meta, body = card.decode().split("---\n", 2)
    return yaml.safe_load(meta), body


def test_a_finished_run_uploads_its_export_with_a_model_card(hub, tmp_path):
    config = quickstart(max_steps=6, **{"export.hf": True, "export.hub_repo": "me/tiny-cpt",
                                        "hooks.perplexity.every_steps": 3, "hooks.perplexity.source": "sample",
                                        "hooks.perplexity.max_batches": 1})
    run = train_in(config, tmp_path / "run")
    assert hub.repos == {"me/tiny-cpt": {"type": "model", "private": True}}
    uploaded = hub.files["me/tiny-cpt"]
    local = {str(p.relative_to(run.export)): p.read_bytes() for p in run.export.rglob("*") if p.is_file()}
    assert uploaded == local  # the export as it is on disk, card included
    assert {"config.json", "model.safetensors", "generation_config.json", "README.md",
            "entigraph_jax_config.json"} <= set(uploaded)
    meta, body = front_matter(uploaded["README.md"])
    assert meta["library_name"] == "transformers" and "continued-pretraining" in meta["tags"]
    assert "base_model" not in meta and "from a new model" in body  # the quickstart starts from nothing
    heldout = TrainRun(run.root).last("perplexity/loss")["perplexity/loss"]
    assert f"| perplexity/loss | {heldout:.4g} | 6 |" in body
    assert f"| tokens trained | {6 * 8 * 128:,} (6 x 8 rows x 128 tokens) |" in body
    assert "- `sample`: 100% of the rows" in body
    assert json.loads(uploaded["entigraph_jax_config.json"])["export"]["hub_repo"] == "me/tiny-cpt"


def test_a_run_without_evaluation_says_not_measured_and_bad_repos_fail_by_name(tmp_path, capsys):
    run = train_in(quickstart(max_steps=2, **{"export.hf": True}), tmp_path / "run")
    assert "Not measured: no evaluation hook ran" in (run.export / "README.md").read_text()
    argv = ["--config", "configs/quickstart.py", "--workdir", str(tmp_path / "x"), "--config.export.hub_repo=me/x",
            "--config.export.hf=false"]
    assert cli.main(train_main.COMMANDS, argv, default="train") == 1
    assert "export.hub_repo='me/x': needs export.hf=True" in capsys.readouterr().err


def test_push_fails_in_one_line_when_the_hub_refuses_or_is_unreachable(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    refusing = FakeHub(refuse=True).start()
    with pytest.raises(PublishError, match=r"^me/m: the Hub refused the upload of .*: 403 Forbidden"):
        push(tmp_path, "me/m", repo_type="model", private=True, message="m",
             api=huggingface_hub.HfApi(endpoint=refusing.url, token="hf_x"))
    refusing.stop()
    with pytest.raises(PublishError, match=r"^me/m: could not reach the Hub at http://127.0.0.1:\d+ to upload"):
        push(tmp_path, "me/m", repo_type="model", private=True, message="m",
             api=huggingface_hub.HfApi(endpoint=refusing.url, token="hf_x"))


def test_a_corpus_goes_up_as_parquet_with_its_provenance(hub, tmp_path, capsys):
    server = FakeLLMServer().start()
    config = config_for(server, tmp_path)
    summary = generate(config)
    argv = ["--config", "configs/entigraph_sample.py", f"--config.output_dir={config.output_dir}",
            "--config.llm.model=fake-model", "--push_to_hub", "me/sample-entigraph"]
    assert cli.main(generate_main.COMMAND, argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert hub.repos == {"me/sample-entigraph": {"type": "dataset", "private": True}}
    uploaded = hub.files["me/sample-entigraph"]
    assert set(uploaded) == {"README.md", "data/train-00000-of-00001.parquet"}
    parquet = tmp_path / "up.parquet"
    parquet.write_bytes(uploaded["data/train-00000-of-00001.parquet"])
    table = pq.read_table(parquet)
    trained = [d.text for d in load_source(f"records:{config.output_dir}/records")]
    assert table["text"].to_pylist() == trained == [d.text for d in load_source(f"parquet:{parquet}")]
    assert printed["rows"] == table.num_rows and set(table["model"].to_pylist()) == {"fake-model"}
    meta, body = front_matter(uploaded["README.md"])
    assert meta["configs"][0]["data_files"][0]["path"] == "data/train-00000-of-00001.parquet"
    assert "entigraph" in meta["tags"]
    kinds = table["kind"].to_pylist()
    assert f"| pair | {kinds.count('pair')} |" in body and f"| entities | {kinds.count('entities')} |" in body
    assert "written by `fake-model` with entigraph-jax's `entigraph` method (prompt version `v3`)" in body
    assert f"| cost | ${summary.cost_usd:.2f}" in body and f"{summary.output_tokens:,} out" in body
    (tmp_path / "other" / "records").mkdir(parents=True)  # another stage's folder with a summary of its own
    (tmp_path / "other" / "summary.json").write_text(json.dumps({"train": {}, "budget": {}}))
    assert corpus_provenance(f"records:{tmp_path / 'other' / 'records'}") == []
    [provenance] = corpus_provenance(f"records:{config.output_dir}/records")  # what a model card says of it
    assert provenance.startswith("generated by `fake-model` with method `entigraph`, prompt version `v3`, from 10 "
                                 f"documents: {summary.records} records")
    assert cli.main(generate_main.COMMAND, [*argv[:-1], "me/public-copy", "--public"]) == 0
    assert hub.repos["me/public-copy"]["private"] is False

"""`generate --push_to_hub REPO`: an output folder's corpus as a Hugging Face dataset — parquet, one row
per record that training reads (its text as training reads it), and a dataset card with its
provenance: the generator, the method, the prompt version, the counts and the cost."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from entigraph_jax.config import ConfigError
from entigraph_jax.data import read_records
from entigraph_jax.data.records import train_text
from entigraph_jax.outputs import hold, staged
from entigraph_jax.publish import push
from entigraph_jax.runs import CorpusRun

from .settings import GenerateSettings

SCHEMA = pa.schema([("text", pa.string()), ("kind", pa.string()), ("doc_id", pa.string()),
                    ("entities", pa.list_(pa.string())), ("model", pa.string()), ("prompt_version", pa.string()),
                    ("request_id", pa.string()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
                    ("truncated", pa.bool_())])
DATA_FILE = "data/train-00000-of-00001.parquet"


def rows(records) -> list[dict]:
    """The records training reads, one row each, with what identifies where each came from."""
    out = []
    for record in records:
        if text := train_text(record):
            usage = record.get("usage", {})
            out.append({"text": text, "kind": record.get("kind"), "doc_id": str(record.get("doc_id", "")),
                        "entities": [str(e) for e in record.get("entities", [])], "model": record.get("model"),
                        "prompt_version": record.get("prompt_version"), "request_id": record.get("request_id"),
                        "input_tokens": usage.get("input_tokens"), "output_tokens": usage.get("output_tokens"),
                        "truncated": record.get("truncated")})
    return out


def dataset_card(summary: dict, runs: list[dict], table: pa.Table, repo: str) -> DatasetCard:
    kinds = sorted(collections.Counter(table["kind"].to_pylist()).items())
    size = next(c for limit, c in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K"), (1e6, "100K<n<1M"),
                                   (float("inf"), "n>1M")) if table.num_rows < limit)
    meta = DatasetCardData(task_categories=["text-generation"], tags=["synthetic", "entigraph-jax",
                                                                      summary["method"]], size_categories=[size],
                           configs=[{"config_name": "default", "data_files": [{"split": "train",
                                                                                "path": DATA_FILE}]}])
    requests = ", ".join(f"{kind}: {', '.join(f'{n} {state}' for state, n in sorted(states.items()))}"
                         for kind, states in sorted(summary["requests"].items()))
    lines = [f"# {repo}", "", f"A synthetic corpus written by `{summary['model']}` with entigraph-jax's "
             f"`{summary['method']}` method (prompt version `{summary['prompt_version']}`) from "
             f"{summary['documents']} source documents.", "", "## Contents", "",
             f"{table.num_rows} rows in `{DATA_FILE}`, one per record that training reads (an entity record "
             "contributes its summary); columns: " + ", ".join(f"`{name}`" for name in SCHEMA.names) + ".", "",
             "| kind | rows |", "| --- | --- |", *[f"| {kind} | {n} |" for kind, n in kinds], "",
             "## How it was made", "", "| | |", "| --- | --- |",
             f"| generator | `{summary['model']}` ({summary['mode']}) |",
             f"| method, prompt version | `{summary['method']}`, `{summary['prompt_version']}` |",
             f"| requests | {requests} |",
             f"| tokens | {summary['input_tokens']:,} in, {summary['output_tokens']:,} out |",
             f"| cost | ${summary['cost_usd']:.2f} ({summary.get('price', 'price table')}) |",
             f"| status | {summary['status']} |",
             f"| truncated answers | {summary.get('truncated', 0)} |", "",
             "Every run that wrote to this corpus (model, method, prompt version):", "", "```json",
             json.dumps(runs, indent=1), "```", "",
             "## Use", "", "```", f"python -m entigraph_jax.train --config.data.source=hf:{repo} ...", "```"]
    return DatasetCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def push_corpus(config: GenerateSettings, repo: str, private: bool = True, api=None) -> dict:
    """Write `output_dir/hub/` (the parquet and the card) and upload it to the dataset `repo`; returns
    what was uploaded where."""
    out: CorpusRun = config.corpus()
    summary = out.summary()
    if summary is None or not out.records.is_dir():
        raise ConfigError(f"nothing to publish: {out.root} holds no finished generate run; run generate first")
    runs = json.loads(out.manifest.read_text())["runs"] if out.manifest.is_file() else []
    folder = out.root / "hub"
    with hold(out.root, "generate output_dir"):
        table = pa.Table.from_pylist(rows(read_records(out.records)), schema=SCHEMA)
        if table.num_rows == 0:
            raise ConfigError(f"{out.records}: no record that training reads; nothing to publish")
        with staged(folder, replace=True) as tmp:
            (tmp / "data").mkdir()
            pq.write_table(table, tmp / DATA_FILE)
            dataset_card(summary, runs, table, repo).save(Path(tmp) / "README.md")
    url = push(folder, repo, repo_type="dataset", private=private,
               message=f"entigraph-jax: {table.num_rows} rows from {summary['model']}")
    return {"repo": repo, "url": url, "rows": table.num_rows, "folder": str(folder), "private_if_new": private}

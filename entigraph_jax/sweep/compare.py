"""One comparison on the user's corpus (`python -m entigraph_jax.sweep compare`): which synthetic-data method to pay
for. Each method's corpus is generated from the same documents up to the same budget of training tokens
(`tokens`, in the training tokenizer), the same base is continued on each for the same `tokens` (the corpus
repeated as needed, as the sweep's `budget=trained`), and one before/after report scores the base and every
method's model side by side (every figure with its 95% interval, each change from the base tested on the same
questions: `evaluate report`). Beside it, per method: what its corpus holds, what it cost, what it would cost at a
named model's list price (the dry run, `price_as`), and its faithfulness (the evaluate task: how much of it the
source supports). `raw` is the documents themselves. Every step is skipped on rerun once it has its result.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.evaluate.report import ReportSettings, build_report
from entigraph_jax.evaluate.run import evaluate
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.tasks.faithfulness import FaithfulnessSettings
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.method import methods
from entigraph_jax.generate.requests import load_documents
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.outputs import json_text
from entigraph_jax.runs import CorpusRun, TrainRun
from entigraph_jax.settings import Settings, positive, section, setting
from entigraph_jax.train import TrainSettings, train

from .run import trained_for

RAW = "raw"


def _methods(value: tuple) -> str | None:
    unknown = [m for m in value if m != RAW and m not in methods()]
    if unknown or not value:
        return f"unknown methods {unknown}; known: {RAW}, {', '.join(methods())}"
    return None


@dataclasses.dataclass(frozen=True)
class CompareSettings(Settings):
    workdir: str = setting("", "the comparison's folder: a folder per method's corpus and model, the report, the "
                           "audit and compare.md (also --workdir)")
    methods: tuple = setting((RAW, "entigraph", "rephrase", "knowledge", "active_reading"), "the methods compared "
                             "(raw: the documents themselves)", check=_methods)
    tokens: int = setting(16384, "training tokens: each method's corpus is generated up to about this many (a "
                          "method with rounds: <method>.tokens_per_doc, each document's share; EntiGraph: "
                          "budget.max_train_tokens) and each model trains this many", check=positive)
    price_as: str = setting("", "a model whose list price the dry run quotes for each method (\"\": the "
                            "generator's own, generate.llm.model)")
    generate: GenerateSettings = section(GenerateSettings, "each method's generation (method, output_dir and the "
                                         "budgets are set per method); source is the documents")
    train: TrainSettings = section(TrainSettings, "each model's continued pretraining from the base (model.path, "
                                   "tokenizer); data.source, workdir and max_steps are set per method")
    report: ReportSettings = section(ReportSettings, "the before/after report (models, labels and output_dir are set "
                                     "here: the base, then a model per method)")
    faithfulness: FaithfulnessSettings = section(FaithfulnessSettings, "the audit of every generated corpus "
                                                 "(corpora are set here)")


def generation(config: CompareSettings, name: str, docs: int) -> GenerateSettings:
    """A method's generation in its own folder, its training tokens counted in the training tokenizer: a method
    that writes in rounds, rounds until each document has its share of `tokens` (`<method>.tokens_per_doc`, in
    the generator's tokens: what it writes after is checked or filtered, which a budget would cut off); any
    other (EntiGraph's triples) until the corpus has `tokens` training tokens (`budget.max_train_tokens`)."""
    changes = {"method": name, "output_dir": str(Path(config.workdir) / name),
               "budget.tokenizer.path": config.train.tokenizer.path or config.train.model.path}
    section = getattr(config.generate, name, None)
    if section is not None and hasattr(section, "tokens_per_doc"):
        changes[f"{name}.tokens_per_doc"] = math.ceil(config.tokens / docs)
    else:
        changes["budget.max_train_tokens"] = config.tokens
    return config.generate.override(changes)


def corpus(config: CompareSettings, name: str, docs: int) -> dict:
    """A method's corpus (generated unless it is the documents): where it is, what it holds and costs."""
    if name == RAW:
        return {"source": config.generate.source, "records": docs, "train_tokens": None, "cost_usd": 0.0,
                "price_as": 0.0, "status": "the documents"}
    settings = generation(config, name, docs)
    quoted = estimate(settings.override({"llm.model": config.price_as}) if config.price_as else settings)
    done = CorpusRun(settings.output_dir).summary()
    summary = done if done and done["status"] == "complete" else dataclasses.asdict(generate(settings))
    return {"source": f"records:{summary['records_dir']}", "records": summary["records"],
            "train_tokens": summary["train_tokens"], "cost_usd": summary["cost_usd"],
            "price_as": (quoted.within_budget or {}).get("cost_usd", quoted.cost_usd), "price": quoted.price,
            "status": summary["status"], "fates": summary.get("fates")}


def trained(config: CompareSettings, name: str, source: str) -> TrainRun:
    run = TrainRun(Path(config.workdir) / f"{name}_model")
    if not (run.export / "config.json").is_file():
        train(trained_for(config.train.override({"data.source": source}), config.tokens, run.root))
    return run


def audit(config: CompareSettings, generated: dict[str, str]) -> dict:
    """The faithfulness of every generated corpus: per method and kind, the claims' shares by verdict."""
    output = Path(config.workdir) / "faithfulness.json"
    if not output.is_file():
        corpora = tuple(f"{name}={source}" for name, source in generated.items())
        evaluate(EvaluateSettings(task="faithfulness", source=config.generate.source, output=str(output)).override(
            {"tasks.faithfulness": config.faithfulness.override({"corpora": corpora})}))
    return json.loads(output.read_text())["writers"]


def compare(config: CompareSettings) -> dict:
    for key, value in (("workdir", config.workdir), ("train.model.path", config.train.model.path),
                       ("generate.source", config.generate.source)):
        if not value:
            raise ConfigError(f"config: {key} is empty")
    docs = len(load_documents(config.generate))
    corpora = {name: corpus(config, name, docs) for name in config.methods}
    models = {name: trained(config, name, c["source"]) for name, c in corpora.items()}
    report = build_report(config.report.override({
        "models": (config.train.model.path, *(str(m.export) for m in models.values())),
        "labels": ("base", *models), "output_dir": str(Path(config.workdir) / "report")}))
    generated = {name: c["source"] for name, c in corpora.items() if name != RAW}
    faithful = audit(config, generated) if generated else {}
    lines = markdown(config, corpora, faithful) + ["", (Path(report.output_dir) / "table.md").read_text()]
    (Path(config.workdir) / "compare.md").write_text("\n".join(lines))
    result = {"corpora": corpora, "faithfulness": faithful, "report": str(Path(report.output_dir) / "table.md"),
              "compare": str(Path(config.workdir) / "compare.md")}
    (Path(config.workdir) / "compare.json").write_text(json_text(result, indent=1))
    return result


def markdown(config: CompareSettings, corpora: dict, faithful: dict) -> list[str]:
    """Per method: its corpus, its cost (spent, and quoted at `price_as`), and its claims supported per kind."""
    quoted = config.price_as or config.generate.llm.model
    lines = [f"Each model continued from the base for {config.tokens:,} training tokens.", "",
             f"| method | generation | records | training tokens in it | cost (USD) | at {quoted}'s price (USD) | "
             "claims supported (95% interval), by kind |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in corpora.items():
        kinds = [f"{writer.split('/', 1)[1]} {supported(s)}" for writer, s in faithful.items()
                 if writer.startswith(f"{name}/")]
        lines.append(f"| {name} | {c['status']} | {c['records']} | {c['train_tokens'] or '-'} | {c['cost_usd']:.4f} | "
                     f"{c['price_as']:.2f} | {'; '.join(kinds) or '-'} |")
    return lines


def supported(score: dict) -> str:
    """A kind's share of supported claims and its interval, as the table shows it."""
    share, span = score["supported"], score["intervals"]["supported"]
    return "-" if share is None or not span else f"{share:.2f} ({span[0]:.2f}-{span[1]:.2f})"

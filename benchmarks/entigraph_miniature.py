"""EntiGraph in miniature on this CPU: the paper's Figure 2 experiment, through the commands a user runs
(`train`, `generate`, `sweep`, `evaluate`), on a made-up world whose facts are known.

The world (`entigraph_jax/testing/world.py`): people, towns, guilds and years; each fact (a person's home,
trade, guild and mentor; a guild's town and founding year) stated once, in compact prose, by one of the
source documents, whose entities recur across documents; a four-option question per fact, its distractors
values of the same kind. The base model is the quickstart's tiny Llama pretrained on a disjoint world (the
other half of the name lists): its documents in every phrasing and its questions with their answers in the
evaluation's format, so it knows the form and is at chance on the target world. Three arms, each continued
from the base at the same training tokens (`sweep` with `budget=trained`, the corpus repeated as needed):

    raw        the source documents themselves
    rephrase   `generate --method rephrase`: three style rewrites of each document (the same facts in other
               phrasings, one phrasing per style)
    entigraph  `generate --method entigraph`: the entities of each document, then a text for every pair and a
               share of the triples, restating the facts that involve those entities in phrasings drawn per
               text

The generator is the fake server's world mode: it knows only what the prompt's document says (it reads the
facts back from the document's sentences) and restates them; it never states a fact a document lacks. So the
arms differ only in how often and in how many surface forms each fact appears — the paper's mechanism, with
none of a real generator's added knowledge or errors. Closed-book accuracy is the options' log-likelihood on
every question (95% intervals over documents), fitted per arm; held-out perplexity on the base world after
each arm's largest budget is the forgetting check.

    python benchmarks/entigraph_miniature.py [--workdir /tmp/entigraph_miniature] [--quick]
"""

import argparse
import json
import sys
import time
from pathlib import Path

from entigraph_jax import cli
from entigraph_jax.data import Document, Question
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.evaluate.tasks.loglik import loglik_prompt
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.runs import TrainRun
from entigraph_jax.sweep import __main__ as sweep_main
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.testing.world import RELATIONS, make_world, world_answer
from entigraph_jax.train import __main__ as train_main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BUDGETS = (4096, 8192, 16384, 32768, 65536, 131072)  # training tokens per run: 32x, 4 to 128 steps of 8 x 128


def jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"jsonl:{path}"


def run(commands, argv: list, default: str = "") -> None:
    code = cli.main(commands, [str(a) for a in argv], default=default)
    if code:
        sys.exit(f"entigraph_miniature: {argv[:2]} exited {code}")


def base_corpus(world) -> list[dict]:
    """The base world's documents in every phrasing, and its questions answered in the evaluation's format."""
    rows = []
    for doc_id, _, stated in world.documents:
        for phrasing in range(4):
            rows.append({"id": f"{doc_id}-{phrasing}", "text": " ".join(f.say(phrasing) for f in stated)})
    documents = {f: (doc_id, title) for doc_id, title, stated in world.documents for f in stated}
    for q, fact in zip(world.questions(seed=1), world.facts, strict=True):
        doc_id, title = documents[fact]
        doc = Document(doc_id, "", title=title)
        prompt = loglik_prompt(doc, Question(q["question"], tuple(q["options"]), "ABCD".index(q["answer"]) + 1))
        rows.append({"id": f"q-{doc_id}-{fact.relation}-{fact.subject}", "text": f"{prompt} {fact.object}"})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/entigraph_miniature")
    parser.add_argument("--quick", action="store_true", help="three budgets and a short base run (the slow test's)")
    args = parser.parse_args()
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    target, base = make_world(seed=1, half=0), make_world(seed=2, half=1, people=48, guilds=5)
    questions = root / "target_questions.jsonl"
    jsonl(questions, target.quality_lines())
    source = jsonl(root / "target_documents.jsonl", [{"id": d, "title": t, "text": target.document_text(i)}
                                                      for i, (d, t, _) in enumerate(target.documents)])
    heldout = jsonl(root / "base_documents.jsonl", [{"id": d, "text": base.document_text(i)}
                                                    for i, (d, _, _) in enumerate(base.documents)])
    base_run = TrainRun(root / "base")
    run(train_main.COMMANDS, ["--config", CONFIGS / "quickstart.py", "--workdir", base_run.root,
                              f"--config.data.source={jsonl(root / 'base_corpus.jsonl', base_corpus(base))}",
                              "--config.data.epochs=1000", f"--config.max_steps={60 if args.quick else 600}",
                              "--config.log.tensorboard=false"], default="train")
    server = FakeLLMServer(answer=world_answer).start()
    llm = [f"--config.llm.base_url={server.base_url}/v1", "--config.llm.model=world", "--config.llm.max_concurrency=8"]
    arms = {"raw": source}
    for method, extra in (("rephrase", ["--config.rephrase.styles=('easy', 'wiki', 'academic')"]),
                          ("entigraph", ["--config.entigraph.max_pairs_per_doc=0",
                                         "--config.entigraph.triples_fraction=0.25",
                                         "--config.entigraph.max_triples_per_doc=0",
                                         "--config.entigraph.entities_in_document=true"])):
        out = root / method
        run(generate_main.COMMAND, ["--config", CONFIGS / "entigraph_sample.py", f"--config.method={method}",
                                    f"--config.source={source}", f"--config.output_dir={out}", *llm, *extra])
        arms[method] = f"records:{out / 'records'}"
    budgets = BUDGETS[:3] if args.quick else BUDGETS
    for arm, corpus in arms.items():
        run(sweep_main.COMMAND, ["--config", CONFIGS / "scaling_quickstart.py", "--workdir", root / f"sweep_{arm}",
                                 "--config.budget=trained", f"--config.token_budgets={budgets}",
                                 f"--config.train.data.source={corpus}", "--config.train.data.seq_len=128",
                                 f"--config.train.model.path={base_run.export}",
                                 f"--config.train.tokenizer.path={base_run.tokenizer.path}",
                                 f"--config.evaluate.source=quality:{questions}", "--config.evaluate.split=all",
                                 "--config.fit_components=0", f"--config.label={arm}"])
    rows = table(root, arms, budgets, heldout, base_run)
    print(f"\nEntiGraph in miniature, {time.perf_counter() - start:.0f} s: {len(target.facts)} facts in "
          f"{len(target.documents)} documents ({', '.join(sorted(RELATIONS))}); base: {len(base.facts)} facts of a "
          "disjoint world\n")
    print("\n".join(rows))


def table(root: Path, arms: dict, budgets, heldout: str, base_run: TrainRun) -> list[str]:
    """One markdown table: accuracy (95% interval) per arm and budget, each arm's fitted plateau, and the
    base-world perplexity after the largest budget (the forgetting check)."""
    lines = ["| arm | " + " | ".join(f"{b // 1024}k tokens" for b in budgets) + " | plateau (90%) | base-world ppl |",
             "| --- |" + " --- |" * (len(budgets) + 2)]
    before = root / "base.loglik.json"
    if not before.is_file():
        questions = root / "target_questions.jsonl"
        run(evaluate_main.COMMANDS, ["--config.task=loglik", f"--config.source=quality:{questions}",
                                     "--config.split=all", f"--config.model.path={base_run.export}",
                                     f"--config.output={before}"], default="evaluate")
    overall = read_result(before).splits["all"].overall
    lines.append(f"| base (before) | {accuracy_cell(overall)} (every budget) |" + " |" * (len(budgets) - 1)
                 + f" - | {perplexity(base_run.root, base_run.export, heldout, base_run):.2f} |")
    for arm in arms:
        cells = []
        for budget in budgets:
            result = read_result(root / f"sweep_{arm}" / f"tokens_{budget}" / "evaluation.json")
            cells.append(accuracy_cell(result.splits["all"].overall))
        fit_path = root / f"sweep_{arm}" / "fit.json"
        fit = json.loads(fit_path.read_text()) if fit_path.is_file() else None
        plateau = (f"{fit['A']:.3f} ({fit['plateau_interval'][0]:.2f}-{fit['plateau_interval'][1]:.2f})"
                   if fit and fit.get("plateau_interval") else "not fitted")
        last = root / f"sweep_{arm}" / f"tokens_{budgets[-1]}"
        ppl = perplexity(last, TrainRun(last).export, heldout, base_run)
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {plateau} | {ppl:.2f} |")
    return lines


def accuracy_cell(overall) -> str:
    low, high = overall.interval or (None, None)
    return f"{overall.accuracy:.3f} ({low:.2f}-{high:.2f})" if low is not None else f"{overall.accuracy:.3f}"


def perplexity(folder: Path, model: Path, heldout: str, base_run: TrainRun) -> float:
    """The forgetting check: `model`'s perplexity on the base world's documents (kept in `folder`)."""
    output = folder / "base_world.perplexity.json"
    if not output.is_file():
        run(evaluate_main.COMMANDS, ["--config.task=perplexity", f"--config.source={heldout}",
                                     f"--config.model.path={model}",
                                     f"--config.tokenizer.path={base_run.tokenizer.path}",
                                     f"--config.output={output}"], default="evaluate")
    return read_result(output).figures()["perplexity"]


if __name__ == "__main__":
    main()

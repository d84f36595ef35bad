"""EntiGraph in miniature on this CPU: the paper's Figure 2 experiment, through the commands a user runs
(`train`, `generate`, `sweep`, `evaluate`), on a made-up world whose facts are known.

The world (`entigraph_jax/testing/world.py`): people, towns, guilds and years; each fact (a person's home,
trade, guild and mentor; a guild's town and founding year) stated once, in compact prose, by one of 41 source
documents, whose entities recur across documents; a four-option question per fact (201), its distractors values
of the same kind. The base model is the quickstart's 0.9M-parameter Llama pretrained on a disjoint world (the
other half of the name lists, 160 people): each document as written and three times more in mixed phrasings and
shuffled order, and the questions of half its documents answered in the evaluation's format, so that it knows
the form; the other half's questions measure whether it can answer about facts it has only read (held-out QA),
the skill closed-book QA after continued pretraining relies on. Three arms, each continued from the base at the
same training tokens (`sweep --config.budget=trained`, the corpus repeated as needed) with a tenth of its rows
replayed from the base corpus (the paper's rehearsal), at 16k to 512k tokens:

    raw        the source documents themselves
    rephrase   `generate --method rephrase`: three style rewrites of each document (the same facts in other
               phrasings, one phrasing per style)
    entigraph  `generate --method entigraph`: the entities of each document, then a text for every pair and a
               quarter of the triples, restating the facts that involve those entities in phrasings drawn per
               text

The generator is the fake server's world mode. Its design decides how far the arms can differ, so: it knows only
what the prompt's document says (it reads the facts back from the document's sentences) and never states a fact a
document lacks; each relation has four phrasings, the documents' own and three a generator may use; Rephrase
writes every fact once per style in that style's phrasing; EntiGraph writes each fact in every text about an
entity it involves, its phrasing drawn per text, grouped under each entity's heading. So the arms differ only in
how often and in how many surface forms and contexts a fact appears — the paper's mechanism, without a real
generator's added knowledge, errors or breadth of wording (a real one has far more than three phrasings).

Scored per arm and budget: closed-book accuracy by the options' log-likelihood on every question (95% intervals
over documents) and each arm's fit with its band; after the largest budget, per model, whether a fact was learned
apart from its wording (the facts as statements cut before their object, the question's four options scored, in
the documents' words and in a fifth phrasing no text used), closed-book sampling (the paper's prompt without
worked examples), and the base world kept (its held-out questions and its documents' perplexity: forgetting).

    python benchmarks/entigraph_miniature.py [--workdir /tmp/entigraph_miniature] [--quick]

Writes `tables.md` and `entigraph_miniature.png` in the workdir. `--model`, `--base-steps`, `--lr`, `--replay`
rerun the diagnosis with another base size, base training, learning rate or replay rate.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from entigraph_jax import cli
from entigraph_jax.data import Document, Question, load_tokenizer
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.likelihood import continuation_scores
from entigraph_jax.evaluate.scores import question_units, score
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.evaluate.tasks.loglik import loglik_prompt
from entigraph_jax.evaluate.uncertainty import paired_change
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.models import load
from entigraph_jax.runs import TrainRun
from entigraph_jax.sweep import __main__ as sweep_main
from entigraph_jax.sweep.scaling import plot_scaling
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.testing.world import PROBE, RELATIONS, Fact, make_world, world_answer
from entigraph_jax.train import __main__ as train_main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TARGET = make_world(seed=1, half=0, people=48)  # the world the arms learn: 201 facts in 41 documents
BUDGETS = (16384, 32768, 65536, 131072, 262144, 524288)  # training tokens per run: 32x, 16 to 512 steps of 8 x 128
QUICK = (4096, 8192, 16384)
SAMPLED = ["--config.task=closed_book", "--config.tasks.closed_book.sampling.shots=0",
           "--config.tasks.closed_book.sampling.samples=4", "--config.tasks.closed_book.sampling.max_new_tokens=24"]


def jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"jsonl:{path}"


def run(commands, argv: list, default: str = "") -> None:
    code = cli.main(commands, [str(a) for a in argv], default=default)
    if code:
        sys.exit(f"entigraph_miniature: {argv[:2]} exited {code}")


def base_corpus(world, answered: set[str]) -> list[dict]:
    """The base world's documents, each as written and three times more with its facts in mixed phrasings and
    shuffled order, and the questions of the `answered` documents answered in the evaluation's format (the other
    documents' questions are the base's held-out check that it can answer from what it read)."""
    rows, rng = [], np.random.default_rng(0)
    for doc_id, _, stated in world.documents:
        for variant in range(4):
            order = rng.permutation(len(stated)) if variant else range(len(stated))
            said = [stated[i].say(int(rng.integers(4)) if variant else 0) for i in order]
            rows.append({"id": f"{doc_id}-{variant}", "text": " ".join(said)})
    documents = {f: (doc_id, title) for doc_id, title, stated in world.documents for f in stated}
    for q, fact in zip(world.questions(seed=1), world.facts, strict=True):
        doc_id, title = documents[fact]
        if doc_id not in answered:
            continue
        doc = Document(doc_id, "", title=title)
        prompt = loglik_prompt(doc, Question(q["question"], tuple(q["options"]), "ABCD".index(q["answer"]) + 1))
        rows.append({"id": f"q-{doc_id}-{fact.relation}-{fact.subject}", "text": f"{prompt} {fact.object}"})
    return rows


def model_size(spec: str) -> list[str]:
    """--model hidden,intermediate,layers,heads,head_dim as the train command's overrides."""
    if not spec:
        return []
    names = ("hidden_size", "intermediate_size", "num_layers", "num_heads", "head_dim")
    values = dict(zip(names, spec.split(","), strict=True))
    return [f"--config.model.{k}={v}" for k, v in {**values, "num_kv_heads": values["num_heads"]}.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/entigraph_miniature")
    parser.add_argument("--quick", action="store_true", help="three small budgets, a short base run, no sampling "
                        "(the slow test's)")
    parser.add_argument("--base-steps", type=int, default=2000, help="the base model's pretraining steps")
    parser.add_argument("--base-people", type=int, default=160, help="people in the base model's world")
    parser.add_argument("--model", default="", help="the base's architecture as hidden,intermediate,layers,heads,"
                        "head_dim (default: the quickstart's 128,384,4,4,32 with 2 kv heads)")
    parser.add_argument("--lr", type=float, default=3e-3, help="the arms' peak learning rate")
    parser.add_argument("--replay", type=float, default=0.1, help="share of the arms' rows replaced by the base "
                        "corpus's (the paper: 0.1 of RedPajama; 0: none)")
    parser.add_argument("--budgets", default="", help="training tokens per run, comma-separated (default: 16k-512k)")
    args = parser.parse_args()
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    base = make_world(seed=2, half=1, people=args.base_people, guilds=5)
    questions = root / "target_questions.jsonl"
    jsonl(questions, TARGET.quality_lines())
    source = jsonl(root / "target_documents.jsonl", [{"id": d, "title": t, "text": TARGET.document_text(i)}
                                                      for i, (d, t, _) in enumerate(TARGET.documents)])
    heldout = jsonl(root / "base_documents.jsonl", [{"id": d, "text": base.document_text(i)}
                                                    for i, (d, _, _) in enumerate(base.documents)])
    answered = {d for d, _, _ in base.documents[::2]}
    jsonl(root / "base_questions.jsonl", [line for line in base.quality_lines() if line["article_id"] not in answered])
    base_corpus_spec = jsonl(root / "base_corpus.jsonl", base_corpus(base, answered))
    base_run = TrainRun(root / "base")
    run(train_main.COMMANDS, ["--config", CONFIGS / "quickstart.py", "--workdir", base_run.root,
                              f"--config.data.source={base_corpus_spec}", "--config.data.epochs=1000",
                              f"--config.max_steps={60 if args.quick else args.base_steps}",
                              "--config.log.tensorboard=false", *model_size(args.model)], default="train")
    replay = [f"--config.train.data.replay_source={base_corpus_spec}",
              f"--config.train.data.replay_rate={args.replay}"] if args.replay else []
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
    budgets = tuple(int(b) for b in args.budgets.split(",")) if args.budgets else QUICK if args.quick else BUDGETS
    for arm, corpus in arms.items():
        run(sweep_main.COMMAND, ["--config", CONFIGS / "scaling_quickstart.py", "--workdir", root / f"sweep_{arm}",
                                 "--config.budget=trained", f"--config.token_budgets={budgets}",
                                 f"--config.train.data.source={corpus}", "--config.train.data.seq_len=128",
                                 f"--config.train.model.path={base_run.export}",
                                 f"--config.train.tokenizer.path={base_run.tokenizer.path}",
                                 f"--config.train.optim.lr={args.lr}", *replay,
                                 f"--config.evaluate.source=quality:{questions}", "--config.evaluate.split=all",
                                 "--config.fit_components=0", f"--config.label={arm}"])
    runs = {"base (before)": base_run.root, **{arm: root / f"sweep_{arm}" / f"tokens_{budgets[-1]}" for arm in arms}}
    before = loglik(base_run.root, base_run.export, questions)
    lines = [f"EntiGraph in miniature, {len(TARGET.facts)} facts in {len(TARGET.documents)} documents "
             f"({', '.join(sorted(RELATIONS))}); base: {len(base.facts)} facts of a disjoint world, "
             f"{60 if args.quick else args.base_steps} steps; arms at lr {args.lr:g}, replay {args.replay:g}", "",
             *accuracy_table(root, arms, budgets, before), "",
             f"After the largest budget ({budgets[-1] // 1024}k tokens):", "",
             *diagnosis_table(runs, root, heldout, base_run, sample=not args.quick), "",
             "Paired on the same facts (the change and its 95% interval, documents resampled together):", "",
             *paired_table(runs, base_run)]
    figure(root, arms, before)
    lines += ["", f"{time.perf_counter() - start:.0f} s; figure: {root / 'entigraph_miniature.png'}"]
    (root / "tables.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


def accuracy_table(root: Path, arms: dict, budgets, before) -> list[str]:
    """Closed-book log-likelihood accuracy (95% interval over documents) per arm and budget, and each arm's
    fitted plateau (its 90% bootstrap interval)."""
    lines = ["| arm | " + " | ".join(f"{b // 1024}k tokens" for b in budgets) + " | plateau (90%, extrapolated) |",
             "| --- |" + " --- |" * (len(budgets) + 1),
             f"| base (before) | {cell(before)} |" + " |" * len(budgets)]
    for arm in arms:
        cells = [cell(read_result(root / f"sweep_{arm}" / f"tokens_{b}" / "evaluation.json").splits["all"].overall)
                 for b in budgets]
        fit = sweep_fit(root / f"sweep_{arm}")
        plateau = (f"{fit['A']:.3f} ({fit['plateau_interval'][0]:.2f}-{fit['plateau_interval'][1]:.2f})"
                   if fit and fit.get("plateau_interval") else "not fitted")
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {plateau} |")
    return lines


def diagnosis_table(runs: dict, root: Path, heldout: str, base_run: TrainRun, sample: bool) -> list[str]:
    """Per model: its target facts recalled as statements (in the documents' words; in words no text used),
    closed-book sampling (the paper's prompt without worked examples), and the base world kept (its held-out
    questions, answerable only from what was read; its documents' perplexity: the forgetting check)."""
    lines = ["| model | recall, documents' words | recall, unseen words | closed-book sampled (attempted) | "
             "base world: held-out QA | base world: ppl |", "| --- |" + " --- |" * 5]
    for name, folder in runs.items():
        model = TrainRun(folder).export
        documents, unseen, _ = recall(folder, model, base_run)
        sampled = "not run (--quick)"
        if sample:
            scores = evaluated(folder / "closed_book.json", [
                *SAMPLED, f"--config.source=quality:{root / 'target_questions.jsonl'}", "--config.split=all",
                f"--config.model.path={model}"])
            overall = scores.splits["all"].overall
            sampled = f"{cell(overall)} ({overall.attempt_rate:.0%})"
        kept = cell(loglik(folder, model, root / "base_questions.jsonl", "base_world"))
        lines.append(f"| {name} | {cell(documents)} | {cell(unseen)} | {sampled} | {kept} | "
                     f"{perplexity(folder, model, heldout, base_run):.2f} |")
    return lines


def paired_table(runs: dict, base_run: TrainRun) -> list[str]:
    """After the largest budget, each arm against raw (and EntiGraph against Rephrase) on the same facts: the
    questions, and recall in unseen words."""
    def rows(folder: Path) -> dict[str, list[dict]]:
        asked = json.loads((folder / "evaluation.json").read_text())["details"]["results"]
        return {"questions": asked, "recall, unseen words": recall(folder, TrainRun(folder).export, base_run)[2]}

    scored = {arm: rows(folder) for arm, folder in runs.items() if arm != "base (before)"}
    pairs = [(a, b) for a, b in (("raw", "rephrase"), ("raw", "entigraph"), ("rephrase", "entigraph"))
             if a in scored and b in scored]
    lines = ["| change | " + " | ".join(scored[pairs[0][0]]) + " |", "| --- |" + " --- |" * len(scored[pairs[0][0]])]
    for before, after in pairs:
        cells = []
        for measure in scored[before]:
            change = paired_change(question_units(scored[before][measure]), question_units(scored[after][measure]))
            low, high = change.interval
            cells.append(f"{change.change:+.3f} ({low:+.2f} to {high:+.2f}): {change.verdict}")
        lines.append(f"| {before} -> {after} | " + " | ".join(cells) + " |")
    return lines


def figure(root: Path, arms: dict, before) -> Path:
    """The paper's Figure 2 in miniature: every arm's accuracy against training tokens, its intervals, its fit
    and band; the base model and chance as lines."""
    series = [(arm, json.loads((root / f"sweep_{arm}" / "results.json").read_text()), sweep_fit(root / f"sweep_{arm}"))
              for arm in arms]
    return plot_scaling(series, {"base model (before)": before.accuracy}, root / "entigraph_miniature.png")


def sweep_fit(folder: Path) -> dict | None:
    path = folder / "fit.json"
    return json.loads(path.read_text()) if path.is_file() else None


def cell(overall) -> str:
    if overall.accuracy is None:
        return "-"
    low, high = overall.interval or (None, None)
    return f"{overall.accuracy:.3f} ({low:.2f}-{high:.2f})" if low is not None else f"{overall.accuracy:.3f}"


def recall(folder: Path, model: Path, base_run: TrainRun):
    """The target facts recalled as statements cut before their object, in the documents' own words and in words
    no text (documents, generated, base corpus) used, each fact's question's four options scored by
    log-likelihood (chance 0.25, as for the questions): whether a fact was learned apart from its wording."""
    output = folder / "recall.json"
    if not output.is_file():
        document = {f: doc_id for doc_id, _, stated in TARGET.documents for f in stated}
        asked = [(document[fact], fact, q["options"]) for q in TARGET.questions() for fact in [Fact(**q["fact"])]]
        tokenizer, loaded = load_tokenizer(base_run.tokenizer.path), load(model)
        found = {}
        for name, phrasing in (("documents", 0), ("unseen", PROBE)):
            pairs = [(tokenizer.bos() + tokenizer.encode(fact.cloze(phrasing)), tokenizer.encode(" " + option))
                     for _, fact, options in asked for option in options]
            best = continuation_scores(loaded, pairs).reshape(len(asked), 4).argmax(1)
            rows = [{"doc_id": doc, "question": str(fact), "correct": options[int(i)] == fact.object, "selected": "",
                     "answers": [""]} for (doc, fact, options), i in zip(asked, best, strict=True)]
            found[name] = {"score": dataclasses.asdict(score(rows)), "rows": rows}
        output.write_text(json.dumps(found))
    found = json.loads(output.read_text())
    return (argparse.Namespace(**found["documents"]["score"]), argparse.Namespace(**found["unseen"]["score"]),
            found["unseen"]["rows"])


def evaluated(output: Path, argv: list):
    """The evaluate command's result at `output`, run once."""
    if not output.is_file():
        run(evaluate_main.COMMANDS, [*argv, f"--config.output={output}"], default="evaluate")
    return read_result(output)


def loglik(folder: Path, model: Path, questions: Path, name: str = "target"):
    """`model`'s closed-book log-likelihood accuracy on `questions`."""
    return evaluated(folder / f"{name}.loglik.json", ["--config.task=loglik", f"--config.source=quality:{questions}",
                                                       "--config.split=all", f"--config.model.path={model}"]
                     ).splits["all"].overall


def perplexity(folder: Path, model: Path, heldout: str, base_run: TrainRun) -> float:
    """The forgetting check: `model`'s perplexity on the base world's documents."""
    return evaluated(folder / "base_world.perplexity.json", [
        "--config.task=perplexity", f"--config.source={heldout}", f"--config.model.path={model}",
        f"--config.tokenizer.path={base_run.tokenizer.path}"]).figures()["perplexity"]


if __name__ == "__main__":
    main()

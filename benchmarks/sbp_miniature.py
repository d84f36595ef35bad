"""SBP in miniature on this CPU: the repetition baseline, SBP and the oracle at one step budget, held-out loss
for each, and what each trained on, measured.

The corpus is a made-up world the script writes (nothing downloaded): people with fixed facts (town, trade,
animal, age, a friend) and towns with theirs; each document tells the facts of a person, a friend or
neighbour and their town in sentences drawn from several phrasings, in a random order. Related documents
share people and towns, so pair mining has something to find. Three disjoint draws of documents:

    real      --real documents: what the baseline repeats, the SBP arm's real share and its seeds
    oracle    as many unique documents as the budget reads (no document twice)
    held-out  --heldout documents: every arm's loss and perplexity

The budget repeats the real documents about --repeats times (the paper's baseline: 20). Run:

    python benchmarks/sbp_miniature.py [--real 300 --repeats 20 --workdir /tmp/sbp_mini]

It prints one table; the closing note of the SBP issue reports it as measured, whichever way it comes out.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FIRST = ("Alder", "Brin", "Cora", "Dagny", "Edric", "Fenna", "Galen", "Hesper", "Ilse", "Joren", "Kesia", "Lucan",
         "Mirela", "Nils", "Odile", "Perrin", "Quilla", "Rowan", "Saskia", "Tobin", "Ulla", "Vesna", "Wendel", "Yara")
LAST = ("Voss", "Marrow", "Quill", "Tarn", "Holloway", "Brack", "Ferrow", "Lisle", "Oakes", "Pell", "Rusk", "Stroud")
TOWNS = ("Brindlemoor", "Cask Hollow", "Dunmere", "Eastwick", "Farrowgate", "Gildenford", "Harrowby", "Ivel Cross",
         "Kestrel Bay", "Lowmarsh", "Millbrook", "Northcote")
TRADES = ("potter", "miller", "ferryman", "glassblower", "beekeeper", "cooper", "weaver", "bookbinder", "smith",
          "clockmaker", "herbalist", "cartwright", "tanner", "chandler", "boatwright")
ANIMALS = ("a grey goat", "two black hens", "an old sheepdog", "a lame pony", "a tabby cat", "three geese",
           "a blue parrot", "a tame crow", "a pair of ferrets", "a donkey called Bramble")
RIVERS = ("the Ash", "the Wend", "the Lorne", "the Tay", "the Skell", "the Marrow", "the Dove", "the Idle")
KNOWN_FOR = ("its autumn fair", "a bridge of red stone", "the cheese it sends downriver", "a ruined abbey",
             "its salt pans", "the bell that rings at noon", "a yearly boat race", "its windmills")

PERSON = (("{name} is a {trade} from {town}.", "{name} works as a {trade} in {town}.",
           "In {town}, {name} earns a living as a {trade}."),
          ("{name} keeps {animal}.", "At home {name} looks after {animal}.", "{name} has {animal} in the yard."),
          ("{name} is {age} years old.", "{name} turned {age} this spring.", "At {age}, {name} is still at work."),
          ("{name} and {friend} have been friends since childhood.", "{name} often visits {friend}.",
           "{friend} is {name}'s oldest friend."))
TOWN = (("{town} lies on {river}.", "{river} runs through {town}.", "{town} was built where {river} bends."),
        ("{town} was founded in {year}.", "The first houses of {town} date from {year}.",
         "{town} has stood since {year}."),
        ("{town} is known for {known}.", "Visitors come to {town} for {known}.", "People remember {town} for {known}."))


def make_world(rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    names = [f"{f} {last}" for f in FIRST for last in LAST]
    people = [{"name": n, "trade": str(rng.choice(TRADES)), "town": str(rng.choice(TOWNS)),
               "animal": str(rng.choice(ANIMALS)), "age": int(rng.integers(19, 80))}
              for n in rng.choice(names, 80, replace=False)]
    for p in people:
        p["friend"] = people[int(rng.integers(len(people)))]["name"]
    towns = {t: {"town": t, "river": str(rng.choice(RIVERS)), "year": int(rng.integers(1100, 1800)),
                 "known": str(rng.choice(KNOWN_FOR))} for t in TOWNS}
    return people, [towns[p["town"]] for p in people]


def document(rng: np.random.Generator, people: list[dict], towns: list[dict]) -> str:
    """A person, a neighbour or friend, and their town, each fact once in a random phrasing and order."""
    first = int(rng.integers(len(people)))
    neighbours = [i for i, p in enumerate(people) if p["town"] == people[first]["town"] and i != first]
    second = int(rng.choice(neighbours)) if neighbours and rng.random() < 0.5 else int(rng.integers(len(people)))
    sentences = []
    for who in (first, second):
        facts = rng.choice(len(PERSON), size=int(rng.integers(2, len(PERSON) + 1)), replace=False)
        sentences += [str(rng.choice(PERSON[f])).format(**people[who]) for f in facts]
    sentences += [str(rng.choice(TOWN[f])).format(**towns[first]) for f in range(len(TOWN)) if rng.random() < 0.7]
    rng.shuffle(sentences)
    return " ".join(sentences)


def write_jsonl(path: Path, texts: list[str]) -> str:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return f"jsonl:{path}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=int, default=300, help="real documents")
    parser.add_argument("--heldout", type=int, default=200, help="held-out documents")
    parser.add_argument("--repeats", type=int, default=20, help="passes of the baseline over the real documents")
    parser.add_argument("--workdir", default="/tmp/sbp_miniature")
    args = parser.parse_args()
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    people, towns = make_world(rng)
    words_per_doc = np.mean([len(document(rng, people, towns).split()) for _ in range(200)])
    seq_len, batch = 128, 8
    tokens_per_doc = words_per_doc * 1.4 + 2  # an estimate, for sizing the budget and the oracle only
    steps = int(args.repeats * args.real * tokens_per_doc / (seq_len * batch))
    oracle_docs = int(steps * seq_len * batch / tokens_per_doc * 1.2)
    real = [document(rng, people, towns) for _ in range(args.real)]
    heldout = [document(rng, people, towns) for _ in range(args.heldout)]
    oracle = [document(rng, people, towns) for _ in range(oracle_docs)]
    sources = {name: write_jsonl(root / f"{name}.jsonl", texts)
               for name, texts in (("real", real), ("heldout", heldout), ("oracle", oracle))}
    config = Path(__file__).resolve().parents[1] / "configs" / "sbp_quickstart.py"
    command = [sys.executable, "-m", "entigraph_jax.sbp", "run", "--config", str(config),
               f"--config.workdir={root / 'run'}", f"--config.corpus={sources['real']}",
               f"--config.eval_source={sources['heldout']}", f"--config.oracle_corpus={sources['oracle']}",
               "--config.downstream_source=", f"--config.joint.max_steps={steps}",
               "--config.mine.min_similarity=0.55", "--config.synthesizer.data.epochs=3",
               "--config.synthesizer.data.seq_len=256", "--config.synthesize.max_new_tokens=128",
               "--config.synthesize.batch_size=64", "--config.joint.checkpoint.every_steps=1000",
               "--config.measure_documents=2000"]
    print(f"world: {len(people)} people in {len(TOWNS)} towns; real {len(real)}, held-out {len(heldout)}, oracle "
          f"{len(oracle)} documents of ~{words_per_doc:.0f} words; {steps} steps of {batch} x {seq_len} per arm",
          flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    summary = json.loads((root / "run" / "summary.json").read_text())
    print(f"\nSBP in miniature, {time.perf_counter() - start:.0f} s: {summary['pairs']} pairs, synthesizer loss "
          f"{summary['synthesizer_loss']:.3f}, {summary['synthetic']} synthetic documents "
          f"({summary['synthetic_tokens']:,} tokens, {summary['dropped_copies']} dropped as copies)\n")
    print("| arm | steps | tokens | final train loss | held-out loss | held-out ppl | repeated 3-grams | near dups "
          "| copies of seed | irrelevant to seed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arm, figures in summary["train"].items():
        m = summary["measures"][arm]
        copying, relevance = m.get("copying", {}), m.get("relevance", {})
        cell = (lambda d, k: f"{d[k]:.3f}" if k in d else "-")  # noqa: E731
        print(f"| {arm} | {figures['steps']} | {figures['tokens']:,} | {figures['final_loss']:.3f} | "
              f"{figures['perplexity/loss']:.3f} | {figures['perplexity/perplexity']:.1f} | "
              f"{m['corpus']['repeated_ngrams']:.3f} | "
              f"{m['corpus']['near_duplicates']:.3f} | {cell(copying, 'copies')} | {cell(relevance, 'irrelevant')} |")


if __name__ == "__main__":
    main()

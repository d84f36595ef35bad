"""SBP in miniature on this CPU: the repetition baseline, SBP and the oracle at one step budget, held-out loss
for each, and what each trained on, measured.

The corpus is a made-up world the script writes (nothing downloaded): people with fixed facts (town, trade,
animal, age, a friend) and towns with theirs; each document tells the facts of a person, a friend or
neighbour and their town in sentences drawn from several phrasings, in a random order. Related documents
share people and towns, so pair mining has something to find. Three disjoint draws of documents:

    real      --real documents: what the baseline repeats, the SBP arm's real share and its seeds
    oracle    unique documents, as many as the budget's rows need and one batch more: the oracle arm reads
              each at most once (it trains one epoch; a corpus too small stops the run)
    held-out  --heldout documents: every arm's loss and perplexity

Sizes come from token counts, not words: SBP's own vocabulary is prepared first (trained on the real
documents, as the run would), every document is tokenized as training packs it (BOS + text + EOS), and the
budget repeats the real documents' tokens --repeats times (the paper's baseline: 20). Every arm trains the
same model with the same optimizer, schedule, batch and steps (`joint`); the tokens column is what training
counted from the rows it trained. Run:

    python benchmarks/sbp_miniature.py [--real 300 --repeats 20 --workdir /tmp/sbp_mini]

It prints one table; the closing note of the SBP issue reports it as measured, whichever way it comes out.
"""

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from entigraph_jax import cli
from entigraph_jax.data import Document
from entigraph_jax.data.cache import encode_documents
from entigraph_jax.sbp import __main__ as sbp_main
from entigraph_jax.sbp.run import SBP

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


def token_counts(texts: list[str], tokenizer) -> np.ndarray:
    """Each text's training tokens, as the token cache encodes a document (BOS + text + EOS)."""
    docs = [Document(doc_id=str(i), body=t) for i, t in enumerate(texts)]
    return np.array([len(tokens) for tokens, _ in encode_documents(docs, tokenizer)])


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
    real = [document(rng, people, towns) for _ in range(args.real)]
    heldout = [document(rng, people, towns) for _ in range(args.heldout)]
    config = Path(__file__).resolve().parents[1] / "configs" / "sbp_quickstart.py"
    settings = [f"--config.workdir={root / 'run'}", f"--config.corpus={write_jsonl(root / 'real.jsonl', real)}",
                f"--config.eval_source={write_jsonl(root / 'heldout.jsonl', heldout)}",
                "--config.downstream_source=", "--config.mine.min_similarity=0.55",
                "--config.synthesizer.data.epochs=3", "--config.synthesizer.data.seq_len=256",
                "--config.synthesize.max_new_tokens=128", "--config.synthesize.batch_size=64",
                "--config.joint.checkpoint.every_steps=1000", "--config.measure_documents=2000"]
    sized = SBP(cli.resolve(sbp_main.COMMANDS["run"], ["--config", str(config), *settings])[0])
    tokenizer = sized.tokenizer()  # the run's own vocabulary, trained on the real documents once
    joint = sized.config.joint
    row_tokens = joint.data.seq_len * joint.data.global_batch
    real_tokens = int(token_counts(real, tokenizer).sum())
    steps = math.ceil(args.repeats * real_tokens / row_tokens)
    oracle, oracle_tokens = [], 0
    while oracle_tokens < (steps + 1) * row_tokens + 1:  # the budget's rows, and one batch to spare
        more = [document(rng, people, towns) for _ in range(500)]
        oracle += more
        oracle_tokens += int(token_counts(more, tokenizer).sum())
    settings += [f"--config.oracle_corpus={write_jsonl(root / 'oracle.jsonl', oracle)}",
                 f"--config.joint.max_steps={steps}"]
    run = SBP(cli.resolve(sbp_main.COMMANDS["run"], ["--config", str(config), *settings])[0])
    o = joint.optim
    print(f"world: {len(people)} people in {len(TOWNS)} towns; real {len(real)} documents ({real_tokens:,} tokens), "
          f"held-out {len(heldout)}, oracle {len(oracle)} ({oracle_tokens:,} tokens); every arm {steps} steps of "
          f"{joint.data.global_batch} x {joint.data.seq_len} ({steps * row_tokens:,} tokens, {args.repeats} passes "
          f"over the real documents), peak lr {o.lr}, {o.warmup_fraction:.0%} warmup, cosine to {o.min_lr}", flush=True)
    start = time.perf_counter()
    summary = dataclasses.asdict(run.run())
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

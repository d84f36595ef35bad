"""Closed-book QuALITY evaluation, questions per second, an ablation of the sampler's two speed-ups in one
run on the same machine: the evaluation's own closed-book task (the released code's 8 samples of up to
300 tokens at temperature 0.1, 8 questions at a time, the paper's 5-shot prompt) on the sample corpus's
questions, with SmolLM2-135M-Instruct or any Hugging Face folder. Three paths of today's sampler: both
speed-ups off (every prompt prefilled whole, every row decoded to the batch's end), finished rows leaving
the batch, and both on (the shared prefix too). This is an ablation, not the code before the cache (commit
2cd98c1's sampler differs in more than these two switches). Each path first answers one batch to compile
(not timed); then `--rounds` interleaved rounds (off, leaving, both, off, ...), each ratio its round's, the
median and range printed. Target: both on >= 3x both off.

    python -m entigraph_jax.models convert .../SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2
    python benchmarks/closed_book.py --model /tmp/smollm2 [--questions 16 --samples 8 --new 300 --rounds 5]
"""

import argparse
import statistics
import time

from entigraph_jax.data import load_source, load_tokenizer
from entigraph_jax.evaluate.quality import SamplingSettings
from entigraph_jax.evaluate.task import Context
from entigraph_jax.evaluate.tasks.closed_book import ClosedBookSettings
from entigraph_jax.evaluate.tasks.closed_book import closed_book as closed_book_task
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler


def closed_book(sampler, docs, settings: SamplingSettings, questions: int):
    """The closed-book task on `docs` with `sampler`."""
    return closed_book_task(ClosedBookSettings(sampling=settings, max_questions=questions),
                            Context(load_documents=lambda: docs, load_sampler=lambda: sampler))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a Hugging Face folder (SmolLM2 from `models convert`)")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tokenizer, model = load_tokenizer(args.model), load(args.model, "float32")
    docs = [d for d in load_source("sample") if d.questions]
    settings = SamplingSettings(samples=args.samples, max_new_tokens=args.new)
    paths = {"both off": (False, False), "finished leave": (False, True), "both on": (True, True)}
    samplers = {name: Sampler(model, tokenizer, share_prefix=share, drop_finished=drop)
                for name, (share, drop) in paths.items()}
    for sampler in samplers.values():
        closed_book(sampler, docs, settings, settings.batch_questions)  # compile
    seconds, answers = {name: [] for name in paths}, {}
    for _ in range(args.rounds):
        for name, sampler in samplers.items():
            sampler._shared = None  # the timed evaluation prefills its few-shot block itself, once
            start = time.perf_counter()
            result = closed_book(sampler, docs, settings, args.questions)
            seconds[name].append(time.perf_counter() - start)
            answers[name] = [(r["samples"], r["selected"]) for r in result.details["results"]]
    print(f"{args.model}: {args.questions} closed-book questions x {args.samples} samples of <= {args.new} tokens, "
          f"{settings.batch_questions} questions at a time, fp32, this CPU; {args.rounds} interleaved rounds")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:>14}: {median:7.1f} s (median; {min(values):.1f}-{max(values):.1f}), "
              f"{args.questions / median:.3f} questions/s")
    for name, other in (("both on / both off", "both off"), ("both on / finished leave", "finished leave")):
        ratios = sorted(o / b for o, b in zip(seconds[other], seconds["both on"], strict=True))
        print(f"{name}: median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}x to {ratios[-1]:.2f}x")
    print(f"(target: both on >= 3x both off); same samples and answers: "
          f"{answers['both off'] == answers['finished leave'] == answers['both on']}")

if __name__ == "__main__":
    main()

"""Closed-book QuALITY evaluation, questions per second, with and without the shared-prefix cache, in
one run on the same machine: the evaluation's own `closed_book` (the released code's 8 samples of up
to 300 tokens at temperature 0.1, 8 questions at a time, the paper's 5-shot prompt) on the sample
corpus's questions, with SmolLM2-135M-Instruct or any Hugging Face folder. Three paths: every prompt
prefilled whole and every row decoded to the batch's end (the sampler before the cache), the same with
finished rows leaving the batch, and the shared prefix with finished rows leaving (the sampler now).
Each path first answers one batch to compile (not timed). Target: now >= 3x before.

    python -m entigraph_jax.models convert .../SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2
    python benchmarks/closed_book.py --model /tmp/smollm2 [--questions 16 --samples 8 --new 300]
"""

import argparse
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
    args = parser.parse_args()
    tokenizer, model = load_tokenizer(args.model), load(args.model, "float32")
    docs = [d for d in load_source("sample") if d.questions]
    settings = SamplingSettings(samples=args.samples, max_new_tokens=args.new)
    seconds, answers = {}, {}
    paths = {"before": (False, False), "finished leave": (False, True), "now": (True, True)}
    for name, (share, drop) in paths.items():
        sampler = Sampler(model, tokenizer, share_prefix=share, drop_finished=drop)
        closed_book(sampler, docs, settings, settings.batch_questions)  # compile
        sampler._shared = None  # the timed evaluation prefills its few-shot block itself, once
        start = time.perf_counter()
        report = closed_book(sampler, docs, settings, args.questions)
        seconds[name] = time.perf_counter() - start
        answers[name] = [(r["samples"], r["selected"]) for r in report.details["results"]]
    print(f"{args.model}: {args.questions} closed-book questions x {args.samples} samples of <= {args.new} tokens, "
          f"{settings.batch_questions} questions at a time, fp32, this CPU")
    for name, value in seconds.items():
        print(f"{name:>14}: {value:7.1f} s, {args.questions / value:.3f} questions/s")
    print(f"speed-up: {seconds['before'] / seconds['now']:.2f}x (target >= 3x); the shared prefix alone "
          f"{seconds['finished leave'] / seconds['now']:.2f}x; same samples and answers: "
          f"{answers['before'] == answers['finished leave'] == answers['now']}")


if __name__ == "__main__":
    main()

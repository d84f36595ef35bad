"""closed_book: QuALITY closed-book QA as the paper did it (Appendix I.1, the released code): the five-shot
chain-of-thought prompt, answers sampled and stopped at their answer line, one valid answer selected per
question (`quality.py`)."""

from __future__ import annotations

import dataclasses

from entigraph_jax.settings import Settings, at_least, section, setting

from ..quality import FEW_SHOT, SamplingSettings, answer_questions, closed_book_prompt, few_shot_prefix, read_shots
from ..scores import QuestionScores, items, summarize
from ..task import Context, Task


@dataclasses.dataclass(frozen=True)
class ClosedBookSettings(Settings):
    sampling: SamplingSettings = section(SamplingSettings)
    max_questions: int = setting(0, "questions answered (0: every question)", check=at_least(0))
    shots_file: str = setting("", "the worked examples, a JSONL file of {title, author, year, question, options (4), "
                              "thought, answer (A-D)} per line: the paper's five (App. I.1) or a domain's own; \"\": "
                              "ours (five, in our words)")


def examples(settings: ClosedBookSettings) -> tuple:
    """The worked examples the prompt shows, checked against `sampling.shots`."""
    shots = tuple(read_shots(settings.shots_file)) if settings.shots_file else tuple(FEW_SHOT)
    few_shot_prefix(settings.sampling.shots, shots)  # one line if there are fewer than asked for
    return shots


def closed_book(settings: ClosedBookSettings, context: Context) -> QuestionScores:
    docs, shown = context.questions(), examples(settings)
    results = answer_questions(context.sampler, items(docs, settings.max_questions),
                               lambda i, doc, q: closed_book_prompt(doc, q, settings.sampling.shots, shown),
                               settings.sampling)
    return summarize("closed_book", results, docs, settings=settings.to_dict())


TASK = Task("closed_book", "QuALITY closed-book QA as the paper did it (sampled chain of thought, one valid answer "
            "per question)", ClosedBookSettings, needs="sampler", reads="questions", result=QuestionScores,
            run=closed_book, check=examples)

"""closed_book: QuALITY closed-book QA as the paper did it (Appendix I.1, the released code): the five-shot
chain-of-thought prompt, answers sampled and stopped at their answer line, one valid answer selected per
question (`quality.py`)."""

from __future__ import annotations

import dataclasses

from entigraph_jax.settings import Settings, at_least, section, setting

from ..quality import SamplingSettings, answer_questions, closed_book_prompt
from ..scores import QuestionScores, items, summarize
from ..task import Context, Task


@dataclasses.dataclass(frozen=True)
class ClosedBookSettings(Settings):
    sampling: SamplingSettings = section(SamplingSettings)
    max_questions: int = setting(0, "questions answered (0: every question)", check=at_least(0))


def closed_book(settings: ClosedBookSettings, context: Context) -> QuestionScores:
    docs = context.questions()
    results = answer_questions(context.sampler, items(docs, settings.max_questions),
                               lambda i, doc, q: closed_book_prompt(doc, q, settings.sampling.shots),
                               settings.sampling)
    return summarize("closed_book", results, docs, settings=settings.to_dict())


TASK = Task("closed_book", "QuALITY closed-book QA as the paper did it (sampled chain of thought, one valid answer "
            "per question)", ClosedBookSettings, needs="sampler", reads="questions", result=QuestionScores,
            run=closed_book)

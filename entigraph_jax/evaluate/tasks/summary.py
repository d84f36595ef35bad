"""summary: closed-book summaries written by the instruction-tuned model and judged claim by claim against
their article, beside sQuALITY's human summaries of the same stories (the paper's Appendix I.2; `summary.py`)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from ..summary import SummaryScores, SummarySettings, summary_articles, summary_eval
from ..task import Context, Task


def summary(settings: SummarySettings, context: Context) -> SummaryScores:
    articles, humans = summary_articles(context.documents, context.split, settings)  # before the model loads
    with contextlib.ExitStack() as stack:
        # the judge's journal is kept beside the result, so a rerun asks nothing twice (a training hook keeps none)
        output = context.output or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "summary"
        return summary_eval(context.sampler, context.tokenizer, context.checkpoint, articles, humans, settings,
                            output)


TASK = Task("summary", "closed-book summaries judged claim by claim by an LLM, against sQuALITY's human ones",
            SummarySettings, needs="sampler", reads="questions", result=SummaryScores, run=summary)

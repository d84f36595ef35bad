"""contamination: evaluation questions found in training text (no model): the share of
questions whose text (question and gold answer) shares a 13-gram of words with a training source, per
source. EntiGraph and Rephrase text restate the documents' facts by design, so a question restated there
is expected: this reports how many, it filters nothing.

Words are lower-cased runs of letters and digits (punctuation and spacing aside, as the GPT-3 and Llama
reports count n-gram overlap); a question of fewer than 13 words counts as contaminated when all of its
words occur in that order in a source text. Sources are read one text at a time against the questions'
n-grams, so a large corpus is never held as n-grams.
"""

from __future__ import annotations

import dataclasses
import re

from tqdm import tqdm

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, load_source
from entigraph_jax.settings import Settings, positive, setting

from ..scores import GROUPS, in_group
from ..task import Context, Result, Row, Task

WORD = re.compile(r"[^\W_]+")


@dataclasses.dataclass(frozen=True)
class ContaminationSettings(Settings):
    sources: tuple = setting((), "the training sources to check the questions against (load_source specs: a "
                             "synthetic corpus's records/, a rephrase corpus, the raw documents)")
    n: int = setting(13, "words per n-gram", check=positive)


def words(text: str) -> list[str]:
    return WORD.findall(text.casefold())


def question_ngrams(docs: list[Document], n: int) -> list[tuple[str, set[tuple[str, ...]]]]:
    """(a question's label, its n-grams: of question and gold answer; all its words if fewer than n)."""
    found = []
    for doc in docs:
        for number, q in enumerate(doc.questions):
            text = words(f"{q.question} {q.options[q.gold_label - 1]}")
            size = min(n, len(text))
            found.append((f"{doc.doc_id}#{number}", {tuple(text[i : i + size]) for i in range(len(text) - size + 1)}))
    return found


def contaminated(questions: list[tuple[str, set[tuple[str, ...]]]], texts, progress: str = "") -> set[str]:
    """The labels of the questions with an n-gram in any of `texts`."""
    owners: dict[tuple[str, ...], list[str]] = {}
    for label, grams in questions:
        for gram in grams:
            owners.setdefault(gram, []).append(label)
    sizes = sorted({len(g) for g in owners})
    hit: set[str] = set()
    for text in tqdm(texts, desc=progress, unit="text", disable=not progress, dynamic_ncols=True):
        tokens = words(text)
        for size in sizes:
            for i in range(len(tokens) - size + 1):
                labels = owners.get(tuple(tokens[i : i + size]))
                if labels:
                    hit.update(labels)
    return hit


def contamination(docs: list[Document], settings: ContaminationSettings) -> dict[str, dict]:
    """source -> {questions, contaminated, share, examples} and the same counts over each group of questions
    the source has (`<group>_questions`, ...: QuALITY's hard ones, a user's guessable ones)."""
    questions = question_ngrams(docs, settings.n)
    labels = {f"{d.doc_id}#{i}": q for d in docs for i, q in enumerate(d.questions)}
    groups = {g: {label for label, q in labels.items() if in_group(q, g)} for g in GROUPS}
    found_in = {}
    for source in settings.sources:
        hit = contaminated(questions, (d.text for d in load_source(source)), f"contamination {source}")
        found = {"questions": len(questions), "contaminated": len(hit),
                 "share": len(hit) / len(questions) if questions else None}
        for group, members in groups.items():
            if members:
                found.update({f"{group}_questions": len(members), f"{group}_contaminated": len(hit & members),
                              f"{group}_share": len(hit & members) / len(members)})
        found_in[source] = {**found, "examples": sorted(hit)[:20]}
    return found_in


@dataclasses.dataclass(frozen=True)
class ContaminationResult(Result):
    contamination: dict[str, dict] = dataclasses.field(default_factory=dict)  # by training source

    def figures(self, split: str = "all") -> dict:
        return {source: {k: v for k, v in found.items() if k != "examples"}
                for source, found in self.contamination.items()}

    def rows(self) -> dict[str, Row]:
        return {f"contamination {source}": Row(found["share"], found["questions"])
                for source, found in self.contamination.items()}


def check(settings: ContaminationSettings) -> None:
    if not settings.sources:
        raise ConfigError("config: tasks.contamination.sources is empty; name the training sources to check")


def run(settings: ContaminationSettings, context: Context) -> ContaminationResult:
    return ContaminationResult("contamination", contamination=contamination(context.questions(), settings),
                               details={"settings": settings.to_dict()})


TASK = Task("contamination", "the questions' 13-grams found in training text (no model)", ContaminationSettings,
            needs="nothing", reads="questions", result=ContaminationResult, run=run, check=check)

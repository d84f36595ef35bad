"""QuALITY closed-book QA as the EntiGraph paper did it (Yang et al., ICLR 2025, and its released
`tasks/quality.py`, `utils/prompt_utils.py`, `inference/llama.py`).

Prompt: five worked examples, each `## Example N`, `### Question` (`In the context of "<title>",
written by <author First Last> in <year>, <question, first letter lower-cased> There is only one
correct choice.`), `### Choices` (`A. ...` to `D. ...`), `### Thought Process and Answer` and
`Thought process: ...` ending `Answer: X.`; then `## Example 6` with the question, ending
`Thought process:` for the model to continue. Our examples are our own, about well-known books.

Sampling and scoring: samples at temperature 0.1, at most 300 new tokens, each stopped at its answer
line (`Answer: X.` and a newline); the answer is the letter of the final `Answer: X.`. Samples without
one are not attempts: they count against the attempt rate, and a question with no parsed sample is
not attempted (wrong in correct / all). Of the parsed samples one answer is selected, by one of:
`random_valid`, the paper's text (Appendix I.1: 64 samples, "randomly select a valid answer",
"different from majority voting"), seeded per question; `first_valid`, the released notebook (8
samples, the first parsed one); `majority`, the most frequent letter (a tie goes to the letter
sampled first).

The split (articles by title, the last 80% the test part the paper reports) and the scores are
`scores.py`'s; the closed-book and open-book tasks are `tasks/`.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from entigraph_jax.config import ConfigError
from entigraph_jax.data import Document, Question
from entigraph_jax.data.sources import article_context
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.settings import Settings, at_least, positive, setting

from .scores import result_row

LETTERS = "ABCD"

FEW_SHOT = [
    ("Pride and Prejudice", "Jane Austen", 1813,
     "Whom does Elizabeth Bennet marry at the end of the novel?",
     ("Mr. Wickham", "Mr. Collins", "Mr. Darcy", "Mr. Bingley"),
     "Elizabeth first dislikes Mr. Darcy, rejects his proposal, and comes to love him after learning the "
     "truth about Wickham and Darcy's help to her family. She marries Darcy; Bingley marries her sister Jane.",
     "C"),
    ("Moby-Dick", "Herman Melville", 1851,
     "What is the name of the ship on which Ishmael sails?",
     ("the Rachel", "the Pequod", "the Essex", "the Jeroboam"),
     "Ishmael signs on to the whaler commanded by Captain Ahab, the Pequod. The Rachel and the Jeroboam "
     "are other ships the Pequod meets; the Essex is the real ship that inspired the story.",
     "B"),
    ("Frankenstein", "Mary Shelley", 1818,
     "Where does Victor Frankenstein first tell his story to Robert Walton?",
     ("in a laboratory in Ingolstadt", "in a cottage in Switzerland", "on a ship in the Arctic",
      "in a prison in Ireland"),
     "Walton's ship is trapped in Arctic ice when the crew takes the exhausted Victor aboard, and Victor "
     "tells him the whole story there, on the ship.",
     "C"),
    ("The Great Gatsby", "F. Scott Fitzgerald", 1925,
     "why does Gatsby buy his mansion in West Egg?",
     ("to be across the bay from Daisy", "to host business meetings", "because it was his family home",
      "to be near Nick Carraway"),
     "Gatsby tells Nick, through Jordan, that he bought the house so that Daisy would be just across the "
     "bay; the green light at the end of her dock is what he watches.",
     "A"),
    ("Treasure Island", "Robert Louis Stevenson", 1883,
     "Who finds the treasure before the pirates reach it?",
     ("Long John Silver", "Jim Hawkins", "Captain Smollett", "Ben Gunn"),
     "When the pirates dig at the marked spot the pit is empty: the marooned Ben Gunn had already found "
     "the treasure and moved it to his cave.",
     "D"),
]



def question_block(title: str, author: str, year, question: str, options, sep: str = "\n") -> str:
    """The `### Question` and `### Choices` sections of one question; `sep="\\n\\n"` leaves a blank
    line between sections (the open-book layout)."""
    q = question.strip()
    choices = "".join(f"{letter}. {option.strip()}\n" for letter, option in zip(LETTERS, options, strict=True))
    return (f"### Question\n{article_context(title, author, year)} {q[:1].lower() + q[1:]} "
            f"There is only one correct choice.{sep}### Choices\n{choices}{sep[1:]}")


THOUGHT = "### Thought Process and Answer\nThought process:"


SHOT_KEYS = ("title", "author", "year", "question", "options", "thought", "answer")


def read_shots(path: str) -> list[tuple]:
    """Worked examples from a JSONL file, one per line: {"title", "author", "year" (a number or null),
    "question", "options" (four strings), "thought" (the reasoning), "answer" (A-D)}; each as FEW_SHOT's
    tuples. A line that is not one is one error naming the file and line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"shots_file={path}: cannot read it ({e})") from e
    shots = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            title, author, year, question, options, thought, answer = (row[k] for k in SHOT_KEYS)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}, line {number}: not a worked example ({', '.join(SHOT_KEYS)}): {e!r}") from e
        if (not isinstance(options, list) or len(options) != 4 or not all(isinstance(o, str) for o in options)
                or answer not in LETTERS or not all(isinstance(v, str) and v.strip()
                                                    for v in (title, question, thought))):
            raise ConfigError(f"{path}, line {number}: needs a title, a question, four options, a thought and an "
                              "answer A-D")
        shots.append((title, author or "", year, question, tuple(options), thought, answer))
    if not shots:
        raise ConfigError(f"shots_file={path}: holds no worked example")
    return shots


def few_shot_prefix(shots: int = 5, examples=tuple(FEW_SHOT)) -> str:
    """The first `shots` worked `examples` (the paper: five), then the heading of the next, which the
    question fills."""
    if shots > len(examples):
        raise ConfigError(f"config: shots={shots}, but there are only {len(examples)} worked examples")
    blocks = [f"## Example {i}\n{question_block(t, a, y, q, o)}{THOUGHT} {why}\nAnswer: {gold}.\n\n"
              for i, (t, a, y, q, o, why, gold) in enumerate(examples[:shots], 1)]
    return "".join(blocks) + f"## Example {len(blocks) + 1}\n"


def document_question(doc: Document, question: Question, sep: str = "\n") -> str:
    return question_block(doc.title, doc.author, doc.year, question.question, question.options, sep)


def closed_book_prompt(doc: Document, question: Question, shots: int = 5, examples=tuple(FEW_SHOT)) -> str:
    return few_shot_prefix(shots, examples) + document_question(doc, question) + THOUGHT


# Generation stops at any answer line the paper's sampler stops at: "Answer: " with one to four
# distinct letters, a period and a newline.
ANSWER_LINES = tuple(f"Answer: {''.join(p)}.\n" for r in range(1, 5) for p in itertools.permutations(LETTERS, r))
FINAL_ANSWER = re.compile(r"Answer:\s*([ABCD]+)\.")


def parse_answer(text: str) -> str | None:
    """The letter of the final `Answer: X.` (of several letters, the last, as the paper's parser)."""
    found = FINAL_ANSWER.findall(text)
    return found[-1][-1] if found else None


SELECTIONS = ("random_valid", "first_valid", "majority")


def select_answer(answers: list[str | None], selection: str, seed: int = 0, question: int = 0) -> str | None:
    """The answer of one question from its parsed samples (None where none parsed): a random one
    (seeded by `seed` and the question's number, so a rerun or another batch size selects the same),
    the first one, or the most frequent letter (a tie goes to the letter parsed first)."""
    parsed = [a for a in answers if a is not None]
    if not parsed:
        return None
    if selection == "random_valid":
        return parsed[int(np.random.default_rng([seed, question]).integers(len(parsed)))]
    if selection == "first_valid":
        return parsed[0]
    counts = collections.Counter(parsed)
    return max(counts, key=counts.get)


@dataclasses.dataclass(frozen=True)
class SamplingSettings(Settings):
    samples: int = setting(8, "answers sampled per question (the paper's text: 64; the released code: 8)",
                           check=positive)
    selection: str = setting("random_valid", "how a question's answer is picked from its parsed samples: "
                             "random_valid (the paper's text) | first_valid (the released notebook) | majority",
                             choices=SELECTIONS)
    temperature: float = setting(0.1, "sampling temperature (the paper: 0.1 closed-book; open-book 0.1 base, 0.3 "
                                 "CPT)", check=at_least(0))
    max_new_tokens: int = setting(300, "per answer (the paper: 300)", check=positive)
    shots: int = setting(5, "worked examples before each question (the paper: 5; fewer for a short context "
                         "window; at most as many as there are)", check=at_least(0))
    seed: int = setting(0, "sampling seed")
    batch_questions: int = setting(8, "questions decoded together", check=positive)


def answer_questions(sampler: Sampler, todo, prompt_of, settings: SamplingSettings) -> list[dict]:
    """Sample `settings.samples` answers per question (prompt_of(i, doc, question) builds each
    prompt), each stopped at its answer line; parse them and select one answer."""
    params = SamplingParams(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                            n=settings.samples, stop=ANSWER_LINES, seed=settings.seed)
    print(f"{len(todo)} questions x {settings.samples} samples of at most {settings.max_new_tokens} new tokens, "
          f"{settings.batch_questions} questions at a time", file=sys.stderr)
    progress = tqdm(total=len(todo), unit="question", dynamic_ncols=True)
    results = []
    for start in range(0, len(todo), settings.batch_questions):
        batch = range(start, min(start + settings.batch_questions, len(todo)))
        prompts = [prompt_of(i, *todo[i]) for i in batch]
        generations = sampler.generate(prompts, dataclasses.replace(params, seed=settings.seed + start))
        for i, prompt, samples in zip(batch, prompts, generations, strict=True):
            doc, q = todo[i]
            # a sample is an attempt when it reached an answer line (the paper keeps only those)
            texts = [s.text + (s.stop_string or "") for s in samples]
            answers = [parse_answer(t) if s.stop_string else None for s, t in zip(samples, texts, strict=True)]
            selected = select_answer(answers, settings.selection, settings.seed, i)
            results.append(result_row(doc, q, LETTERS, selected, samples=texts, answers=answers, prompt=prompt))
        progress.update(len(batch))
        rate = progress.format_dict["rate"] or 0.0  # questions per second
        progress.set_postfix(samples_per_s=f"{rate * settings.samples:.2f}")
    progress.close()
    return results

"""QuALITY closed-book QA as the EntiGraph paper did it, plus a fast log-likelihood mode.

The question is asked without the article: `In the context of "<title>", written by <author> in
<year>, <question, first letter lower-cased> There is only one correct choice.`, the options as
`A. ...` to `D. ...`, then `Thought process:`. A five-shot chain-of-thought prefix of the same shape
(our own examples, about well-known books) ends each example with `Answer: X.`. Eight samples at
temperature 0.1, at most 300 new tokens, generation stopped at the answer line; the letter is parsed
from it and the samples vote. Unparseable samples count as wrong; a tie goes to the letter that was
sampled first.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from entigraph_jax.data import Document, Question
from entigraph_jax.models.sampling import Sampler, SamplingParams

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


def author_first_last(author: str) -> str:
    """QuALITY writes "Last, First"; the prompt writes "First Last"."""
    last, sep, first = author.partition(", ")
    return f"{first} {last}" if sep and "," not in first else author


def question_block(title: str, author: str, year, question: str, options) -> str:
    q = question.strip()
    q = q[:1].lower() + q[1:]
    lines = [f'In the context of "{title}", written by {author} in {year}, {q} There is only one correct choice.']
    lines += [f"{letter}. {option.strip()}" for letter, option in zip(LETTERS, options, strict=True)]
    return "\n".join(lines)


def few_shot_prefix() -> str:
    examples = [f"{question_block(t, a, y, q, o)}\nThought process: {why}\nAnswer: {gold}."
                for t, a, y, q, o, why, gold in FEW_SHOT]
    return "\n\n".join(examples) + "\n\n"


def closed_book_prompt(doc: Document, question: Question) -> str:
    block = question_block(doc.title, author_first_last(doc.author), doc.year, question.question, question.options)
    return few_shot_prefix() + block + "\nThought process:"


ANSWER = re.compile(r"answer\W{0,4}(?:is\W{0,3})?\(?\s*([ABCD])(?![A-Za-z])", re.IGNORECASE)


def parse_answer(text: str) -> str | None:
    """The letter of the first answer line, or None."""
    match = ANSWER.search(text)
    return match.group(1).upper() if match and match.group(1) in LETTERS else None


def majority_vote(answers: list[str | None]) -> str | None:
    """The most frequent parsed letter; a tie goes to the letter sampled first; None if none parsed."""
    counts = collections.Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


@dataclasses.dataclass(frozen=True)
class ClosedBookSettings:
    samples: int = 8
    temperature: float = 0.1
    max_new_tokens: int = 300
    seed: int = 0
    batch_questions: int = 8


def items(docs: list[Document], max_questions: int = 0):
    pairs = [(doc, q) for doc in docs for q in doc.questions]
    return pairs[:max_questions] if max_questions else pairs


def summarize(results: list[dict]) -> dict:
    """Accuracy overall, on the hard subset and per article, with counts."""
    def score(rows):
        return {"correct": sum(r["correct"] for r in rows), "total": len(rows),
                "accuracy": sum(r["correct"] for r in rows) / len(rows) if rows else float("nan")}

    by_article = collections.defaultdict(list)
    for r in results:
        by_article[r["title"]].append(r)
    return {"overall": score(results), "hard": score([r for r in results if r["difficult"]]),
            "per_article": {title: score(rows) for title, rows in by_article.items()}}


def answer_questions(sampler: Sampler, todo, prompt_of, settings: ClosedBookSettings,
                     stop: tuple[str, ...]) -> list[dict]:
    """Sample `settings.samples` answers per question (prompt_of(i, doc, question) builds each
    prompt), cut each at its answer line, parse and vote."""
    params = SamplingParams(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                            n=settings.samples, stop=stop, seed=settings.seed)
    results = []
    for start in range(0, len(todo), settings.batch_questions):
        batch = range(start, min(start + settings.batch_questions, len(todo)))
        prompts = [prompt_of(i, *todo[i]) for i in batch]
        generations = sampler.generate(prompts, dataclasses.replace(params, seed=settings.seed + start))
        for i, prompt, samples in zip(batch, prompts, generations, strict=True):
            doc, q = todo[i]
            texts = [cut_after_answer(s.text) for s in samples]
            answers = [parse_answer(t) for t in texts]
            vote = majority_vote(answers)
            results.append({"title": doc.title, "doc_id": doc.doc_id, "question": q.question,
                            "gold": LETTERS[q.gold_label - 1], "vote": vote,
                            "correct": vote == LETTERS[q.gold_label - 1], "difficult": q.difficult,
                            "samples": texts, "answers": answers, "prompt": prompt})
    return results


def closed_book(sampler: Sampler, docs: list[Document], settings: ClosedBookSettings, max_questions: int = 0) -> dict:
    results = answer_questions(sampler, items(docs, max_questions), lambda i, doc, q: closed_book_prompt(doc, q),
                               settings, stop=("\n\nIn the context of", "\nAnswer:\n"))
    return {"mode": "closed_book", "settings": dataclasses.asdict(settings), **summarize(results),
            "results": results}


def cut_after_answer(text: str) -> str:
    """The sample up to the end of its answer line (generation stops at the answer line)."""
    match = ANSWER.search(text)
    if not match:
        return text
    end = text.find("\n", match.end())
    return text if end < 0 else text[:end]


def loglik_prompt(doc: Document, question: Question) -> str:
    q = question.question.strip()
    return (f'In the context of "{doc.title}", written by {author_first_last(doc.author)} in {doc.year}, '
            f"{q[:1].lower() + q[1:]}\nAnswer:")


@functools.lru_cache(maxsize=4)
def _log_probs(graphdef):
    """One compiled scorer per model structure: the trainer calls `log_likelihood` every N steps."""
    return jax.jit(lambda state, tokens: jax.nn.log_softmax(nnx.merge(graphdef, state)(tokens), axis=-1))


def continuation_scores(model, pairs: list[tuple[list[int], list[int]]], batch: int = 16) -> np.ndarray:
    """Mean log-probability per token of each continuation given its context, in batches padded to
    a multiple of 64 tokens (few shapes to compile)."""
    graphdef, state = nnx.split(model)
    forward = functools.partial(_log_probs(graphdef), state)
    width = -(-max(len(c) + len(o) for c, o in pairs) // 64) * 64
    scores = np.zeros(len(pairs))
    for start in range(0, len(pairs), batch):
        part = pairs[start : start + batch]
        tokens = np.zeros((batch, width), np.int32)
        for k, (context, continuation) in enumerate(part):
            tokens[k, : len(context) + len(continuation)] = context + continuation
        logp = np.asarray(forward(jnp.asarray(tokens)))
        for k, (context, continuation) in enumerate(part):
            positions = np.arange(len(context) - 1, len(context) + len(continuation) - 1)
            scores[start + k] = logp[k, positions, continuation].mean()
    return scores


def log_likelihood(model, tokenizer, docs: list[Document], max_questions: int = 0, batch: int = 16) -> dict:
    """Score each option's tokens after the question (mean log-probability per token), pick the best."""
    todo = items(docs, max_questions)
    bos = [tokenizer.bos_id] if tokenizer.bos_id is not None else []
    pairs = []
    for doc, q in todo:
        context = bos + tokenizer.encode(loglik_prompt(doc, q))
        pairs += [(context, tokenizer.encode(" " + option.strip())) for option in q.options]
    scores = continuation_scores(model, pairs, batch).reshape(len(todo), 4)
    results = []
    for i, (doc, q) in enumerate(todo):
        choice = LETTERS[int(np.argmax(scores[i]))]
        results.append({"title": doc.title, "doc_id": doc.doc_id, "question": q.question,
                        "gold": LETTERS[q.gold_label - 1], "vote": choice, "difficult": q.difficult,
                        "correct": choice == LETTERS[q.gold_label - 1], "scores": scores[i].tolist()})
    return {"mode": "loglik", **summarize(results), "results": results}

"""Evaluation questions from the user's own documents (`method="questions"`).

Per document: (1) one JSON request for `questions.per_document` multiple-choice questions, each with four
options, the gold letter and a quote from the document that supports it; a question whose quote is not
a clause of the document (at least `questions.quote_words` words, found whole on word boundaries, case and
whitespace aside) is dropped; (2) each remaining question answered by the generator with the document in
the prompt, and `questions.closed_book_answers` times without it. An answer without a readable letter is
asked again, and a question never answered readably is dropped as such. A wrong answer with the document
marks the question ambiguous (dropped); more than half the answers without it right mark it guessable from
general knowledge (kept, flagged `guessable`, scored apart; one answer alone would flag a quarter of the
questions that need their document, by luck). Near-duplicates among a document's questions
are dropped (the later one). The result is QuALITY-format JSONL, so every evaluation task reads it unchanged.
"""

from __future__ import annotations

import collections
import re

from entigraph_jax.data import Document
from entigraph_jax.llm import InvalidAnswer, Request
from entigraph_jax.outputs import json_text

from .requests import make_request, read_json
from .settings import GenerateSettings

LETTERS = "ABCD"

QUESTION_SCHEMA = {"type": "object", "required": ["questions"], "properties": {"questions": {
    "type": "array", "maxItems": 50, "items": {
        "type": "object", "required": ["question", "options", "answer", "quote"], "properties": {
            "question": {"type": "string", "maxLength": 500},
            "options": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "string", "maxLength": 300}},
            "answer": {"type": "string", "enum": list(LETTERS)},
            "quote": {"type": "string", "maxLength": 1000}}}}}}


class InvalidQuestions(InvalidAnswer):
    """The question stage's answer is not the JSON object asked for."""


def question_requests(docs: list[Document], settings: GenerateSettings) -> list[Request]:
    """One request per document; its one slot is the number of questions asked for."""
    return [make_request(doc, "question", settings, (str(settings.questions.per_document),), json_mode=True)
            for doc in docs]


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def quote_found(quote: str, document: str, words: int = 4) -> bool:
    """Whether `quote` (its surrounding quotation marks and ellipses dropped) is a clause of `document`: at
    least `words` words, found whole (on word boundaries), case and whitespace aside."""
    core = _normal(quote).strip(" \"'“”‘’«»").removeprefix("...").removesuffix("...").strip(" …")
    if len(re.findall(r"\w+", core)) < words:
        return False
    return re.search(rf"(?<!\w){re.escape(core)}(?!\w)", _normal(document)) is not None


def _problem(item) -> str | None:
    """Why an item of the answer's `questions` list is not a usable question (None if it is one)."""
    if not isinstance(item, dict):
        return "not an object"
    options = item.get("options")
    if not isinstance(item.get("question"), str) or not item["question"].strip():
        return "no question"
    if not isinstance(options, list) or len(options) != 4 or not all(isinstance(o, str) and o.strip()
                                                                       for o in options):
        return "not four options"
    if len({_normal(o) for o in options}) < 4:
        return "repeated options"
    if str(item.get("answer", "")).strip().strip(".").upper() not in LETTERS:
        return "no answer letter A-D"
    if not isinstance(item.get("quote"), str):
        return "no quote"
    return None


def parse_questions(answer: str, document: str, quote_words: int = 4) -> tuple[list[dict], list[dict]]:
    """(questions kept, questions dropped with their reason) from the question stage's answer; a
    ```json fence is accepted. Raises `InvalidQuestions` when the answer holds no list of questions."""
    value = read_json(answer, InvalidQuestions)
    if not isinstance(value, dict) or not isinstance(value.get("questions"), list) or not value["questions"]:
        raise InvalidQuestions("no 'questions' list in the JSON object")
    kept, dropped = [], []
    for item in value["questions"]:
        problem = _problem(item)
        if problem is None and not quote_found(item["quote"], document, quote_words):
            problem = f"quote not a clause of the document (at least {quote_words} words, found whole)"
        if problem:
            dropped.append({"question": str(item.get("question", ""))[:500] if isinstance(item, dict) else "",
                            "reason": problem})
            continue
        kept.append({"question": " ".join(item["question"].split()), "options": [o.strip() for o in item["options"]],
                     "answer": item["answer"].strip().strip(".").upper(), "quote": item["quote"].strip()})
    return kept, dropped


def question_text(question: dict) -> str:
    """A question and its lettered options, as the answer prompts show it."""
    options = zip(LETTERS, question["options"], strict=True)
    return question["question"] + "\n" + "\n".join(f"{letter}. {option}" for letter, option in options)


def answer_requests(doc: Document, questions: list[dict], settings: GenerateSettings) -> list[Request]:
    """Each question answered once with the document, then `questions.closed_book_answers` times without it."""
    return [make_request(doc, "answer", settings, (question_text(q),), style=style, sample_index=i)
            for q in questions
            for style, i in [("with_document", 0), *(("closed_book", i) for i in range(
                settings.questions.closed_book_answers))]]


def answer_letter(text: str) -> str | None:
    """The letter an answer gives: the one after its last `answer` (`The answer is C.`, `Answer: c`), else
    a lone letter at its start (`B`, `B.`, `(B) the mill`); None if neither."""
    found = re.findall(r"answer\W{0,3}(?:is\W{0,3})?\(?([ABCD])(?![\w'])", text, flags=re.I)
    if found:
        return found[-1].upper()
    start = re.match(r"\W*([ABCD])(?![\w'])", text)
    return start.group(1) if start else None


def near_duplicate(a: dict, b: dict, overlap: float) -> bool:
    """Whether two questions share at least `overlap` of their words (Jaccard over the words of the
    question and its gold option, case aside)."""
    def words(q):
        return set(re.findall(r"\w+", (q["question"] + " " + q["options"][LETTERS.index(q["answer"])]).casefold()))

    x, y = words(a), words(b)
    return bool(x | y) and len(x & y) / len(x | y) >= overlap


def assemble(docs: list[Document], records: list[dict], settings: GenerateSettings) -> tuple[list[dict], dict]:
    """The QuALITY lines (one per document with a question kept) and the counts, from the journal's
    question and answer records."""
    letters = {r["request_id"]: r.get("letter") for r in records if r["kind"] == "answer"}
    generated = {r["doc_id"]: r for r in records if r["kind"] == "question"}
    counts = collections.Counter()
    gold = collections.Counter()
    lines, titles = [], collections.Counter()
    for doc in docs:
        record = generated.get(doc.doc_id)
        if record is None:
            continue
        for dropped in record["dropped_questions"]:
            counts[f"dropped: {dropped['reason']}"] += 1
        counts["asked"] += len(record["questions"]) + len(record["dropped_questions"])
        kept = []
        for q in record["questions"]:
            with_doc, *closed = (letters.get(r.request_id) for r in answer_requests(doc, [q], settings))
            right = sum(letter == q["answer"] for letter in closed)  # an unanswered one is not right
            if with_doc is None:
                counts["dropped: no readable answer with the document"] += 1
            elif with_doc != q["answer"]:
                counts["dropped: ambiguous (answered wrong with the document)"] += 1
            elif any(near_duplicate(q, k, settings.questions.duplicate_overlap) for k in kept):
                counts["dropped: near-duplicate"] += 1
            else:
                kept.append({**q, "guessable": right > len(closed) / 2, "closed_book_right": right})
        if kept:
            lines.append(quality_line(doc, kept, titles, settings.source))
            counts["kept"] += len(kept)
            counts["guessable"] += sum(q["guessable"] for q in kept)
            gold.update(q["answer"] for q in kept)
    counts["documents"] = len(lines)
    rule = (f"right in more than half of {settings.questions.closed_book_answers} answers without the document")
    return lines, {**dict(sorted(counts.items())), "gold_letters": dict(sorted(gold.items())), "guessable_rule": rule}


def quality_line(doc: Document, questions: list[dict], titles: collections.Counter, source: str) -> dict:
    """A QuALITY release line; each question says whether it is `guessable` (QuALITY's own `difficult` flag is
    not ours to set: it is left out). QuALITY merges lines by (title, author): a title seen before gets the
    document id after it."""
    title = doc.title or doc.doc_id
    titles[(title, doc.author)] += 1
    if titles[(title, doc.author)] > 1:
        title = f"{title} ({doc.doc_id})"
    return {"article_id": doc.doc_id, "title": title, "author": doc.author, "year": doc.year, "source": source,
            "article": doc.body,
            "questions": [{"question": q["question"], "options": q["options"],
                           "gold_label": LETTERS.index(q["answer"]) + 1, "guessable": q["guessable"],
                           "closed_book_right": q["closed_book_right"], "quote": q["quote"]} for q in questions]}


def write_quality(lines: list[dict], path) -> None:
    """`lines` as JSON lines, written beside `path` and moved into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json_text(line) + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)

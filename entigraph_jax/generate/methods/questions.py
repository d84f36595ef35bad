"""Evaluation questions from the user's own documents (`generate/questions.py`): each document's questions, then
each kept question answered with and without its document; the questions kept are written as QuALITY JSONL
(`questions.jsonl`), with the count of every question's fate in summary.json's `fates`."""

from __future__ import annotations

from entigraph_jax.llm import InvalidAnswer

from ..method import Kind, Method
from ..questions import (
    QUESTION_SCHEMA,
    answer_letter,
    answer_requests,
    assemble,
    parse_questions,
    question_requests,
    write_quality,
)

ANSWER_TOKENS = 2  # an answer to a question: its letter


def read_question(record, request, completion, doc, settings) -> dict:
    record["questions"], record["dropped_questions"] = parse_questions(completion.text, doc.text,
                                                                       settings.questions.quote_words)
    return record


def read_answer(record, request, completion, doc, settings) -> dict:
    if (letter := answer_letter(completion.text)) is None:
        raise InvalidAnswer("no answer letter A-D")  # asked again
    return {**record, "letter": letter}


async def send(rounds) -> None:
    """Every document's questions, then each kept question answered with and without its document."""
    journal, docs = rounds.journal, {d.doc_id: d for d in rounds.docs}
    rounds.expect(journal.count_pending(("question",), rounds.retry))
    await rounds.engine.run(journal.pending(("question",), rounds.retry))
    if rounds.engine.stats.budget_reached:
        return
    answers = [r for record in journal.records(("question",)) if record["doc_id"] in docs
               for r in answer_requests(docs[record["doc_id"]], record["questions"], rounds.config)]
    journal.add(rounds.order(answers))
    rounds.expect(journal.count_pending(("answer",), rounds.retry))
    await rounds.engine.run(journal.pending(("answer",), rounds.retry))


def estimate(add, docs, config, out) -> str:
    """Each document's question request and the answers to each question, with and without the document (guessed
    as all kept, each `dry_run.question_tokens` long)."""
    per_doc, length = config.questions.per_document, config.dry_run.question_tokens
    stand_in = {"question": "x" * (4 * length), "options": ["o"] * 4, "answer": "A", "quote": ""}  # 4 chars a token
    for doc in docs:
        add("question", question_requests([doc], config)[0], doc, per_doc * length)
        for request in answer_requests(doc, [stand_in], config):
            add("answer", request, doc, ANSWER_TOKENS, per_doc)
    return ""


def export(config, docs, journal, out) -> tuple[int, dict]:
    """`questions.jsonl`: the questions kept, and the counts of every question's fate."""
    lines, counts = assemble(docs, list(journal.records(("question", "answer"))), config)
    write_quality(lines, out.questions)
    return counts.get("kept", 0), counts


METHOD = Method(
    "questions", "evaluation questions from the documents, written as QuALITY JSONL to output_dir/questions.jsonl",
    kinds={"question": Kind(QUESTION_SCHEMA, lambda s: s.questions.attempts, read_question, trains=False),
           "answer": Kind(None, lambda s: s.questions.attempts, read_answer, styled=True, trains=False)},
    templates=lambda settings: ("system", "question", "answer_with_document", "answer_closed_book"),
    first=question_requests, send=send, estimate=estimate, export=export, output=lambda out: out.questions)

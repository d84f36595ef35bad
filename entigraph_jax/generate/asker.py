"""How generation asks (an `llm.Asker`): each request rendered from its document and the run's prompt version,
JSON stages with their answer's schema; each answer made into its record — the entity list parsed and
checked, the questions parsed and their quotes checked, an answer's letter read — with the training tokens
it adds counted in `budget.tokenizer` (what `budget.max_train_tokens` caps)."""

from __future__ import annotations

from entigraph_jax.clients import Completion
from entigraph_jax.data import Document
from entigraph_jax.data.records import train_text
from entigraph_jax.llm import Asker, Budget, InvalidAnswer, Journal, Prompt, Request

from .questions import QUESTION_SCHEMA, answer_letter, parse_questions
from .requests import ENTITY_SCHEMA, messages, parse_entities
from .settings import GenerateSettings

SCHEMAS = {"entities": ENTITY_SCHEMA, "question": QUESTION_SCHEMA}  # JSON stages' answer shapes


def budget(settings: GenerateSettings) -> Budget:
    return Budget(settings.budget.max_requests, settings.budget.max_output_tokens, settings.budget.max_train_tokens)


class GenerationAsker(Asker):
    def __init__(self, settings: GenerateSettings, docs: dict[str, Document]):
        self.settings, self.docs = settings, docs
        tokenizer = settings.budget.tokenizer
        self.train_tokenizer = tokenizer.load() if tokenizer.path else None

    def count_uncounted(self, journal: Journal) -> None:
        """Records of runs that did not count their training tokens, counted now (once)."""
        if self.train_tokenizer:
            journal.count_train_tokens({r["request_id"]: self.train_tokens(r) for r in journal.uncounted()})

    def train_tokens(self, record: dict) -> int:
        """The tokens training reads of a record: BOS (where the tokenizer adds one), text, EOS."""
        text = train_text(record)
        return len(self.train_tokenizer.bos()) + len(self.train_tokenizer.encode(text)) + 1 if text else 0

    def prompt(self, request: Request) -> Prompt:
        system, user = messages(request, self.docs[request.doc_id], self.settings.prompt_version)
        return Prompt(system, user, schema=SCHEMAS.get(request.kind))

    def attempts(self, kind: str) -> int:
        return {"entities": self.settings.entigraph.entity_attempts, "question": self.settings.questions.attempts,
                "answer": self.settings.questions.attempts}.get(kind, 1)

    def record(self, request: Request, completion: Completion, record: dict) -> dict:
        record = {**record, "prompt_version": self.settings.prompt_version}
        document = self.docs[request.doc_id].text
        if request.kind == "entities":
            record["summary"], record["entities"], record["dropped_entities"] = parse_entities(
                completion.text, document if self.settings.entigraph.entities_in_document else None)
        if request.kind == "question":
            record["questions"], record["dropped_questions"] = parse_questions(completion.text, document,
                                                                               self.settings.questions.quote_words)
        if request.kind == "answer" and (letter := answer_letter(completion.text)) is None:
            raise InvalidAnswer("no answer letter A-D")  # asked again
        if request.kind == "answer":
            record["letter"] = letter
        if request.kind in ("rephrase", "answer"):
            record["style"], record["sample_index"] = request.style, request.sample_index
        if self.train_tokenizer:
            record["train_tokens"] = self.train_tokens(record)
        return record

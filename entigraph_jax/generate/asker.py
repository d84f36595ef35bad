"""How generation asks (an `llm.Asker`): each request rendered from its document and the run's prompt version,
JSON kinds with their answer's schema; each answer made into its record by what its kind reads of it (the
method's `Kind.read`: the entity list parsed and checked, the questions parsed and their quotes checked, an
answer's letter read), with the training tokens it adds counted in `budget.tokenizer` (what
`budget.max_train_tokens` caps)."""

from __future__ import annotations

from entigraph_jax.clients import Completion
from entigraph_jax.data import Document
from entigraph_jax.data.records import train_text
from entigraph_jax.llm import Asker, Budget, Journal, Prompt, Request

from .method import kind
from .requests import messages
from .settings import GenerateSettings


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
        text = train_text(record) if kind(record["kind"]).trains else ""
        return len(self.train_tokenizer.bos()) + len(self.train_tokenizer.encode(text)) + 1 if text else 0

    def prompt(self, request: Request) -> Prompt:
        system, user = messages(request, self.docs[request.doc_id], self.settings.prompt_version)
        return Prompt(system, user, schema=kind(request.kind).schema)

    def attempts(self, name: str) -> int:
        return kind(name).attempts(self.settings)

    def record(self, request: Request, completion: Completion, record: dict) -> dict:
        """The record of an answer: what its kind reads of it (`method.Kind.read`; an unreadable answer raises
        `InvalidAnswer` and is asked again), with its style and sample index where its kind is styled or sampled."""
        record, spec = {**record, "prompt_version": self.settings.prompt_version}, kind(request.kind)
        if spec.read is not None:
            record = spec.read(record, request, completion, self.docs[request.doc_id], self.settings)
        if spec.styled or spec.sampled:
            record["style"], record["sample_index"] = request.style, request.sample_index
        if self.train_tokenizer:
            record["train_tokens"] = self.train_tokens(record)
        return record

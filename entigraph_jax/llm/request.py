"""What is asked: a `Request` (journaled by its id), rendered into a `Prompt` when it is sent by the `Asker`
of the stage that asks, which also turns each answer into the request's record."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from entigraph_jax.clients import Completion


@dataclasses.dataclass(frozen=True)
class Request:
    """What to ask, kept small: a generation request names its document and slots and is rendered when it
    is sent (the journal stays small however long the documents are); a request asked as it was rendered
    carries its `prompt` (a `Prompt` as a dict)."""

    request_id: str
    doc_id: str  # the document (or whatever the asker groups requests by)
    kind: str  # entities | pair | triple | rephrase | question | answer | claims | judge | completion | ...
    json_mode: bool = False
    entities: tuple[str, ...] = ()  # the template's slot values (entity names, a question, claims)
    style: str = ""
    sample_index: int = 0
    prompt: dict | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Request:
        fields = json.loads(text)
        return cls(**{**fields, "entities": tuple(fields["entities"])})


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A request as sent: a chat (`system`, `user`, a JSON `schema` for a request in JSON mode), or a raw
    text completion (`user` the prompt, text or token ids; `completion` the rest of the body: n, stop
    strings, seed, ...) sent to a server's `/completions`."""

    system: str
    user: str | list[int]
    schema: dict | None = None
    completion: dict | None = None


def prompt_id(prompt: Prompt, *context) -> str:
    """A stable id of a rendered prompt and what else decides its answer (the model, a writer's name)."""
    key = json.dumps([dataclasses.asdict(prompt), *context], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class InvalidAnswer(ValueError):
    """An answer that is not what was asked for (asked again, up to the asker's attempts for its kind)."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """Overall caps across reruns (0: none): requests (counted when sent), the generator's output tokens, and
    the training tokens of the records (an asker counts them into each record's `train_tokens`)."""

    max_requests: int = 0
    max_output_tokens: int = 0
    max_train_tokens: int = 0


class Asker:
    """What a stage that asks supplies: how a request is rendered, how an answer becomes its record, and how
    many answers a request gets before one that is never valid fails. The default asks what a request
    carries (`Request.prompt`) and keeps the answer as it came."""

    def prompt(self, request: Request) -> Prompt:
        return Prompt(**request.prompt)

    def record(self, request: Request, completion: Completion, record: dict) -> dict:
        """The record of an answer, from the engine's (text, doc_id, kind, entities, model, request_id,
        usage, truncated); raise `InvalidAnswer` to ask again."""
        return {**record, "choices": list(completion.choices)} if completion.choices else record

    def attempts(self, kind: str) -> int:
        return 1

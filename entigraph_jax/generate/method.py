"""Generation methods, one registered part each: `methods/<name>.py` defines `METHOD`, a `Method` (what it asks,
in which order, what its answers make), and installed packages add theirs under the `entigraph_jax.methods`
entry point group. The generate command, the dry run, the asker and the export take everything method-specific
from here; a method's settings are its section of `GenerateSettings` (`settings.py`) and its prompts are
templates of each prompt version. (A method's functions get the run's `GenerateSettings`, and `send` the run's
`rounds.Rounds`: neither is imported here, as both import this module.)

A method names the kinds of request it sends (`Kind`: the answer's JSON shape, how many times an unreadable
answer is asked again, what a record keeps of an answer), in the order it sends them, which is also the order a
budget reaches them in the dry run."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from entigraph_jax.data import Document, write_records
from entigraph_jax.llm import Journal, Request
from entigraph_jax.registry import named, registered
from entigraph_jax.runs import CorpusRun

GROUP = "entigraph_jax.methods"


@dataclasses.dataclass(frozen=True)
class Kind:
    """A kind of request: its answer's JSON shape (None: text), how many times a request is asked before it is
    recorded as failed, and what its record keeps of an answer (`read(record, request, completion, document,
    settings)` -> the record; raising `llm.InvalidAnswer` asks again). A styled kind's template is
    `<kind>_<style>`; its record, and a sampled kind's, keeps the request's style and sample index. A kind whose
    answers training never reads (questions and their answers, checks, strategies) says so, for the training
    tokens counted and guessed."""

    schema: dict | None = None
    attempts: Callable[[object], int] = lambda settings: 1  # of the GenerateSettings
    read: Callable[[dict, Request, object, Document, object], dict] | None = None
    styled: bool = False
    sampled: bool = False
    trains: bool = True


def all_records(settings, docs: list[Document], journal: Journal, out: CorpusRun
                ) -> tuple[int, dict | None]:
    """The export most methods have: every answered request's record to `records/` (no counts of its own)."""
    return write_records(journal.records(), out.records), None


@dataclasses.dataclass(frozen=True)
class Method:
    """A generation method. `templates(settings)`: the templates it asks with (checked before anything is sent);
    `first(docs, settings)`: the requests a run starts with; `send(rounds)`: sends them and every later round
    (`rounds.Rounds`); `estimate(add, docs, settings, out)`: the dry run's requests, through `add(kind, request,
    doc, output_tokens, count)`, returning a note on what its guesses rest on ("" for none); `export(settings,
    docs, journal, out)`: what the answers so far make (how many, and the method's own counts for summary.json's
    `fates`); `output(out)`: where that is."""

    name: str
    about: str
    kinds: dict[str, Kind]
    templates: Callable[[object], tuple[str, ...]]
    first: Callable[[list[Document], object], list[Request]]
    send: Callable[[object], Awaitable[None]]
    estimate: Callable[..., str]
    export: Callable[[object, list[Document], Journal, CorpusRun], tuple[int, dict | None]] = all_records
    output: Callable[[CorpusRun], Path] = lambda out: out.records


@functools.cache
def methods() -> dict[str, Method]:
    """Every method by name: the modules of `methods/` (in name order), then the installed entry points."""
    from . import methods as package

    return registered(package, "METHOD", GROUP, Method, "generation method")


def method(name: str) -> Method:
    """The method called `name`; one line naming the known ones if there is none."""
    return named(methods(), name, "method")


def kind(name: str) -> Kind:
    """The request kind called `name`, of whichever method sends it (a kind nobody declares: plain text)."""
    return next((m.kinds[name] for m in methods().values() if name in m.kinds), Kind())

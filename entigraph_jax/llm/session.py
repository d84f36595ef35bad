"""Asking an LLM from synchronous code (the summary judge, served evaluation): a `Session` holds a journal, a
started backend (a vLLM server it started lives until `close`) and the engine, online or batch; `ask`
sends what the journal has not answered of the requests given and returns every request's record, so a
rerun after a failure asks nothing twice. Errors name the settings section the user set."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tqdm import tqdm

from entigraph_jax.clients import Fatal

from .backends import make_backend
from .batch import BatchEngine
from .engine import Engine
from .journal import Journal
from .request import Asker, Request


def named(error: Fatal, section: str) -> Fatal:
    """`error` with the settings section it concerns in front (once)."""
    text = str(error)
    return error if text.startswith(f"{section}") else Fatal(f"{section}: {text}")


class Session:
    """`Session(settings, journal_path, section).ask(requests)` -> each request's record (None: no answer).
    `settings` is an `LLMSettings`; `section` its dotted name in the user's config (`tasks.summary.judge`,
    `served`), which every error names; `asker` renders requests and keeps answers (default: requests that
    carry their rendered prompt)."""

    def __init__(self, settings, journal: Path, section: str, asker: Asker | None = None, label: str = "ask"):
        self.settings, self.section = settings, section
        journal.parent.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(journal)
        self.loop = asyncio.new_event_loop()
        self.progress = tqdm(desc=label, unit="req", dynamic_ncols=True, total=0)
        try:
            self.backend = make_backend(settings, journal.parent, section)
            engine = BatchEngine if settings.mode == "batch" else Engine
            self.engine = engine(self.backend, self.journal, asker or Asker(), settings,
                                 on_progress=lambda stats: self.progress.update(1), section=section)
            self._run(self.backend.start())
        except BaseException:
            self.close()
            raise

    def _run(self, work):
        try:
            return self.loop.run_until_complete(work)
        except Fatal as e:
            raise named(e, self.section) from e

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self.loop.is_closed():
            if hasattr(self, "backend"):
                self.loop.run_until_complete(self.backend.aclose())
            self.loop.close()
            self.progress.close()
            self.journal.close()

    def ask(self, requests: list[Request]) -> list[dict | None]:
        """Each request's record, asking only those without one in the journal (a request that failed before
        is asked again)."""
        self.journal.add(requests)
        unique = list({r.request_id: r for r in requests}.values())
        pending = {r.request_id for r in self.journal.unanswered([r.request_id for r in unique])}
        todo = [r for r in unique if r.request_id in pending]  # as given now (a journal's older spec aside)
        if todo:
            self.progress.total += len(todo)
            self.progress.refresh()
            self._run(self.engine.run(iter(todo)))
        records = self.journal.records_of([r.request_id for r in unique])
        return [records.get(r.request_id) for r in requests]

    def cost(self) -> float:
        """What every answer in the journal cost, earlier runs' too."""
        return self.journal.cost()

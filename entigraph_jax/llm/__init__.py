"""llm: asking an LLM as one service, beside `clients/` — the journal (SQLite: every request and its answer,
so a rerun asks nothing twice), the engine (concurrency, rate limits, retries, budgets, prices) and its
batch twin (a provider's batch API), the one registry of backends (`backends.py`: the HTTP clients and our
own model behind the sampler), and their one settings type, `LLMSettings`.

A stage that asks supplies an `Asker` (how a request is rendered into a `Prompt`, how an answer becomes its
record): generation drives the engine round after round with its own; the summary judge and served
evaluation ask rendered prompts through a `Session`. May import clients, data and models (the local
backend); no stage above it.
"""

from .backends import BACKENDS, make_backend
from .batch import BatchEngine
from .engine import Engine, Stats
from .journal import Journal, JournalError
from .request import Asker, Budget, InvalidAnswer, Prompt, Request, prompt_id
from .session import Session, named
from .settings import LLMSettings, LocalSettings

__all__ = ["BACKENDS", "Asker", "BatchEngine", "Budget", "Engine", "InvalidAnswer", "Journal", "JournalError",
           "LLMSettings", "LocalSettings", "Prompt", "Request", "Session", "Stats", "make_backend", "named",
           "prompt_id"]

"""The journal: every request added and finished in SQLite (embedded, crash-safe).

A request is added once (its id is the primary key), then done (with its record) or failed
(with the error); in batch mode it is submitted in between, under the key of the batch that holds
it (`batches`: our key, the provider's batch id once created, its state). A rerun after a crash or
Ctrl-C asks `pending()` and sends only those, and polls the batches still open; records are
exported from here, so nothing is lost, nothing is written twice and nothing is paid for twice.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from entigraph_jax.errors import UserError

from .request import Request

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT UNIQUE NOT NULL,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'planned',   -- planned (added, not sent) | submitted (in a batch) | done | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    record TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,  -- of input_tokens, served from the provider's prompt cache
    error TEXT,
    answer TEXT,                              -- a failed request's last answer, to see why it failed
    batch_key TEXT,                           -- the batch it was last submitted in
    cost REAL NOT NULL DEFAULT 0              -- USD, from the price table
);
CREATE INDEX IF NOT EXISTS by_status ON requests (status, seq);
CREATE TABLE IF NOT EXISTS batches (
    key TEXT PRIMARY KEY,                     -- ours, carried by the batch (metadata or display name)
    batch_id TEXT,                            -- the provider's, once the create call answered
    kind TEXT NOT NULL,
    requests INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'        -- open | completed | expired | failed
);
"""
COLUMNS = {"answer": "TEXT", "batch_key": "TEXT", "cost": "REAL NOT NULL DEFAULT 0",
           "cached_input_tokens": "INTEGER NOT NULL DEFAULT 0"}  # added after the first release


class JournalError(UserError):
    """A journal file that is not one (damaged, or another program's file)."""


class Journal:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit; explicit transactions
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # a crash mid-write never corrupts the file
            self.db.execute("PRAGMA synchronous=NORMAL")
            known = {row[1] for row in self.db.execute("PRAGMA table_info(requests)")}
            for name, kind in COLUMNS.items():  # a journal written before the column existed
                if known and name not in known:
                    self.db.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise JournalError(f"{path}: not a readable journal ({e}); nothing was changed") from e

    @contextlib.contextmanager
    def transaction(self):
        """Group many updates into one commit (answers of a batch are taken in by the thousand)."""
        with self.db:
            self.db.execute("BEGIN")
            yield

    def add(self, requests: Iterable[Request]) -> int:
        """Add requests not yet known (by id); returns how many were new."""
        before = self.db.total_changes
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO requests (request_id, doc_id, kind, spec) VALUES (?, ?, ?, ?)",
                ((r.request_id, r.doc_id, r.kind, r.to_json()) for r in requests))
        return self.db.total_changes - before

    def pending(self, kinds: tuple[str, ...], retry_failed: bool = True, chunk: int = 1000) -> Iterator[Request]:
        """Requests of `kinds` still to send, in the order they were added. Only their row numbers are held; specs
        are read a chunk at a time, so memory stays flat however many requests there are."""
        statuses = ("planned", "failed") if retry_failed else ("planned",)
        query = (f"SELECT seq FROM requests WHERE status IN ({','.join('?' * len(statuses))}) "
                 f"AND kind IN ({','.join('?' * len(kinds))}) ORDER BY seq")
        seqs = [seq for (seq,) in self.db.execute(query, (*statuses, *kinds))]
        for start in range(0, len(seqs), chunk):
            part = seqs[start : start + chunk]
            rows = self.db.execute(f"SELECT spec FROM requests WHERE seq IN ({','.join('?' * len(part))}) "
                                   "ORDER BY seq", part).fetchall()
            yield from (Request.from_json(spec) for (spec,) in rows)

    def _rows(self, columns: str, ids: list[str], where: str = "", chunk: int = 500) -> list[tuple]:
        """`columns` of the rows of `ids` (matching `where` too), a chunk of ids at a time."""
        rows = []
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            rows += self.db.execute(f"SELECT {columns} FROM requests WHERE request_id IN "
                                    f"({','.join('?' * len(part))}){where} ORDER BY seq", part).fetchall()
        return rows

    def unanswered(self, ids: list[str], retry_failed: bool = True) -> list[Request]:
        """Of the requests `ids`, those still to send, in the order they were added."""
        statuses = "('planned', 'failed')" if retry_failed else "('planned')"
        return [Request.from_json(spec) for (spec,) in self._rows("spec", ids, f" AND status IN {statuses}")]

    def records_of(self, ids: list[str]) -> dict[str, dict]:
        """request id -> record, of the requests `ids` that are done."""
        return {request_id: json.loads(record)
                for request_id, record in self._rows("request_id, record", ids, " AND status='done'")}

    def count_pending(self, kinds: tuple[str, ...], retry_failed: bool = True) -> int:
        statuses = ("planned", "failed") if retry_failed else ("planned",)
        query = (f"SELECT COUNT(*) FROM requests WHERE status IN ({','.join('?' * len(statuses))}) "
                 f"AND kind IN ({','.join('?' * len(kinds))})")
        return self.db.execute(query, (*statuses, *kinds)).fetchone()[0]

    def done(self, request: Request, record: dict, attempts: int, input_tokens: int = 0, output_tokens: int = 0,
             cached_input_tokens: int = 0, cost: float = 0.0) -> None:
        """Record the answer; the tokens and cost of this run's answers to it are added to any earlier ones."""
        self.db.execute(
            "UPDATE requests SET status='done', record=?, attempts=attempts+?, input_tokens=input_tokens+?, "
            "output_tokens=output_tokens+?, cached_input_tokens=cached_input_tokens+?, error=NULL, cost=cost+? "
            "WHERE request_id=?", (json.dumps(record, ensure_ascii=False), attempts, input_tokens, output_tokens,
                                   cached_input_tokens, cost, request.request_id))

    def failed(self, request: Request, error: str, attempts: int, answer: str | None = None, input_tokens: int = 0,
               output_tokens: int = 0, cached_input_tokens: int = 0, cost: float = 0.0) -> None:
        """Record the failure; answers it got (an invalid entity list) still count as spent."""
        self.db.execute("UPDATE requests SET status='failed', error=?, attempts=attempts+?, answer=?, "
                        "input_tokens=input_tokens+?, output_tokens=output_tokens+?, "
                        "cached_input_tokens=cached_input_tokens+?, cost=cost+? WHERE request_id=?",
                        (error, attempts, answer, input_tokens, output_tokens, cached_input_tokens, cost,
                         request.request_id))

    def assign(self, key: str, kind: str, requests: list[Request]) -> None:
        """Mark `requests` as submitted in the batch `key` (before it is created: a kill in between
        leaves a batch to look up, never requests sent twice)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO batches (key, kind, requests) VALUES (?, ?, ?)", (key, kind, len(requests)))
            self.db.executemany("UPDATE requests SET status='submitted', batch_key=? WHERE request_id=?",
                                ((key, r.request_id) for r in requests))

    def batch_created(self, key: str, batch_id: str) -> None:
        self.db.execute("UPDATE batches SET batch_id=? WHERE key=?", (batch_id, key))

    def open_batches(self) -> list[tuple[str, str | None]]:
        """(key, provider's id or None if its create call never answered) of the batches not ended."""
        return self.db.execute("SELECT key, batch_id FROM batches WHERE state='open' ORDER BY rowid").fetchall()

    def batch_ids(self, keys: list[str]) -> list[tuple[str, str]]:
        return [(key, self.db.execute("SELECT batch_id FROM batches WHERE key=?", (key,)).fetchone()[0])
                for key in keys]

    def batch_requests(self, key: str) -> list[Request]:
        """The requests of batch `key` not yet answered."""
        rows = self.db.execute("SELECT spec FROM requests WHERE batch_key=? AND status='submitted' ORDER BY seq",
                               (key,))
        return [Request.from_json(spec) for (spec,) in rows]

    def submitted(self, request_id: str) -> tuple[Request, int] | None:
        """(the request, its attempts so far) if it is waiting in a batch, else None."""
        row = self.db.execute("SELECT spec, attempts FROM requests WHERE request_id=? AND status='submitted'",
                              (request_id,)).fetchone()
        return (Request.from_json(row[0]), int(row[1])) if row else None

    def resend(self, request: Request, attempts: int, input_tokens: int = 0, output_tokens: int = 0,
               cached_input_tokens: int = 0, cost: float = 0.0) -> None:
        """Back to pending after a failed attempt (what its answer cost counted), to be sent again."""
        self.db.execute("UPDATE requests SET status='planned', attempts=attempts+?, input_tokens=input_tokens+?, "
                        "output_tokens=output_tokens+?, cached_input_tokens=cached_input_tokens+?, cost=cost+? "
                        "WHERE request_id=?",
                        (attempts, input_tokens, output_tokens, cached_input_tokens, cost, request.request_id))

    def batch_ended(self, key: str, state: str) -> int:
        """Close batch `key`; its requests still unanswered go back to pending. Returns how many."""
        with self.db:
            self.db.execute("BEGIN")
            back = self.db.execute("UPDATE requests SET status='planned' WHERE batch_key=? AND status='submitted'",
                                   (key,)).rowcount
            self.db.execute("UPDATE batches SET state=? WHERE key=?", (state, key))
        return back

    def records(self, kinds: tuple[str, ...] | None = None) -> Iterator[dict]:
        """Finished records in the order their requests were added."""
        query, args = "SELECT record FROM requests WHERE status='done'", ()
        if kinds:
            query += f" AND kind IN ({','.join('?' * len(kinds))})"
            args = kinds
        for (record,) in self.db.execute(query + " ORDER BY seq", args):
            yield json.loads(record)

    def entities(self) -> dict[str, list[str]]:
        """doc_id -> the entities its answered entity request listed."""
        return {r["doc_id"]: r["entities"] for r in self.records(("entities",))}

    def counts(self) -> dict[str, dict[str, int]]:
        """{kind: {status: count}}"""
        out: dict[str, dict[str, int]] = {}
        for kind, status, n in self.db.execute("SELECT kind, status, COUNT(*) FROM requests GROUP BY 1, 2"):
            out.setdefault(kind, {})[status] = n
        return out

    def per_document(self, kind: str) -> dict[str, tuple[int, int]]:
        """{doc_id: (requests added, output tokens produced)} for one kind."""
        rows = self.db.execute("SELECT doc_id, COUNT(*), SUM(output_tokens) FROM requests WHERE kind=? "
                               "GROUP BY doc_id", (kind,))
        return {doc_id: (int(n), int(tokens or 0)) for doc_id, n, tokens in rows}

    def truncated(self) -> dict[str, int]:
        """{kind: answers that stopped at the output-token cap}"""
        rows = self.db.execute("SELECT kind, COUNT(*) FROM requests WHERE status='done' AND "
                               "json_extract(record, '$.truncated') = 1 GROUP BY kind")
        return {kind: int(n) for kind, n in rows}

    def train_tokens(self) -> int:
        """Training tokens of the records done (as counted into each record)."""
        (n,) = self.db.execute("SELECT SUM(json_extract(record, '$.train_tokens')) FROM requests "
                               "WHERE status='done'").fetchone()
        return int(n or 0)

    def uncounted(self) -> Iterator[dict]:
        """Records done without a training-token count (written before one was asked for)."""
        for (record,) in self.db.execute("SELECT record FROM requests WHERE status='done' AND "
                                         "json_extract(record, '$.train_tokens') IS NULL"):
            yield json.loads(record)

    def count_train_tokens(self, counts: dict[str, int]) -> None:
        """Store {request_id: training tokens} into those records."""
        with self.transaction():
            self.db.executemany("UPDATE requests SET record=json_set(record, '$.train_tokens', ?) WHERE request_id=?",
                                [(n, request_id) for request_id, n in counts.items()])

    def dropped_entities(self) -> int:
        """Entity names the entity answers gave that were dropped (junk, debris, or not in the document)."""
        (n,) = self.db.execute("SELECT SUM(json_array_length(record, '$.dropped_entities')) FROM requests "
                               "WHERE kind='entities' AND status='done'").fetchone()
        return int(n or 0)

    def errors(self, n: int) -> list[tuple[str, int]]:
        """The `n` commonest errors of failed requests, with their counts."""
        rows = self.db.execute("SELECT error, COUNT(*) FROM requests WHERE status='failed' GROUP BY error "
                               "ORDER BY 2 DESC, 1 LIMIT ?", (n,))
        return [(error, int(count)) for error, count in rows]

    def by_model(self) -> dict[str, int]:
        """{model: records done}"""
        rows = self.db.execute("SELECT json_extract(record, '$.model'), COUNT(*) FROM requests "
                               "WHERE status='done' GROUP BY 1")
        return {model: int(n) for model, n in rows}

    def tokens(self) -> tuple[int, int, int]:
        """(input, output, cached input) tokens of every answer so far."""
        row = self.db.execute("SELECT SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens) "
                              "FROM requests").fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def cost(self) -> float:
        """USD spent on the requests done, from the price table in force when each was answered."""
        return float(self.db.execute("SELECT SUM(cost) FROM requests").fetchone()[0] or 0.0)

    def close(self) -> None:
        self.db.close()

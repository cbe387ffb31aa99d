"""The owner's log of requests: when, which mode, which memories (ids and scores), how long,
which backend. No message text is stored, and nothing leaves the machine.

Retention: rows older than `keep_days` and all but the newest `keep_rows` are deleted when the
log opens and every PRUNE_EVERY writes after, so the file stops growing."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin.private import private_dir, touch_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,            -- UTC, ISO 8601
    route TEXT NOT NULL,
    mode TEXT,                     -- twin | writer
    status INTEGER NOT NULL,
    backend TEXT,
    stream INTEGER NOT NULL DEFAULT 0,
    memory_ids TEXT NOT NULL DEFAULT '[]',     -- JSON list, in prompt order
    memory_scores TEXT NOT NULL DEFAULT '[]',  -- JSON list, same order
    retrieval_ms REAL,
    prompt_ms REAL,
    backend_ms REAL,
    latency_ms REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS requests_time ON requests (time);
"""


@dataclass
class RequestRecord:
    route: str
    status: int = 200
    mode: str | None = None
    backend: str | None = None
    stream: bool = False
    memory_ids: list[str] = field(default_factory=list)
    memory_scores: list[float] = field(default_factory=list)
    retrieval_ms: float | None = None
    prompt_ms: float | None = None
    backend_ms: float | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


PRUNE_EVERY = 500  # writes between prunes: a delete per request would cost more than it saves


class RequestLog:
    def __init__(self, path: Path, *, keep_days: float | None = None, keep_rows: int | None = None):
        private_dir(path.parent)
        touch_private(path)  # owner-only from the start
        self.path = path
        self.keep_days, self.keep_rows = keep_days, keep_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._writes = 0
        self.prune()

    def prune(self, now: datetime | None = None) -> int:
        """Delete what retention no longer keeps; returns how many rows went."""
        deleted = 0
        with self._lock:
            if self.keep_days is not None:
                cutoff = (now or datetime.now(UTC)) - timedelta(days=self.keep_days)
                # ISO 8601 UTC strings of one format sort as the times they name
                deleted += self._db.execute("DELETE FROM requests WHERE time < ?",
                                            (cutoff.isoformat(timespec="milliseconds"),)).rowcount
            if self.keep_rows is not None:
                deleted += self._db.execute(
                    "DELETE FROM requests WHERE id <= (SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (self.keep_rows,)).rowcount
        return deleted

    def write(self, rec: RequestRecord) -> None:
        row = (
            datetime.now(UTC).isoformat(timespec="milliseconds"), rec.route, rec.mode, rec.status, rec.backend,
            int(rec.stream), json.dumps(rec.memory_ids), json.dumps([round(s, 6) for s in rec.memory_scores]),
            rec.retrieval_ms, rec.prompt_ms, rec.backend_ms, rec.latency_ms, rec.prompt_tokens,
            rec.completion_tokens, rec.error,
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO requests (time, route, mode, status, backend, stream, memory_ids, memory_scores,"
                " retrieval_ms, prompt_ms, backend_ms, latency_ms, prompt_tokens, completion_tokens, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            self._writes += 1
            due = self._writes % PRUNE_EVERY == 0
        if due:
            self.prune()

    def recent(self, limit: int = 50) -> list[dict]:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,))
            names = [c[0] for c in cursor.description]
            rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        for row in rows:
            row["memory_ids"] = json.loads(row["memory_ids"])
            row["memory_scores"] = json.loads(row["memory_scores"])
        return rows

    def close(self) -> None:
        with self._lock:
            self._db.close()

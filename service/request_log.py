"""The owner's log of requests: when, which mode, which memories (ids and scores), how long,
which backend. No message text is stored, and nothing leaves the machine."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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


class RequestLog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

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

"""The corpus: normalised messages and documents in one SQLite file (WAL).

Each input file goes in inside one transaction, so a crash or a bad file never leaves half a
file behind and a rerun finishes the job. Record ids come from content, so inserting the same
records again changes nothing (`INSERT OR IGNORE`). Later stages read records back in
conversation/time order through `messages()` and `documents()`.
"""

from __future__ import annotations

import hashlib
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from twin.errors import StoreError
from twin.private import private_dir, touch_private
from twin.records import ChatKind, Document, DocumentKind, Message, MessageKind, message_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (   -- rowid table: rows append in order, only the id index is random
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    conversation_name TEXT NOT NULL,
    chat_kind TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    is_owner INTEGER NOT NULL,
    ts REAL NOT NULL,            -- epoch seconds, for ordering and ranges
    time TEXT NOT NULL,          -- ISO 8601 with the original offset
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    reply_to TEXT
);
CREATE INDEX IF NOT EXISTS messages_conv_ts ON messages (conversation_id, ts);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    date TEXT,
    url TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    ingested_at TEXT NOT NULL DEFAULT (datetime('now')),
    messages INTEGER NOT NULL,
    documents INTEGER NOT NULL,
    PRIMARY KEY (path, sha256)
);
CREATE TABLE IF NOT EXISTS notes (      -- what the owner typed (POST /v1/memories): the corpus is its
    id TEXT PRIMARY KEY,                -- only durable home, so `twin memory index --rebuild` keeps it
    text TEXT NOT NULL,                 -- the memory text as indexed ("[date] note: ..."); id = its memory id
    time TEXT NOT NULL,                 -- ISO 8601 with offset
    added_at TEXT NOT NULL DEFAULT (datetime('now'))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones ( -- forgotten: never stored, chunked, indexed or trained on again
    key TEXT PRIMARY KEY,               -- a memory id, or the source_id of a message or document
    kind TEXT NOT NULL,                 -- 'memory' | 'source'
    forgotten_at TEXT NOT NULL DEFAULT (datetime('now'))
) WITHOUT ROWID;
"""
_NOT_FORGOTTEN = "NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.key = source_id)"

_first = operator.itemgetter(0)
_MSG_COLUMNS = (
    "id, source, source_id, conversation_id, conversation_name, chat_kind, sender_id, "
    "sender_name, is_owner, ts, time, text, kind, reply_to"
)
# A forgotten record is not stored again when its export is ingested again (last parameter: source_id).
_INSERT_MESSAGE = (f"INSERT OR IGNORE INTO messages ({_MSG_COLUMNS}) SELECT {', '.join('?' * 14)} "
                   f"WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE key = ?)")
# The same without the tombstone lookup, for a corpus where no message or document was forgotten
# (nearly all of them): the lookup is about a quarter of an insert's cost.
_INSERT_MESSAGE_UNCHECKED = f"INSERT OR IGNORE INTO messages ({_MSG_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_INSERT_DOCUMENT = ("INSERT OR IGNORE INTO documents SELECT ?, ?, ?, ?, ?, ?, ?, ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE key = ?)")


class CorpusStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        private_dir(self.path.parent)
        try:
            touch_private(self.path)  # owner-only from the start
            self.db = sqlite3.connect(self.path, isolation_level=None)  # explicit BEGIN/COMMIT below
            # 16 KiB pages (a new corpus only; an existing one keeps its size): the random id index
            # splits less often, ~8% less CPU per stored message at 300k messages than 4 KiB
            self.db.execute("PRAGMA page_size=16384")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA secure_delete=ON")  # a forgotten record's bytes are zeroed, not left in free pages
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed data survives a process crash
            self.db.execute("PRAGMA cache_size=-131072")  # 128 MiB: random-order id inserts stay in memory
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable corpus database ({exc})") from None

    @classmethod
    def open_existing(cls, path: Path) -> CorpusStore:
        if not Path(path).is_file():
            raise StoreError(f"{path}: no corpus yet; run `twin ingest PATH...` first")
        return cls(path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CorpusStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def add_messages(self, messages: Iterable[Message]) -> int:
        """Insert; returns how many were new. Call inside `transaction()`."""
        return self.add_message_rows(message_row(m) for m in messages)

    def add_documents(self, documents: Iterable[Document]) -> int:
        return self.add_document_rows(document_row(d) for d in documents)

    def add_message_rows(self, rows: Iterable[tuple],
                         scrub_rows: Callable[[Iterable[tuple]], list[tuple]] | None = None) -> int:
        """Insert rows made by `message_row` (possibly in another process); returns how many were new.
        `scrub_rows` (twin.ingest.pipeline.MessageRowScrubber) rewrites them before they are stored.
        The id is derived here, on the storing side, which balances the work of a parse worker."""
        before = self.db.total_changes
        rows = scrub_rows(rows) if scrub_rows is not None else rows
        if self._any_source_forgotten():
            sql, params = _INSERT_MESSAGE, [(message_id(r[1], r[9], r[5], r[10]), *r, r[1]) for r in rows]
        else:
            sql, params = _INSERT_MESSAGE_UNCHECKED, [(message_id(r[1], r[9], r[5], r[10]), *r) for r in rows]
        # In id order, a batch's inserts walk the (random) id index once from left to right
        # instead of jumping across it: ~3 us less per row. Rowids stay larger than any earlier
        # batch's, which is all `texts_added_since` needs.
        params.sort(key=_first)  # stable: of two equal ids in one batch, the first in the file is kept
        self.db.executemany(sql, params)
        return self.db.total_changes - before

    def _any_source_forgotten(self) -> bool:
        # read inside the caller's write transaction: no tombstone can appear before its inserts run
        return self.db.execute("SELECT 1 FROM tombstones WHERE kind = 'source' LIMIT 1").fetchone() is not None

    def add_document_rows(self, rows: Iterable[tuple]) -> int:
        before = self.db.total_changes
        self.db.executemany(_INSERT_DOCUMENT, ((*r, r[2]) for r in rows))
        return self.db.total_changes - before

    def record_file(self, path: Path, sha256: str, fmt: str, messages: int, documents: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, sha256, format, messages, documents) VALUES (?, ?, ?, ?, ?)",
            (str(path), sha256, fmt, messages, documents),
        )

    # -- notes and forgetting --------------------------------------------------------------

    def add_note(self, note_id: str, text: str, time: datetime) -> None:
        """Keep a typed note (committed before it is indexed). Adding it again un-forgets it."""
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO notes (id, text, time) VALUES (?, ?, ?)",
                            (note_id, text, time.isoformat()))
            self.db.execute("DELETE FROM tombstones WHERE key = ?", (note_id,))

    def notes(self) -> list[tuple[str, str, datetime]]:
        """(id, memory text, time) of every note, oldest first."""
        rows = self.db.execute("SELECT id, text, time FROM notes ORDER BY time, id")
        return [(nid, text, datetime.fromisoformat(when)) for nid, text, when in rows]

    def forget(self, memory_id: str, source_ids: Iterable[str] = ()) -> None:
        """Tombstone a memory and the messages/documents it was made from, and erase them here:
        their rows are deleted (zeroed by secure_delete) and the WAL is truncated."""
        source_ids = sorted(set(source_ids))
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO tombstones (key, kind) VALUES (?, 'memory')", (memory_id,))
            self.db.executemany("INSERT OR IGNORE INTO tombstones (key, kind) VALUES (?, 'source')",
                                ((sid,) for sid in source_ids))
            self.db.execute("DELETE FROM notes WHERE id = ?", (memory_id,))
            if source_ids:  # one scan each (source_id has no index: ingest speed matters more)
                marks = ", ".join("?" * len(source_ids))
                self.db.execute(f"DELETE FROM messages WHERE source_id IN ({marks})", source_ids)
                self.db.execute(f"DELETE FROM documents WHERE source_id IN ({marks})", source_ids)
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old page images in the WAL held the text

    def forgotten(self, keys: Iterable[str] | None = None) -> set[str]:
        """Tombstoned keys (all of them, or those among `keys`)."""
        if keys is None:
            return {k for (k,) in self.db.execute("SELECT key FROM tombstones")}
        keys = list(keys)
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            found.update(k for (k,) in self.db.execute(
                f"SELECT key FROM tombstones WHERE key IN ({', '.join('?' * len(part))})", part))
        return found

    # -- reading ---------------------------------------------------------------------------

    def messages(self, conversation_id: str | None = None, start: float | None = None,
                 end: float | None = None) -> Iterator[Message]:
        """All messages ordered by conversation, then time (then source id for ties); with
        `start`/`end` (epoch seconds, inclusive) only those of one conversation in that span."""
        sql = f"SELECT {_MSG_COLUMNS} FROM messages WHERE {_NOT_FORGOTTEN}"
        args: tuple = ()
        if conversation_id is not None:
            sql += " AND conversation_id = ?"
            args = (conversation_id,)
            if start is not None and end is not None:
                sql += " AND ts BETWEEN ? AND ?"
                args += (start, end)
        sql += " ORDER BY conversation_id, ts, source_id"
        for row in self.db.execute(sql, args):
            yield _row_message(row)

    def last_rowid(self) -> int:
        """Where the messages table ends now: rows appended later have larger rowids."""
        return self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM messages").fetchone()[0]

    def texts_added_since(self, rowid: int) -> dict[str, dict[str, float]]:
        """The text messages stored after `last_rowid()` returned `rowid`: conversation -> {id: ts}."""
        added: dict[str, dict[str, float]] = {}
        for conversation_id, message_id, ts, text in self.db.execute(
                "SELECT conversation_id, id, ts, text FROM messages WHERE rowid > ? AND kind = 'text'", (rowid,)):
            if text.strip():  # Message.is_text
                added.setdefault(conversation_id, {})[message_id] = ts
        return added

    def text_run_edge(self, conversation_id: str, ts: float, gap_seconds: float, *, earlier: bool) -> float:
        """From `ts`, walk the conversation's text messages earlier (or later) while each is at
        most `gap_seconds` from the previous one; the time of the last one reached (or `ts`).
        No session crosses it, so sessions are found without reading the whole chat."""
        op, order = ("<", "DESC") if earlier else (">", "ASC")
        edge = ts
        for when, text in self.db.execute(
                f"SELECT ts, text FROM messages WHERE conversation_id = ? AND ts {op} ? AND kind = 'text' "
                f"AND {_NOT_FORGOTTEN} ORDER BY ts {order}", (conversation_id, ts)):
            if not text.strip():
                continue
            if abs(edge - when) > gap_seconds:
                break
            edge = when
        return edge

    def documents(self) -> Iterator[Document]:
        for row in self.db.execute(f"SELECT * FROM documents WHERE {_NOT_FORGOTTEN} ORDER BY source_id"):
            yield Document(
                source=row[1], source_id=row[2], kind=DocumentKind(row[3]), title=row[4], text=row[5],
                date=datetime.fromisoformat(row[6]) if row[6] else None, url=row[7],
            )

    def conversations(self) -> list[tuple[str, str, str]]:
        """(conversation_id, name, chat_kind) of every conversation."""
        return list(self.db.execute(
            "SELECT conversation_id, MAX(conversation_name), MAX(chat_kind) FROM messages GROUP BY conversation_id"
        ))

    def stats(self) -> dict:
        q = self.db.execute
        by_source = dict(q("SELECT source, COUNT(*) FROM messages GROUP BY source").fetchall())
        for source, n in q("SELECT source, COUNT(*) FROM documents GROUP BY source"):
            by_source[source] = by_source.get(source, 0) + n
        return {
            "messages": q("SELECT COUNT(*) FROM messages").fetchone()[0],
            "documents": q("SELECT COUNT(*) FROM documents").fetchone()[0],
            "conversations": q("SELECT COUNT(DISTINCT conversation_id) FROM messages").fetchone()[0],
            "by_source": by_source,
            "by_kind": dict(q("SELECT kind, COUNT(*) FROM messages GROUP BY kind").fetchall()),
            "owner_text_messages": q(
                "SELECT COUNT(*) FROM messages WHERE is_owner = 1 AND kind = 'text'"
            ).fetchone()[0],
            "files": q("SELECT COUNT(*) FROM files").fetchone()[0],
        }

    def content_hash(self) -> str:
        """Digest of every record id: equal corpora have equal hashes, whatever the insert order."""
        digest = hashlib.sha256()
        for (rid,) in self.db.execute("SELECT id FROM messages ORDER BY id"):
            digest.update(rid.encode())
        for (rid,) in self.db.execute("SELECT id FROM documents ORDER BY id"):
            digest.update(rid.encode())
        return digest.hexdigest()


def message_row(m: Message) -> tuple:
    """The stored columns of `m` except its id (see `add_message_rows`), as plain values that pass
    cheaply between processes."""
    # The kinds are StrEnums, i.e. already str: binding them directly skips the slow `.value`.
    return (
        m.source, m.source_id, m.conversation_id, m.conversation_name, str.__str__(m.chat_kind),
        m.sender_id, m.sender_name, int(m.is_owner), m.timestamp.timestamp(), m.timestamp.isoformat(),
        m.text, str.__str__(m.kind), m.reply_to,
    )


def _row_message(row: tuple) -> Message:
    return Message(
        source=row[1], source_id=row[2], conversation_id=row[3], conversation_name=row[4],
        chat_kind=ChatKind(row[5]), sender_id=row[6], sender_name=row[7], is_owner=bool(row[8]),
        timestamp=datetime.fromisoformat(row[10]), text=row[11], kind=MessageKind(row[12]), reply_to=row[13],
    )


def document_row(d: Document) -> tuple:
    return (d.id, d.source, d.source_id, d.kind.value, d.title, d.text, d.date.isoformat() if d.date else None, d.url)

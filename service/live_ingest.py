"""New messages over HTTP (`POST /v1/ingest`): a body in any format `twin ingest` reads goes
through the same pipeline as a file, then the sessions it touched are re-chunked into the
memory store, so the messages are searchable when the call returns.

Detection needs a file, so the body is written to a private temporary file named after
`?name=` (for formats that take the chat's name from the file name, which keeps ids equal to
a CLI ingest of that file) or given a suffix from `?format=` / Content-Type. One ingest runs
at a time: the corpus diff (rows appended since the call began) must see only its own rows,
and its store write must land before the next call's diff."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from twin.config import TwinConfig
from twin.corpus import CorpusStore
from twin.errors import StoreError, UnknownFormatError
from twin.ingest import registry
from twin.ingest.pipeline import ingest_paths
from twin.retrieval.memory import session_changes
from twin.service.errors import APIError
from twin.service.memory import MemoryGateway

_ONE_AT_A_TIME = threading.Lock()

CONTENT_TYPE_SUFFIXES = {
    "application/json": ".json",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/x-jsonlines": ".jsonl",
    "text/csv": ".csv",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/zip": ".zip",
    "application/pdf": ".pdf",
    "application/javascript": ".js",
}
_SAFE_NAME = re.compile(r"[^\w.\- ()\[\]@+,]", re.UNICODE)


@dataclass
class LiveResult:
    format: str
    messages: int
    new: int
    memories_added: int
    memories_removed: int

    def as_dict(self) -> dict:
        return {"messages": self.messages, "new": self.new, "memories_added": self.memories_added,
                "memories_removed": self.memories_removed, "format": self.format}


def body_file_name(body: bytes, fmt: str | None, content_type: str | None, name: str | None) -> str:
    """A file name whose suffix lets detection work as it does on disk."""
    if name:
        base = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(". ")
        if base:
            return base
    return "body" + _suffix(body, fmt, (content_type or "").split(";", 1)[0].strip().lower())


def _suffix(body: bytes, fmt: str | None, content_type: str) -> str:
    if fmt:
        for word, suffix in (("jsonl", ".jsonl"), ("json", ".json"), ("csv", ".csv"), ("txt", ".txt"),
                             ("text", ".txt"), ("x-archive", ".js"), ("slack", ".zip"), ("linkedin", ".csv")):
            if word in fmt:
                return suffix
    if content_type in CONTENT_TYPE_SUFFIXES:
        return CONTENT_TYPE_SUFFIXES[content_type]
    start = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"PK\x03\x04"):
        return ".zip"
    return ".json" if start[:1] in (b"{", b"[") else ".txt"


def ingest_body(config: TwinConfig, memory: MemoryGateway, body: bytes, *, fmt: str | None = None,
                content_type: str | None = None, name: str | None = None) -> LiveResult:
    if not body.strip():
        raise APIError(400, "the request body is empty", code="empty_body")
    if fmt:
        try:
            registry.get_parser(fmt)
        except UnknownFormatError as exc:
            raise APIError(400, exc.reason, code="unknown_format", param="format") from None
    file_name = body_file_name(body, fmt, content_type, name)
    with _ONE_AT_A_TIME:
        memory.count()  # the store must be there before anything is written (else 503, nothing changed)
        with tempfile.TemporaryDirectory(prefix="twin-ingest-") as folder:  # created 0700
            path = Path(folder) / file_name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
            fmt = fmt or _detected(path, file_name)
            with CorpusStore(config.path("corpus")) as corpus:
                since = corpus.last_rowid()
                report = ingest_paths([path], config, corpus, fmt=fmt)[0]
                if not report.ok:  # rolled back by the pipeline: the corpus is as it was
                    message = (report.error or "").replace(str(path), file_name)
                    raise APIError(400, message, code="invalid_export", param="body")
                add, stale = session_changes(corpus, since, config)
        try:  # under the lock too: a second ingest's diff must not race this one's store write
            added, removed = memory.update_memories(add, stale)
        except StoreError as exc:  # the corpus has them; `twin memory index` catches the store up
            raise StoreError(f"{report.new} new messages are in the corpus but the memory store was not "
                             f"updated ({exc}); run `twin memory index`") from None
    return LiveResult(report.format, report.messages, report.new, added, removed)


def _detected(path: Path, file_name: str) -> str:
    """The format of the body; the catch-all `documents` only when asked for by name, since a chat
    export that no parser recognises would otherwise be stored as an article."""
    try:
        parser = registry.detect(path)
    except UnknownFormatError as exc:
        raise APIError(400, f"{file_name}: {exc.reason}; name one with ?format=NAME "
                            "(`twin ingest --list-formats`)", code="unknown_format", param="format") from None
    if parser.name == "documents":
        raise APIError(400, f"{file_name}: not recognised as a chat export; to store it as an article "
                            "pass ?format=documents", code="unknown_format", param="format")
    return parser.name

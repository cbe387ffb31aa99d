"""The service's handle on the twin's memory store, opened lazily and reopened after failures.

The store may be missing (not indexed yet), locked by another process, damaged, built with
another embedder, or a Qdrant server may be down, when the service starts or later; every call
then raises a typed error (a 503 with the reason) and a later call tries again, so the service
starts anyway and recovers without a restart once the store is back. Before each call it checks
that the embedded store's folder is still the one it opened: one deleted or rebuilt under it
gives a 503 (and /ready 503) instead of answers written to files nobody will read."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from twin.config import TwinConfig
from twin.errors import StoreError, TwinError, UnavailableError
from twin.records import MemoryHit

log = logging.getLogger("twin.service")
RECENT_QUERIES = 16


def _reported(exc: TwinError) -> TwinError:
    """The error a caller sees: outages say the store is unavailable; store problems (locked,
    damaged, another embedder, removed) keep their type and message."""
    if isinstance(exc, UnavailableError) and not str(exc).startswith("memory store unavailable"):
        return UnavailableError(f"memory store unavailable: {exc}")
    return exc


def _open_index(config: TwinConfig):
    from twin.retrieval.memory import MemoryIndex

    return MemoryIndex.open(config)


class MemoryGateway:
    def __init__(self, config: TwinConfig, opener: Callable[[TwinConfig], Any] = _open_index):
        self.config = config
        self._opener = opener
        self._index = None
        self._lock = threading.RLock()  # the embedded engine is one shard; calls take turns
        # Recent questions' vectors: the writer mode searches twice per request (posts first,
        # then everything) with the same question; config fixes the embedder, so they stay valid.
        self._vectors: dict[str, Any] = {}
        self.last_error: str | None = None

    def _get(self):
        if self._index is None:
            try:
                self._index = self._opener(self.config)
            except (StoreError, UnavailableError) as exc:
                self.last_error = str(exc)
                raise _reported(exc) from None
            self.last_error = None
        return self._index

    def _call(self, method: str, *args, **kwargs):
        with self._lock:
            index = self._get()
            try:
                index.check_alive()
                return getattr(index, method)(*args, **kwargs)
            except (StoreError, UnavailableError) as exc:
                self.last_error = str(exc)
                self._drop(index)
                raise _reported(exc) from None

    def _drop(self, index) -> None:
        """Forget a client that failed so the next call reconnects."""
        self._index = None
        try:
            index.close()
        except Exception as exc:  # closing a dead connection may fail too; that changes nothing
            log.warning("closing the failed memory store raised %s: %s", type(exc).__name__, exc)

    def search(self, query: str, k: int, **filters) -> list[MemoryHit]:
        # Embedding runs outside the lock: it is the slow part, the embedder is stateless, and
        # holding the store for it would make every other request (and /ready) wait.
        with self._lock:
            index = self._get()
            vector = self._vectors.get(query)
        if vector is None:
            vector = index.embedder.embed_query(query)
            with self._lock:
                self._vectors[query] = vector
                while len(self._vectors) > RECENT_QUERIES:
                    self._vectors.pop(next(iter(self._vectors)))
        return self._call("search", query, k, query_vector=vector, **filters)

    def warm(self) -> None:
        """Open the store and load the embedder now (`twin serve` runs this in the background at
        start), so the first search or live ingest does not pay the model load."""
        try:
            with self._lock:
                index = self._get()
            index.embedder.warm()
        except TwinError as exc:  # the store is not there yet: the first request will say why
            log.warning("memory store not warmed up: %s", exc)

    def add_note(self, text: str, when: datetime | None = None) -> str:
        return self._call("add_note", text, when=when)

    def update_memories(self, add, remove=()) -> tuple[int, int]:
        """Embed the new memories outside the lock (seconds for a big live ingest, during which
        searches and /ready go on), then store them and drop `remove` under it."""
        new = self._call("not_stored", add)
        with self._lock:
            index = self._get()
        vectors = index.embedder.embed_documents([m.text for m in new])
        return self._call("store_embedded", new, vectors, remove)

    def delete(self, memory_id: str) -> bool:
        return self._call("delete", memory_id)

    def stats(self) -> dict:
        return self._call("stats")

    def count(self) -> int:
        return self._call("count")

    def tokens_per_memory(self) -> float | None:
        """The store's average memory size (sampled once, again after an edit): sets top_k."""
        return self._call("tokens_per_memory")

    def index_hint(self) -> str | None:
        """How to bring an older store's index up to date (`twin serve` logs it), or None."""
        return self._call("index_hint")

    def ready(self) -> tuple[bool, str]:
        """Reachable or not, by counting (polled by health checks: stats() would read every point)."""
        try:
            memories = self.count()
        except TwinError as exc:
            return False, str(exc)
        return True, f"ok, {memories} memories"

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

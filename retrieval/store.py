"""One `MemoryStore` interface, two implementations on Qdrant's engine.

  EdgeStore    qdrant-edge-py EdgeShard in-process on a folder (the default): WAL, HNSW,
               payload indexes, sparse vectors with IDF.
  ClientStore  qdrant-client against a Qdrant server (memory.qdrant_url), or local mode
               (`QdrantClient(path=...)`) which tests use as a stand-in for the server API.

Both keep one dense vector ("dense") and one sparse lexical vector ("lexical", IDF applied by
the engine) per point, the same payload, and the same metadata (embedder id + dimension,
lexical encoder id). Opening with another embedder raises EmbedderMismatchError.
Fusion and time boosting happen above the store (retrieval/search.py), so both behave alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from twin.errors import EmbedderMismatchError, StoreError
from twin.records import Memory
from twin.retrieval.lexical import Sparse

DENSE, LEXICAL = "dense", "lexical"
KEYWORD_FIELDS = ("source", "conversation_id", "participants", "kind", "source_ids")
FLOAT_FIELDS = ("start_ts", "end_ts")


@dataclass(frozen=True)
class StoreMeta:
    """What a store must be opened with; saved when the store is created."""

    embedder: str
    dim: int
    lexical: str

    def as_dict(self) -> dict:
        return {"embedder": self.embedder, "dim": self.dim, "lexical": self.lexical}

    def check(self, stored: dict, where: str) -> None:
        if stored.get("embedder") != self.embedder or int(stored.get("dim", -1)) != self.dim:
            raise EmbedderMismatchError(
                f"{where} was built with embedder {stored.get('embedder')!r} ({stored.get('dim')}-d) but "
                f"memory.embedder gives {self.embedder!r} ({self.dim}-d); set memory.embedder back or "
                f"rebuild with `twin memory index --rebuild`"
            )
        if stored.get("lexical") != self.lexical:
            raise StoreError(
                f"{where} was built with lexical encoder {stored.get('lexical')!r}, not {self.lexical!r}; "
                f"rebuild with `twin memory index --rebuild`"
            )


@dataclass
class MemoryFilter:
    kinds: Sequence[str] | None = None
    sources: Sequence[str] | None = None
    conversation_id: str | None = None
    participants: Sequence[str] | None = None  # any of them took part
    start: datetime | None = None  # memories that overlap [start, end]
    end: datetime | None = None
    ends_before: datetime | None = None  # only memories that end strictly before this (dated ones)
    source_ids: Sequence[str] | None = None  # made from any of these messages/documents

    def is_empty(self) -> bool:
        return not (self.kinds or self.sources or self.conversation_id or self.participants
                    or self.start or self.end or self.ends_before or self.source_ids)


@dataclass
class StoredPoint:
    id: str
    dense: np.ndarray
    sparse: Sparse
    payload: dict = field(default_factory=dict)


@dataclass(slots=True)
class Candidate:
    id: str
    score: float
    payload: dict | None = None


def best_first(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates by score, equal scores by id. Engines return ties in the order their segments
    hold the points, which a compaction changes; lexical feedback reads the top hits, so a tie
    in its reach changed a question's results after `twin memory compact`."""
    candidates.sort(key=lambda c: (-c.score, c.id))
    return candidates


@dataclass(frozen=True)
class ListQuery:
    """One candidate list of a hybrid search: a dense query (`vector`) or a lexical one (`sparse`)."""

    limit: int
    vector: np.ndarray | None = None
    sparse: Sparse | None = None
    flt: MemoryFilter | None = None


def memory_payload(memory: Memory) -> dict:
    return {
        "text": memory.text,
        "source_ids": list(memory.source_ids),
        "kind": memory.kind,
        "conversation_id": memory.conversation_id,
        "participants": list(memory.participants),
        "source": memory.source,
        "start": memory.start.isoformat() if memory.start else None,
        "end": memory.end.isoformat() if memory.end else None,
        # floats for range filters: the same on the edge shard and every qdrant-client mode
        "start_ts": memory.start.timestamp() if memory.start else None,
        "end_ts": (memory.end or memory.start).timestamp() if (memory.end or memory.start) else None,
        "extra": memory.extra,
    }


def payload_memory(payload: dict) -> Memory:
    # positional and with one lookup per field: it runs for every hit (150 per served question)
    get = payload.get
    start, end = get("start"), get("end")
    return Memory(payload["text"], tuple(get("source_ids") or ()),
                  datetime.fromisoformat(start) if start else None, datetime.fromisoformat(end) if end else None,
                  get("kind") or "chat", get("conversation_id"), tuple(get("participants") or ()),
                  get("source"), get("extra") or {})


class MemoryStore(ABC):
    """Points with a dense and a lexical vector and a memory payload."""

    backend: str
    meta: StoreMeta

    @abstractmethod
    def upsert(self, points: Sequence[StoredPoint]) -> None: ...

    @abstractmethod
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids are stored already."""

    def all_ids(self, kinds: Sequence[str] | None = None) -> set[str]:
        return {pid for pid, _ in self.scroll_payloads(kinds, with_payload=False)}

    def ids_from_sources(self, source_ids: Sequence[str]) -> set[str]:
        """Memories made from any of these messages/documents (overlapping chat windows share them)."""
        if not source_ids:
            return set()
        return {pid for pid, _ in self.scroll_payloads(with_payload=False, flt=MemoryFilter(source_ids=source_ids))}

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Delete; returns how many of them existed."""

    @abstractmethod
    def count(self) -> int: ...

    def index_hint(self) -> str | None:
        """A line telling the owner how to bring an older store's index up to date, or None."""
        return None

    @abstractmethod
    def search_dense(self, vector: np.ndarray, limit: int, flt: MemoryFilter | None = None,
                     exact: bool = False) -> list[Candidate]: ...

    @abstractmethod
    def search_sparse(self, sparse: Sparse, limit: int, flt: MemoryFilter | None = None) -> list[Candidate]: ...

    def search_lists(self, queries: Sequence[ListQuery]) -> list[list[Candidate]]:
        """The results of several searches, in order: one call each here; the embedded store
        runs them as one engine batch (one crossing into the engine, one planning pass)."""
        return [self.search_dense(q.vector, q.limit, q.flt) if q.vector is not None
                else self.search_sparse(q.sparse, q.limit, q.flt) for q in queries]

    @abstractmethod
    def payloads(self, ids: Sequence[str]) -> dict[str, dict]: ...

    def lexical_terms(self, ids: Sequence[str]) -> dict[str, Sequence[int]]:
        """The lexical term indexes stored for each point (for query-term coverage in fusion);
        {} where the engine cannot return them cheaply, and fusion then weighs lexical hits as ranked."""
        return {}

    @abstractmethod
    def scroll_payloads(self, kinds: Sequence[str] | None = None, with_payload: bool = True,
                        flt: MemoryFilter | None = None) -> Iterable[tuple[str, dict]]: ...

    def optimize(self) -> None:
        """Build indexes after bulk upserts (HNSW); a no-op where the engine does it itself."""

    def erase(self, ids: Sequence[str]) -> int:
        """Delete, then compact so the deleted text is gone from disk; returns how many existed."""
        removed = self.delete(ids)
        self.compact()
        return removed

    def compact(self) -> None:
        """Rewrite storage so deleted points' bytes are gone from disk (call `optimize()` after it
        to rebuild search indexes). The embedded shard does it (see edge_store); a Qdrant server
        vacuums its own segments, so this is a no-op there."""

    def check_alive(self) -> None:
        """Raise StoreError if the store's files were removed or replaced under this process."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

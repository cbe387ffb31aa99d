"""qdrant-client backend: a Qdrant server (memory.qdrant_url) or local mode on a folder.

Local mode (`QdrantClient(path=...)`) scores every vector in Python, so it is a test double
for the server API (the contract tests run on it), not an embedded default. The embedder id and
dimension live in the collection's metadata, so any client of the server sees them.
"""

from __future__ import annotations

import functools
import inspect

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from twin.errors import StoreError, StoreLockedError, UnavailableError
from twin.retrieval.lexical import Sparse
from twin.retrieval.store import (
    DENSE, FLOAT_FIELDS, KEYWORD_FIELDS, LEXICAL, Candidate, ListQuery, MemoryFilter, MemoryStore, StoredPoint,
    StoreMeta, best_first,
)


def client_filter(flt: MemoryFilter | None):
    if flt is None or flt.is_empty():
        return None
    from qdrant_client import models as m

    must = []
    if flt.kinds:
        must.append(m.FieldCondition(key="kind", match=m.MatchAny(any=list(flt.kinds))))
    if flt.sources:
        must.append(m.FieldCondition(key="source", match=m.MatchAny(any=list(flt.sources))))
    if flt.conversation_id:
        must.append(m.FieldCondition(key="conversation_id", match=m.MatchValue(value=flt.conversation_id)))
    if flt.participants:
        must.append(m.FieldCondition(key="participants", match=m.MatchAny(any=list(flt.participants))))
    if flt.source_ids:
        must.append(m.FieldCondition(key="source_ids", match=m.MatchAny(any=list(flt.source_ids))))
    if flt.end is not None:
        must.append(m.FieldCondition(key="start_ts", range=m.Range(lte=flt.end.timestamp())))
    if flt.start is not None:
        must.append(m.FieldCondition(key="end_ts", range=m.Range(gte=flt.start.timestamp())))
    if flt.ends_before is not None:  # an undated memory has no end_ts and never matches
        must.append(m.FieldCondition(key="end_ts", range=m.Range(lt=flt.ends_before.timestamp())))
    return m.Filter(must=must)


def _candidates(points) -> list[Candidate]:
    return best_first([Candidate(str(p.id), float(p.score)) for p in points])


def unavailable_from(exc: Exception, where: str) -> UnavailableError | None:
    """The UnavailableError a transport failure means (server down, timed out, restarting), or None
    for anything else, which must propagate as it is."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, (httpx.TransportError, ResponseHandlingException, ConnectionError, TimeoutError)):
        return UnavailableError(f"Qdrant at {where} is not reachable ({type(exc).__name__}: {exc})")
    if isinstance(exc, UnexpectedResponse) and exc.status_code in (502, 503, 504):
        return UnavailableError(f"Qdrant at {where} answered {exc.status_code}; try again shortly")
    return None


def _server_call(method):
    """Turn transport failures of a live server into UnavailableError, so the service answers 503
    and recovers when Qdrant comes back, instead of failing with a 500."""

    def translate(self, exc: Exception) -> Exception:
        translated = unavailable_from(exc, self._where) if self.backend == "server" else None
        return exc if translated is None else translated

    if inspect.isgeneratorfunction(method):  # scrolling talks to the server while it iterates
        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            try:
                yield from method(self, *args, **kwargs)
            except Exception as exc:
                error = translate(self, exc)
                if error is exc:
                    raise
                raise error from exc

        return generator

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            error = translate(self, exc)
            if error is exc:
                raise
            raise error from exc

    return wrapper


class ClientStore(MemoryStore):
    def __init__(self, meta: StoreMeta, collection: str, *, url: str | None = None, api_key: str | None = None,
                 path: Path | None = None, create: bool = False):
        from qdrant_client import QdrantClient

        self.meta, self.collection = meta, collection
        self.backend = "server" if url else "local"
        where = url or str(path)
        self._where = f"{where} collection {collection!r}"
        try:
            if url:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=10)
            else:  # local mode: on a folder, or in memory when no path is given (benchmarks)
                self.client = QdrantClient(path=str(path)) if path else QdrantClient(location=":memory:")
            exists = self.client.collection_exists(collection)
        except Exception as exc:  # httpx/grpc errors differ by transport; all mean "not reachable"
            if url:
                raise UnavailableError(f"Qdrant at {url} is not reachable ({type(exc).__name__}: {exc})") from None
            if "already accessed" in str(exc):  # qdrant-client's own folder lock (local mode)
                raise StoreLockedError(f"{path}: the memory store is in use by another process ({exc})") from None
            raise StoreError(f"{path}: cannot open Qdrant local storage ({exc})") from None
        if exists:
            stored = self.client.get_collection(collection).config.metadata or {}
            meta.check(stored, self._where)
        elif create:
            self._create()
        else:
            raise StoreError(f"{self._where}: no memories indexed yet; run `twin memory index` first")

    def _create(self) -> None:
        from qdrant_client import models as m

        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: m.VectorParams(size=self.meta.dim, distance=m.Distance.COSINE)},
            sparse_vectors_config={LEXICAL: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            metadata={"kind": "twin-memory", **self.meta.as_dict()},
        )
        if self.backend == "local":
            return  # local mode scans everything; payload indexes are a server feature
        for name in KEYWORD_FIELDS:
            self.client.create_payload_index(self.collection, name, m.PayloadSchemaType.KEYWORD)
        for name in FLOAT_FIELDS:
            self.client.create_payload_index(self.collection, name, m.PayloadSchemaType.FLOAT)

    @_server_call
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models as m

        if not points:
            return
        native = [
            m.PointStruct(id=p.id, payload=p.payload, vector={
                DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
                LEXICAL: m.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
            })
            for p in points
        ]
        self.client.upsert(self.collection, native, wait=True)

    @_server_call
    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self.client.retrieve(self.collection, list(ids), with_payload=False)}

    @_server_call
    def scroll_payloads(self, kinds: Sequence[str] | None = None, with_payload: bool = True,
                        flt: MemoryFilter | None = None) -> Iterable[tuple[str, dict]]:
        offset = None
        flt = client_filter(MemoryFilter(kinds=kinds) if kinds else flt)
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=1000, offset=offset,
                                                 with_payload=with_payload, with_vectors=False)
            for record in records:
                yield str(record.id), record.payload or {}
            if offset is None:
                return

    @_server_call
    def delete(self, ids: Sequence[str]) -> int:
        from qdrant_client import models as m

        found = self.existing(ids)
        if found:
            self.client.delete(self.collection, m.PointIdsList(points=list(found)), wait=True)
        return len(found)

    @_server_call
    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    @_server_call
    def search_dense(self, vector: np.ndarray, limit: int, flt: MemoryFilter | None = None,
                     exact: bool = False) -> list[Candidate]:
        from qdrant_client import models as m

        result = self.client.query_points(
            self.collection, query=np.asarray(vector, dtype=np.float32).tolist(), using=DENSE, limit=limit,
            query_filter=client_filter(flt), with_payload=False,
            search_params=m.SearchParams(exact=True) if exact and self.backend == "server" else None,
        )
        return _candidates(result.points)

    @_server_call
    def search_sparse(self, sparse: Sparse, limit: int, flt: MemoryFilter | None = None) -> list[Candidate]:
        from qdrant_client import models as m

        if not sparse:
            return []
        result = self.client.query_points(
            self.collection, query=m.SparseVector(indices=sparse.indices, values=sparse.values), using=LEXICAL,
            limit=limit, query_filter=client_filter(flt), with_payload=False,
        )
        return _candidates(result.points)

    @_server_call
    def search_lists(self, queries: Sequence[ListQuery]) -> list[list[Candidate]]:
        """All lists in one request (one round trip to the server instead of two to four)."""
        from qdrant_client import models as m

        requests, slots = [], []
        for slot, q in enumerate(queries):
            if q.vector is not None:
                query, using = np.asarray(q.vector, dtype=np.float32).tolist(), DENSE
            elif q.sparse:
                query, using = m.SparseVector(indices=q.sparse.indices, values=q.sparse.values), LEXICAL
            else:
                continue  # an empty lexical query matches nothing
            requests.append(m.QueryRequest(query=query, using=using, limit=q.limit, filter=client_filter(q.flt),
                                           with_payload=False))
            slots.append(slot)
        results: list[list[Candidate]] = [[] for _ in queries]
        if requests:
            for slot, response in zip(slots, self.client.query_batch_points(self.collection, requests), strict=True):
                results[slot] = _candidates(response.points)
        return results

    @_server_call
    def payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        if not ids:
            return {}
        return {str(r.id): r.payload or {} for r in self.client.retrieve(self.collection, list(ids), with_payload=True)}

    def lexical_terms(self, ids: Sequence[str]) -> dict[str, Sequence[int]]:
        if not ids:
            return {}
        points = self.client.retrieve(self.collection, list(ids), with_payload=False, with_vectors=[LEXICAL])
        return {str(r.id): r.vector[LEXICAL].indices for r in points
                if isinstance(r.vector, dict) and LEXICAL in r.vector}

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None

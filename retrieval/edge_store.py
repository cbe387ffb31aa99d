"""The embedded default: a qdrant-edge-py EdgeShard in `<paths.memory>/<shard>`.

`<paths.memory>/manifest.json` records the embedder, the lexical encoder and which shard folder is
live; it is written before the shard is created, so a crash at any point leaves a folder a rerun
can finish. `<paths.memory>/lock` (see twin.store_lock) keeps a second process out while one has
the store open.

Erasing (`compact`): qdrant-edge marks a deleted point but keeps its bytes in the WAL and the
segment files, so the shard is copied point by point into a new folder, the manifest is switched
to it in one atomic rename, and the old folder is removed. Leftover shard folders (a crash mid-
way) are removed the next time the store is opened.
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from twin.errors import StoreCorruptError, StoreError, TwinError
from twin.manifest import MANIFEST, read_manifest, write_manifest
from twin.private import private_tree
from twin.retrieval.lexical import Sparse
from twin.retrieval.store import (
    DENSE, FLOAT_FIELDS, KEYWORD_FIELDS, LEXICAL, Candidate, ListQuery, MemoryFilter, MemoryStore, StoredPoint,
    StoreMeta, best_first,
)
from twin.store_lock import LOCK_FILE, StoreLock

SHARD = "shard"  # the first shard's folder; compaction moves to shard-<random>
COPY_BATCH = 512


def is_engine_error(exc: BaseException) -> bool:
    """qdrant-edge raises bare `Exception` (and pyo3's PanicException, a BaseException) for I/O,
    WAL and segment failures; our own errors and programming errors are other types."""
    return (type(exc) is Exception or type(exc).__name__ == "PanicException"
            or (isinstance(exc, OSError) and not isinstance(exc, TwinError)))


def _engine_call(method):
    """Engine failures on an open shard become StoreError naming the folder (a 503 in the service,
    one line in the CLI) instead of a traceback."""

    def translate(self, exc: BaseException) -> BaseException:
        if not is_engine_error(exc):
            return exc
        return StoreError(f"{self.folder}: the memory shard failed ({str(exc).strip()[:300]}); "
                          f"if this repeats, rebuild it with `twin memory index --rebuild`")

    if getattr(method, "__code__", None) and method.__code__.co_flags & 0x20:  # a generator (scrolling)
        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            try:
                yield from method(self, *args, **kwargs)
            except BaseException as exc:
                error = translate(self, exc)
                if error is exc:
                    raise
                raise error from None

        return generator

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            error = translate(self, exc)
            if error is exc:
                raise
            raise error from None

    return wrapper


def edge_filter(flt: MemoryFilter | None):
    if flt is None or flt.is_empty():
        return None
    from qdrant_edge import FieldCondition, Filter, MatchAny, MatchValue, RangeFloat

    must = []
    if flt.kinds:
        must.append(FieldCondition(key="kind", match=MatchAny(list(flt.kinds))))
    if flt.sources:
        must.append(FieldCondition(key="source", match=MatchAny(list(flt.sources))))
    if flt.conversation_id:
        must.append(FieldCondition(key="conversation_id", match=MatchValue(flt.conversation_id)))
    if flt.participants:
        must.append(FieldCondition(key="participants", match=MatchAny(list(flt.participants))))
    if flt.source_ids:
        must.append(FieldCondition(key="source_ids", match=MatchAny(list(flt.source_ids))))
    # overlap of [start_ts, end_ts] with [start, end]
    if flt.end is not None:
        must.append(FieldCondition(key="start_ts", range=RangeFloat(lte=flt.end.timestamp())))
    if flt.start is not None:
        must.append(FieldCondition(key="end_ts", range=RangeFloat(gte=flt.start.timestamp())))
    if flt.ends_before is not None:  # an undated memory has no end_ts and never matches
        must.append(FieldCondition(key="end_ts", range=RangeFloat(lt=flt.ends_before.timestamp())))
    return Filter(must=must)


def dense_params(native_filter, limit: int):
    """Search parameters for a dense query: ACORN with a beam twice the limit when it is filtered.

    The graph has no per-payload links (payload_m=0 in EdgeStore._config), so a filter that keeps a
    mid-sized share of the memories (a chat, a year) cuts most paths through it: under a filter
    keeping 10% of 1M memories, a top-153 search found 7% of the exact answer. ACORN also walks
    neighbours' neighbours: 84% (80% for one chat of seven), and 99% (90%) with the wider beam, at
    10-17 ms instead of 2-4 (at 100k: 96-97% in 8-10 ms; measured with the bench's stores, closing
    note of issue 19). Small filters are scanned exactly by the engine, and wide ones (over 40% of
    the points, ACORN's default limit) search the graph as it is."""
    if native_filter is None:
        return None
    from qdrant_edge import AcornSearchParams, SearchParams

    return SearchParams(hnsw_ef=2 * limit, acorn=AcornSearchParams(enable=True))


class PointIdText:
    """The engine returns each hit's id as a new uuid.UUID; writing them all as strings (the lists,
    payloads and lexical terms of a served search: ~600 at top_k 153) took ~0.9 ms at 100k memories.
    This remembers the text of ids seen lately, keyed by the UUID's integer (a slot read; hashing a
    UUID object runs Python code). Bounded: cleared when full, so a long-running service over a
    1M-memory store holds at most `limit` entries."""

    def __init__(self, limit: int = 1 << 17):
        self.limit = limit
        self._text: dict[int, str] = {}

    def __call__(self, point_id) -> str:
        key = point_id.int
        text = self._text.get(key)
        if text is None:
            if len(self._text) >= self.limit:
                self._text.clear()
            text = self._text[key] = str(point_id)
        return text


class EdgeStore(MemoryStore):
    backend = "edge"

    def __init__(self, folder: Path, meta: StoreMeta, *, create: bool = False, hnsw_m: int = 16,
                 hnsw_ef_construct: int = 100, lock: StoreLock | None = None, lock_wait: float = 2.0):
        self.folder, self.meta = Path(folder), meta
        self._hnsw = (hnsw_m, hnsw_ef_construct)
        self.shard = None
        self._id_text = PointIdText()
        if not create and not (self.folder / MANIFEST).is_file():  # before the lock: create nothing
            raise StoreError(f"{self.folder}: no memories indexed yet; run `twin memory index` first")
        self._owns_lock = lock is None
        self.lock = lock or StoreLock(self.folder, wait=lock_wait)
        try:
            self._open(create)
        except BaseException:
            self._release()
            raise

    def _open(self, create: bool) -> None:
        from qdrant_edge import EdgeShard

        manifest = self.folder / MANIFEST
        if manifest.is_file():
            stored = read_manifest(self.folder)
            self.meta.check(stored, str(self.folder))
            self.shard_name = stored.get("shard", SHARD)
        else:
            first = self.folder / SHARD
            if first.exists() and any(first.iterdir()):
                raise StoreError(f"{first} holds data but {manifest} is missing; "
                                 f"delete {self.folder} and rebuild with `twin memory index`")
            self.shard_name = SHARD
            write_manifest(self.folder, self._manifest())
        self._remove_stale_shards()
        shard_dir = self.folder / self.shard_name
        try:
            if (shard_dir / "edge_config.json").is_file():
                self.shard = EdgeShard.load(str(shard_dir))
            else:
                self.shard = EdgeShard.create(str(shard_dir), self._config(*self._hnsw))
                self._create_indexes(self.shard)
        except BaseException as exc:
            if not is_engine_error(exc):
                raise
            raise StoreCorruptError(f"{shard_dir}: cannot open the memory shard ({str(exc).strip()[:300]}); "
                                    f"rebuild it with `twin memory index --rebuild`") from None
        if manifest.is_file() and read_manifest(self.folder).get("erase_pending"):
            self.compact()
        private_tree(self.folder)

    def _manifest(self) -> dict:
        return {"kind": "twin-memory", "backend": "edge", **self.meta.as_dict(), "shard": self.shard_name}

    def _remove_stale_shards(self) -> None:
        """Shard folders the manifest does not name: a compaction's old shard (holding erased
        text) or a half-built new one, left by a crash."""
        for child in self.folder.iterdir():
            if child.is_dir() and child.name.startswith(SHARD) and child.name != self.shard_name:
                shutil.rmtree(child)

    def check_alive(self) -> None:
        self.lock.check()
        if not (self.folder / MANIFEST).is_file() or not (self.folder / self.shard_name).is_dir():
            raise StoreError(f"{self.folder}: the memory store's files were removed while this process had "
                             f"it open; run `twin memory index` to rebuild it")

    def _config(self, m: int, ef_construct: int):
        from qdrant_edge import (
            Distance, EdgeConfig, EdgeSparseVectorParams, EdgeVectorParams, HnswIndexConfig, Memory, Modifier,
        )

        # Measured at 100k memories (bench/memory_latency.py and the closing note of issue 19):
        # - payload_m=0: no extra graph links per payload value. Qdrant adds them to the same graph,
        #   and a value most memories share (kind "chat", the owner among `participants`) duplicates
        #   it: with them a top-154 search took 3.1 ms instead of 0.8 and the index built 6.5x
        #   slower. Filtered searches use ACORN instead (dense_params).
        # - payload_memory Cached: payloads are memory-mapped and stay in the page cache; fetching
        #   the 154 a search returns took 2.1 ms instead of 3.8 (the default reads the files each time).
        return EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=self.meta.dim, distance=Distance.Cosine)},
            sparse_vectors={LEXICAL: EdgeSparseVectorParams(modifier=Modifier.Idf)},
            hnsw_config=HnswIndexConfig(m=m, ef_construct=ef_construct, full_scan_threshold=10_000, payload_m=0),
            payload_memory=Memory.Cached,
        )

    @staticmethod
    def _create_indexes(shard) -> None:
        from qdrant_edge import PayloadSchemaType, UpdateOperation

        for name in KEYWORD_FIELDS:
            shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))
        for name in FLOAT_FIELDS:
            shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Float))

    @_engine_call
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_edge import Point, SparseVector, UpdateOperation

        if not points:
            return
        native = [
            Point(p.id, {DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
                         LEXICAL: SparseVector(p.sparse.indices, p.sparse.values)}, p.payload)
            for p in points
        ]
        self.shard.update(UpdateOperation.upsert_points(native))

    @_engine_call
    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self.shard.retrieve(list(ids), False, False)}

    @_engine_call
    def scroll_payloads(self, kinds: Sequence[str] | None = None, with_payload: bool = True,
                        flt: MemoryFilter | None = None) -> Iterable[tuple[str, dict]]:
        from qdrant_edge import ScrollRequest

        offset = None
        flt = edge_filter(MemoryFilter(kinds=kinds) if kinds else flt)
        while True:
            records, offset = self.shard.scroll(ScrollRequest(offset=offset, limit=1000, filter=flt,
                                                              with_payload=with_payload, with_vector=False))
            for record in records:
                yield str(record.id), record.payload or {}
            if offset is None:
                return

    @_engine_call
    def delete(self, ids: Sequence[str]) -> int:
        from qdrant_edge import UpdateOperation

        found = self.existing(ids)
        if found:
            self.shard.update(UpdateOperation.delete_points(list(found)))
        return len(found)

    def index_hint(self) -> str | None:
        """A line for a store whose graph was built before payload_m=0 (see _config): its
        searches are ~4x slower on a large store until `twin memory compact` rebuilds it."""
        try:
            config = json.loads((self.folder / self.shard_name / "edge_config.json").read_text())
        except (OSError, ValueError):
            return None  # the engine keeps its config elsewhere in another version: nothing to say
        if (config.get("hnsw_config") or {}).get("payload_m") == 0:
            return None
        return (f"{self.folder}: the memory store's search graph was built with older settings; "
                f"`twin memory compact` rebuilds it (searches are ~4x faster on a large store)")

    @_engine_call
    def count(self) -> int:
        from qdrant_edge import CountRequest

        return self.shard.count(CountRequest(exact=True))

    @_engine_call
    def search_dense(self, vector: np.ndarray, limit: int, flt: MemoryFilter | None = None,
                     exact: bool = False) -> list[Candidate]:
        from qdrant_edge import Query, QueryRequest, SearchParams

        native = edge_filter(flt)
        request = QueryRequest(limit=limit, query=Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using=DENSE),
                               filter=native, with_payload=False,
                               params=SearchParams(exact=True) if exact else dense_params(native, limit))
        return self._candidates(self.shard.query(request))

    @_engine_call
    def search_sparse(self, sparse: Sparse, limit: int, flt: MemoryFilter | None = None) -> list[Candidate]:
        from qdrant_edge import Query, QueryRequest, SparseVector

        if not sparse:
            return []
        request = QueryRequest(limit=limit, query=Query.Nearest(SparseVector(sparse.indices, sparse.values), using=LEXICAL),
                               filter=edge_filter(flt), with_payload=False)
        return self._candidates(self.shard.query(request))

    @_engine_call
    def search_lists(self, queries: Sequence[ListQuery]) -> list[list[Candidate]]:
        from qdrant_edge import Query, QueryBatchRequest, QueryRequest, SparseVector

        filters: dict[int, object] = {}  # the time-restricted pair shares one filter: build it once
        vectors: dict[int, list[float]] = {}  # and the dense pair one vector
        requests, slots = [], []
        for slot, q in enumerate(queries):
            if q.vector is not None:
                key = id(q.vector)
                if key not in vectors:
                    vectors[key] = np.asarray(q.vector, dtype=np.float32).tolist()
                query = Query.Nearest(vectors[key], using=DENSE)
            elif q.sparse:
                query = Query.Nearest(SparseVector(q.sparse.indices, q.sparse.values), using=LEXICAL)
            else:
                continue  # an empty lexical query matches nothing
            if id(q.flt) not in filters:
                filters[id(q.flt)] = edge_filter(q.flt)
            native = filters[id(q.flt)]
            requests.append(QueryRequest(limit=q.limit, query=query, filter=native, with_payload=False,
                                         params=dense_params(native, q.limit) if q.vector is not None else None))
            slots.append(slot)
        results: list[list[Candidate]] = [[] for _ in queries]
        if requests:
            for slot, points in zip(slots, self.shard.query_batch(QueryBatchRequest(requests)), strict=True):
                results[slot] = self._candidates(points)
        return results

    def _candidates(self, points) -> list[Candidate]:
        text = self._id_text
        return best_first([Candidate(text(p.id), float(p.score)) for p in points])

    @_engine_call
    def payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        if not ids:
            return {}
        text = self._id_text
        return {text(r.id): r.payload or {} for r in self.shard.retrieve(list(ids), True, False)}

    @_engine_call
    def lexical_terms(self, ids: Sequence[str]) -> dict[str, Sequence[int]]:
        if not ids:
            return {}
        terms, text = {}, self._id_text
        for point in self.shard.retrieve(list(ids), False, [LEXICAL]):
            vectors = point.vector  # built on each access: read it once
            if vectors and LEXICAL in vectors:
                terms[text(point.id)] = vectors[LEXICAL].indices
        return terms

    @_engine_call
    def optimize(self) -> None:
        self.shard.optimize()

    @_engine_call
    def flush(self) -> None:
        self.shard.flush()

    def erase(self, ids: Sequence[str]) -> int:
        # the manifest says an erase is under way until compaction ends: a crash in between is
        # finished (compacted) the next time the store is opened
        write_manifest(self.folder, {**self._manifest(), "erase_pending": True})
        removed = self.delete(ids)
        self.compact()
        return removed

    @_engine_call
    def compact(self) -> None:
        """Rewrite the shard without deleted points so their text is gone from disk (see the
        module docstring): copy, switch the manifest atomically, remove the old folder. The copy
        is not HNSW-indexed (building the graph costs far more than the copy; searches scan it
        exactly until the next `optimize()`, which `twin memory index` and `twin memory compact` run)."""
        from qdrant_edge import EdgeShard, Point, ScrollRequest, UpdateOperation

        self.check_alive()
        old_dir = self.folder / self.shard_name
        new_name = f"{SHARD}-{uuid.uuid4().hex[:12]}"
        new = EdgeShard.create(str(self.folder / new_name), self._config(*self._hnsw))
        try:
            self._create_indexes(new)
            offset = None
            while True:
                records, offset = self.shard.scroll(ScrollRequest(offset=offset, limit=COPY_BATCH,
                                                                  with_payload=True, with_vector=True))
                if records:
                    new.update(UpdateOperation.upsert_points([Point(r.id, r.vector, r.payload) for r in records]))
                if offset is None:
                    break
            new.flush()
        except BaseException:
            new.close()
            shutil.rmtree(self.folder / new_name, ignore_errors=True)
            raise
        self.shard.close()
        self.shard = new
        self.shard_name = new_name
        write_manifest(self.folder, self._manifest())  # the switch: one rename
        shutil.rmtree(old_dir)
        private_tree(self.folder)

    def close(self) -> None:
        try:
            if self.shard is not None:
                self.shard.flush()
                self.shard.close()
                self.shard = None
                private_tree(self.folder)  # WAL files the engine added while open
        finally:
            self._release()

    def _release(self) -> None:
        if self._owns_lock and self.lock is not None:
            self.lock.release()
            self.lock = None


def stored_notes(folder: Path) -> dict[str, dict]:
    """Note payloads held by the shard in `folder`, read without checking the embedder (a rebuild
    after changing it must still find them). Empty when there is no store yet."""
    from qdrant_edge import EdgeShard, ScrollRequest

    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return {}
    shard_dir = folder / read_manifest(folder).get("shard", SHARD)
    if not (shard_dir / "edge_config.json").is_file():
        return {}
    notes: dict[str, dict] = {}
    try:
        shard = EdgeShard.load(str(shard_dir))
        try:
            offset = None
            while True:
                records, offset = shard.scroll(ScrollRequest(offset=offset, limit=1000, with_payload=True,
                                                             with_vector=False, filter=edge_filter(MemoryFilter(kinds=["note"]))))
                notes.update((str(r.id), r.payload or {}) for r in records)
                if offset is None:
                    return notes
        finally:
            shard.close()
    except BaseException as exc:
        if not is_engine_error(exc):
            raise
        raise StoreCorruptError(f"{shard_dir}: cannot read the memory shard ({str(exc).strip()[:300]})") from None


def clear_store_folder(folder: Path) -> None:
    """Empty a store folder for a rebuild, keeping the lock file the caller holds."""
    for child in Path(folder).iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()

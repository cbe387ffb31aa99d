"""The embedded default: a qdrant-edge-py EdgeShard in `<paths.memory>/shard`.

`<paths.memory>/manifest.json` records the embedder and lexical encoder; it is written before
the shard is created, so a crash at any point leaves a folder a rerun can finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from twin.errors import StoreError
from twin.manifest import MANIFEST, read_manifest, write_manifest
from twin.retrieval.lexical import Sparse
from twin.retrieval.store import (
    DENSE, FLOAT_FIELDS, KEYWORD_FIELDS, LEXICAL, Candidate, MemoryFilter, MemoryStore, StoredPoint, StoreMeta,
)

SHARD = "shard"


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
    # overlap of [start_ts, end_ts] with [start, end]
    if flt.end is not None:
        must.append(FieldCondition(key="start_ts", range=RangeFloat(lte=flt.end.timestamp())))
    if flt.start is not None:
        must.append(FieldCondition(key="end_ts", range=RangeFloat(gte=flt.start.timestamp())))
    if flt.ends_before is not None:  # an undated memory has no end_ts and never matches
        must.append(FieldCondition(key="end_ts", range=RangeFloat(lt=flt.ends_before.timestamp())))
    return Filter(must=must)


class EdgeStore(MemoryStore):
    backend = "edge"

    def __init__(self, folder: Path, meta: StoreMeta, *, create: bool = False, hnsw_m: int = 16,
                 hnsw_ef_construct: int = 100):
        from qdrant_edge import EdgeShard

        self.folder, self.meta = Path(folder), meta
        shard_dir = self.folder / SHARD
        if (self.folder / MANIFEST).is_file():
            meta.check(read_manifest(self.folder), str(self.folder))
        elif create:
            if shard_dir.exists() and any(shard_dir.iterdir()):
                raise StoreError(f"{shard_dir} holds data but {self.folder / MANIFEST} is missing; "
                                 f"delete {self.folder} and rebuild with `twin memory index`")
            write_manifest(self.folder, {"kind": "twin-memory", "backend": "edge", **meta.as_dict()})
        else:
            raise StoreError(f"{self.folder}: no memories indexed yet; run `twin memory index` first")
        try:
            if (shard_dir / "edge_config.json").is_file():
                self.shard = EdgeShard.load(str(shard_dir))
            else:
                self.shard = EdgeShard.create(str(shard_dir), self._config(hnsw_m, hnsw_ef_construct))
                self._create_indexes()
        except (OSError, RuntimeError, ValueError) as exc:
            raise StoreError(f"{shard_dir}: cannot open the memory shard ({exc})") from None

    def _config(self, m: int, ef_construct: int):
        from qdrant_edge import (
            Distance, EdgeConfig, EdgeSparseVectorParams, EdgeVectorParams, HnswIndexConfig, Modifier,
        )

        return EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=self.meta.dim, distance=Distance.Cosine)},
            sparse_vectors={LEXICAL: EdgeSparseVectorParams(modifier=Modifier.Idf)},
            hnsw_config=HnswIndexConfig(m=m, ef_construct=ef_construct, full_scan_threshold=10_000),
        )

    def _create_indexes(self) -> None:
        from qdrant_edge import PayloadSchemaType, UpdateOperation

        for name in KEYWORD_FIELDS:
            self.shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))
        for name in FLOAT_FIELDS:
            self.shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Float))

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

    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self.shard.retrieve(list(ids), False, False)}

    def scroll_payloads(self, kinds: Sequence[str] | None = None, with_payload: bool = True) -> Iterable[tuple[str, dict]]:
        from qdrant_edge import ScrollRequest

        offset = None
        flt = edge_filter(MemoryFilter(kinds=kinds)) if kinds else None
        while True:
            records, offset = self.shard.scroll(ScrollRequest(offset=offset, limit=1000, filter=flt,
                                                              with_payload=with_payload, with_vector=False))
            for record in records:
                yield str(record.id), record.payload or {}
            if offset is None:
                return

    def delete(self, ids: Sequence[str]) -> int:
        from qdrant_edge import UpdateOperation

        found = self.existing(ids)
        if found:
            self.shard.update(UpdateOperation.delete_points(list(found)))
        return len(found)

    def count(self) -> int:
        from qdrant_edge import CountRequest

        return self.shard.count(CountRequest(exact=True))

    def search_dense(self, vector: np.ndarray, limit: int, flt: MemoryFilter | None = None,
                     exact: bool = False) -> list[Candidate]:
        from qdrant_edge import Query, QueryRequest, SearchParams

        request = QueryRequest(limit=limit, query=Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using=DENSE),
                               filter=edge_filter(flt), with_payload=False,
                               params=SearchParams(exact=True) if exact else None)
        return [Candidate(str(p.id), float(p.score)) for p in self.shard.query(request)]

    def search_sparse(self, sparse: Sparse, limit: int, flt: MemoryFilter | None = None) -> list[Candidate]:
        from qdrant_edge import Query, QueryRequest, SparseVector

        if not sparse:
            return []
        request = QueryRequest(limit=limit, query=Query.Nearest(SparseVector(sparse.indices, sparse.values), using=LEXICAL),
                               filter=edge_filter(flt), with_payload=False)
        return [Candidate(str(p.id), float(p.score)) for p in self.shard.query(request)]

    def payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        if not ids:
            return {}
        return {str(r.id): r.payload or {} for r in self.shard.retrieve(list(ids), True, False)}

    def optimize(self) -> None:
        self.shard.optimize()

    def flush(self) -> None:
        self.shard.flush()

    def close(self) -> None:
        if getattr(self, "shard", None) is not None:
            self.shard.flush()
            self.shard.close()
            self.shard = None

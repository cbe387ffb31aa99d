"""The facade the service and the CLI use: open the configured store, search it, add notes,
and build it from the corpus (`index_corpus`, behind `twin memory index`).

Backend by config: memory.qdrant_url set -> qdrant-client against that server; otherwise the
embedded qdrant-edge shard in paths.memory.
"""

from __future__ import annotations

import itertools
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from twin.config import MemoryConfig, TwinConfig
from twin.errors import StoreCorruptError, StoreError
from twin.records import Memory, MemoryHit
from twin.retrieval.chunking import chat_memories, document_memories, estimate_tokens
from twin.retrieval.embedders import Embedder, load_embedder
from twin.retrieval.lexical import LexicalEncoder
from twin.retrieval.search import FusionParams, HybridSearcher, cross_encoder_reranker
from twin.sessions import split_sessions
from twin.retrieval.store import MemoryFilter, MemoryStore, StoredPoint, StoreMeta, memory_payload

INDEX_BATCH = 256  # memories embedded and upserted together; a crash loses at most one batch of work
# Memories read to estimate their average size. Stores list points by id and ids are content
# hashes, so the first ones are a fair sample of the store.
SIZE_SAMPLE = 1000


def fusion_params(cfg: MemoryConfig) -> FusionParams:
    return FusionParams(dense_weight=cfg.dense_weight, sparse_weight=cfg.sparse_weight, rrf_k=cfg.rrf_k,
                        candidates=cfg.candidates, time_mode=cfg.time_mode, time_weight=cfg.time_weight,
                        day_slack=cfg.time_day_slack,
                        lexical_coverage=cfg.lexical_coverage, lexical_feedback=cfg.lexical_feedback,
                        feedback_max_share=cfg.lexical_feedback_max_share)


def open_store(config: TwinConfig, meta: StoreMeta, *, create: bool = False, lock=None) -> MemoryStore:
    cfg = config.memory
    if cfg.qdrant_url:
        from twin.retrieval.client_store import ClientStore

        return ClientStore(meta, cfg.collection, url=cfg.qdrant_url, api_key=cfg.qdrant_api_key, create=create)
    from twin.retrieval.edge_store import EdgeStore

    return EdgeStore(config.path("memory"), meta, create=create, lock=lock)


def store_meta(embedder: Embedder, lexical: LexicalEncoder) -> StoreMeta:
    return StoreMeta(embedder=embedder.id, dim=embedder.dim, lexical=lexical.id)


class MemoryIndex:
    """Search and small edits over one memory store."""

    def __init__(self, store: MemoryStore, embedder: Embedder, lexical: LexicalEncoder,
                 params: FusionParams | None = None, reranker=None, corpus: Path | None = None):
        """`corpus`: where notes and forgets are recorded so `twin memory index` honours them;
        without it (a bare store, as in benchmarks) they live in the store only."""
        self.store, self.embedder, self.lexical, self.corpus = store, embedder, lexical, corpus
        self.searcher = HybridSearcher(store, embedder, lexical, params, reranker)
        self._tokens_per_memory: float | None = None  # sampled once, again after this index changes the store

    @classmethod
    def open(cls, config: TwinConfig) -> MemoryIndex:
        embedder = load_embedder(config.memory.embedder)
        lexical = LexicalEncoder(config.memory.lexical)
        store = open_store(config, store_meta(embedder, lexical))
        reranker = cross_encoder_reranker(config.memory.reranker) if config.memory.reranker else None
        return cls(store, embedder, lexical, fusion_params(config.memory), reranker, corpus=config.path("corpus"))

    def check_alive(self) -> None:
        self.store.check_alive()

    def search(self, query: str, k: int = 8, *, kinds: Sequence[str] | None = None,
               sources: Sequence[str] | None = None, conversation_id: str | None = None,
               participants: Sequence[str] | None = None, start: datetime | None = None,
               end: datetime | None = None, now: datetime | None = None,
               ends_before: datetime | None = None, query_vector=None) -> list[MemoryHit]:
        """`query_vector`: the query already embedded (the service embeds outside its store lock)."""
        flt = MemoryFilter(kinds=kinds, sources=sources, conversation_id=conversation_id,
                           participants=participants, start=start, end=end, ends_before=ends_before)
        return self.searcher.search(query, k, flt, now, query_vector=query_vector)

    def tokens_per_memory(self) -> float | None:
        """The average size of a stored memory (estimated tokens of its text) over up to
        SIZE_SAMPLE of them, None for an empty store: the service sizes how many memories it
        retrieves by it (twin.budget.retrieval_depth)."""
        if self._tokens_per_memory is None:
            texts = [payload.get("text", "") for _, payload in itertools.islice(self.store.scroll_payloads(), SIZE_SAMPLE)]
            self._tokens_per_memory = sum(map(estimate_tokens, texts)) / len(texts) if texts else 0.0
        return self._tokens_per_memory or None

    def add_note(self, text: str, when: datetime | None = None) -> str:
        """A memory the owner types ("I moved to Berlin in March 2021"); returns its id."""
        text = text.strip()
        if not text:
            raise ValueError("a note needs text")
        when = when or datetime.now(UTC).astimezone()
        if when.utcoffset() is None:
            raise ValueError("the note's time needs a timezone")
        memory = note_memory(f"[{when.strftime('%Y-%m-%d')}] note: {text}", when)
        if self.corpus is not None:  # durable first: a rebuild re-indexes it from here
            from twin.corpus import CorpusStore

            with CorpusStore(self.corpus) as corpus:
                corpus.add_note(memory.id, memory.text, when)
        self.update_memories([memory])
        return memory.id

    def update_memories(self, add: Sequence[Memory], remove: Sequence[str] = ()) -> tuple[int, int]:
        """Replace a few memories (the re-chunked sessions of a live ingest): drop `remove`,
        embed and store those of `add` not stored yet. Returns (added, removed)."""
        new = self.not_stored(add)
        return self.store_embedded(new, self.embedder.embed_documents([m.text for m in new]), remove)

    # The three steps of update_memories, for a caller (the service) that embeds without
    # holding its store lock: embedding is the slow part and needs no store.
    def not_stored(self, memories: Sequence[Memory]) -> list[Memory]:
        have = self.store.existing([m.id for m in memories])
        return [m for m in memories if m.id not in have]

    def store_embedded(self, memories: Sequence[Memory], vectors, remove: Sequence[str] = ()) -> tuple[int, int]:
        """Upsert `memories` with their `vectors` (embed_documents of their texts), drop `remove`."""
        removed = self.store.delete(list(remove)) if remove else 0
        if memories:
            self.store.upsert(stored_points(memories, vectors, self.lexical))
        if memories or removed:
            self._tokens_per_memory = None
        return len(memories), removed

    def delete(self, memory_id: str) -> bool:
        """Forget a memory for good: tombstone it and its source messages/documents in the corpus
        (so no re-index brings the text back, under this id or a new one), delete every memory
        made from those sources, and compact the store so the text is gone from disk."""
        try:
            uuid.UUID(memory_id)  # the engine rejects anything else as an error, not as "no such memory"
        except ValueError:
            return False
        payload = self.store.payloads([memory_id]).get(memory_id)
        if payload is None and not self._corpus_has_note(memory_id):
            return False
        sources = list((payload or {}).get("source_ids") or ())
        if self.corpus is not None:
            from twin.corpus import CorpusStore

            with CorpusStore(self.corpus) as corpus:
                corpus.forget(memory_id, sources)
        self.store.erase(sorted({memory_id} | self.store.ids_from_sources(sources)))
        self._tokens_per_memory = None
        return True

    def _corpus_has_note(self, memory_id: str) -> bool:
        if self.corpus is None or not Path(self.corpus).is_file():
            return False
        from twin.corpus import CorpusStore

        with CorpusStore(self.corpus) as corpus:
            return any(nid == memory_id for nid, _, _ in corpus.notes())

    def compact(self) -> None:
        """Erase deleted memories' bytes and rebuild the search index (`twin memory compact`)."""
        self.store.compact()
        self.store.optimize()

    def count(self) -> int:
        """How many memories: one cheap call (stats() reads every payload)."""
        return self.store.count()

    def stats(self) -> dict:
        hint = self.index_hint()
        return {**memory_stats(self.store), "embedder": self.embedder.id, "dim": self.embedder.dim,
                "lexical": self.lexical.id, "backend": "edge" if self.store.backend == "edge" else "server",
                **({"index_hint": hint} if hint else {})}

    def index_hint(self) -> str | None:
        return self.store.index_hint()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def note_memory(text: str, when: datetime) -> Memory:
    """A typed note as a memory; its id depends only on the text (which carries the date)."""
    return Memory(text=text, source_ids=(), start=when, end=when, kind="note", source="note")


def memory_stats(store: MemoryStore) -> dict:
    by_kind: dict[str, int] = {}
    messages = tokens = chats = 0
    total_tokens = 0
    for _, payload in store.scroll_payloads():
        kind = payload.get("kind", "chat")
        by_kind[kind] = by_kind.get(kind, 0) + 1
        n_tokens = estimate_tokens(payload.get("text", ""))
        total_tokens += n_tokens
        if kind == "chat":
            chats += 1
            messages += len(payload.get("source_ids") or ())
            tokens += n_tokens
    total = sum(by_kind.values())
    return {
        "memories": total,
        "by_kind": by_kind,
        # per chat memory: recall@k is only comparable between memories of similar size
        "messages_per_memory": round(messages / chats, 3) if chats else 0.0,
        "tokens_per_memory": round(tokens / chats, 1) if chats else (round(total_tokens / total, 1) if total else 0.0),
    }


def stored_points(memories: Sequence[Memory], vectors, lexical: LexicalEncoder) -> list[StoredPoint]:
    return [StoredPoint(m.id, vectors[i], lexical.document(m.text), memory_payload(m)) for i, m in enumerate(memories)]


def corpus_memories(config: TwinConfig) -> list[Memory]:
    """Every memory the corpus gives: chat windows and document sections (forgotten messages and
    documents are left out by the corpus itself), then the owner's notes."""
    from twin.corpus import CorpusStore

    cfg = config.memory
    with CorpusStore.open_existing(config.path("corpus")) as corpus:
        memories = list(chat_memories(corpus.messages(), cfg.chunk_turns, cfg.chunk_overlap, config.sessions.gap_minutes))
        memories.extend(document_memories(corpus.documents(), cfg.doc_chunk_chars))
        memories.extend(note_memory(text, when) for _, text, when in corpus.notes())
        forgotten = corpus.forgotten([m.id for m in memories])
    return [m for m in dedupe(memories) if m.id not in forgotten]


def session_changes(corpus, since_rowid: int, config: TwinConfig) -> tuple[list[Memory], list[str]]:
    """The memories of the sessions that messages stored after `since_rowid` fall in, and the ids
    of the memories those sessions had before them (to drop when no longer produced).

    Only those sessions are read and re-chunked, so a message added to a long chat costs its
    session, not the chat. They come out exactly as `twin memory index` would chunk them, because
    a session is cut at the same gaps whether or not the rest of the chat is there."""
    cfg = config.memory
    gap = timedelta(minutes=config.sessions.gap_minutes)
    # A second of slack: reading one session too many is harmless (only touched ones are
    # re-chunked), stopping inside one because of float rounding would not be.
    reach = gap.total_seconds() + 1.0
    fresh: list[Memory] = []
    before: list[Memory] = []
    for conversation_id, new in corpus.texts_added_since(since_rowid).items():
        start = corpus.text_run_edge(conversation_id, min(new.values()), reach, earlier=True)
        end = corpus.text_run_edge(conversation_id, max(new.values()), reach, earlier=False)
        texts = [m for m in corpus.messages(conversation_id, start, end) if m.is_text]
        touched = [m for session in split_sessions(texts, gap) if any(m.id in new for m in session)
                   for m in session]
        fresh.extend(chat_memories(touched, cfg.chunk_turns, cfg.chunk_overlap, config.sessions.gap_minutes))
        old = [m for m in touched if m.id not in new]
        before.extend(chat_memories(old, cfg.chunk_turns, cfg.chunk_overlap, config.sessions.gap_minutes))
    fresh = dedupe(fresh)
    forgotten = corpus.forgotten([m.id for m in fresh])  # a forgotten memory never comes back
    fresh = [m for m in fresh if m.id not in forgotten]
    keep = {m.id for m in fresh}
    return fresh, sorted({m.id for m in before} - keep)


def dedupe(memories: Iterable[Memory]) -> list[Memory]:
    seen: dict[str, Memory] = {}
    for memory in memories:
        seen.setdefault(memory.id, memory)
    return list(seen.values())


def build_store(store: MemoryStore, embedder: Embedder, lexical: LexicalEncoder, memories: Sequence[Memory],
                *, batch: int = INDEX_BATCH, progress: bool = False, on_batch=None,
                forgotten: Iterable[str] = ()) -> dict:
    """Make the store hold exactly `memories` (plus notes not in `memories`, unless `forgotten`):
    embed only new ids, upsert in batches, drop memories the corpus no longer produces, then
    build the HNSW index. Removing anything compacts the store (the removed text leaves the disk)."""
    started = time.perf_counter()
    wanted = {m.id for m in memories}
    have = store.all_ids()
    todo = [m for m in memories if m.id not in have]
    notes = store.all_ids(kinds=["note"]) - set(forgotten)
    stale = sorted(have - wanted - notes)
    bar = _progress(len(todo), "embedding memories") if progress else None
    added = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        vectors = embedder.embed_documents([m.text for m in chunk])
        store.upsert(stored_points(chunk, vectors, lexical))
        added += len(chunk)
        if bar:
            bar(len(chunk))
        if on_batch:
            on_batch(added)
    if bar:
        bar(0, done=True)
    removed = store.delete(stale) if stale else 0
    if removed:
        if progress:
            print(f"compacting the store over {store.count()} memories (erasing {removed} removed)...",
                  file=sys.stderr, flush=True)
        store.compact()
        store.optimize()
    elif added:
        if progress:
            print(f"building the search index over {store.count()} memories...", file=sys.stderr, flush=True)
        store.optimize()
    return {"memories": store.count(), "new": added, "unchanged": len(memories) - added, "removed": removed,
            "seconds": round(time.perf_counter() - started, 2)}


def index_corpus(config: TwinConfig, progress: bool = True, *, batch: int = INDEX_BATCH, on_batch=None,
                 rebuild: bool = False) -> dict:
    """Build or refresh the memory store from the corpus (`twin memory index`). `rebuild` empties
    the embedded store first, under its lock (refused while another process, e.g. `twin serve`,
    has it open); notes live in the corpus, so they are indexed again."""
    from twin.corpus import CorpusStore

    embedder = load_embedder(config.memory.embedder)
    lexical = LexicalEncoder(config.memory.lexical)
    CorpusStore.open_existing(config.path("corpus")).close()  # "run twin ingest first" before anything else
    lock = None
    if not config.memory.qdrant_url:
        from twin.store_lock import StoreLock

        lock = StoreLock(config.path("memory"))
    try:
        if lock is not None:
            _rescue_store_notes(config, rebuild)
        memories = corpus_memories(config)
        if not memories:
            raise StoreError(f"{config.path('corpus')}: the corpus has no text messages or documents to index")
        with CorpusStore(config.path("corpus")) as corpus:
            forgotten = corpus.forgotten()
        with open_store(config, store_meta(embedder, lexical), create=True, lock=lock) as store:
            report = build_store(store, embedder, lexical, memories, batch=batch, progress=progress,
                                 on_batch=on_batch, forgotten=forgotten)
            report.update(memory_stats(store))
    finally:
        if lock is not None:
            lock.release()
    report.update({"embedder": embedder.id, "backend": "server" if config.memory.qdrant_url else "edge",
                   "location": config.memory.qdrant_url or str(config.path("memory"))})
    return report


def _rescue_store_notes(config: TwinConfig, rebuild: bool) -> None:
    """Copy notes that exist only in the embedded store (written before notes were kept in the
    corpus) into the corpus, then, for a rebuild, empty the store folder. Caller holds the lock."""
    from twin.corpus import CorpusStore
    from twin.retrieval.edge_store import clear_store_folder, stored_notes

    folder = config.path("memory")
    try:
        notes = stored_notes(folder)
    except StoreCorruptError as exc:
        if not rebuild:
            raise
        print(f"warning: notes kept only in the damaged store are lost ({exc})", file=sys.stderr, flush=True)
        notes = {}
    if notes:
        with CorpusStore(config.path("corpus")) as corpus:
            known = {nid for nid, _, _ in corpus.notes()} | corpus.forgotten(list(notes))
            for nid, payload in notes.items():
                if nid not in known and payload.get("start"):
                    memory = note_memory(payload["text"], datetime.fromisoformat(payload["start"]))
                    if memory.id == nid:
                        corpus.add_note(nid, memory.text, memory.start)
    if rebuild:
        clear_store_folder(folder)


def _progress(total: int, label: str):
    """A tiny rich progress bar on stderr: call with a count to advance, done=True to finish."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=None, transient=False)
    task = bar.add_task(label, total=total)
    bar.start()

    def advance(n: int, done: bool = False) -> None:
        bar.advance(task, n)
        if done:
            bar.stop()

    return advance

"""Evidence recall of the memory store: does what the twin retrieves hold the messages that
answer the question?

A question counts at k when its top-k memories together cover ALL its evidence ids ("all"),
and in the softer variant when they cover ANY of them ("any"). Questions without evidence are
left out. Recall is only comparable between memory designs of similar size, so every result
also states messages and tokens per memory, and recall within a token budget: the top memories
taken in rank order while they fit in 1,000 / 2,000 tokens (what the model gets to read).

`locomo_recall` is the one function both `twin eval recall --locomo` and
bench/memory_recall.py call, so they print the same numbers.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from twin.config import MemoryConfig, SessionsConfig, TwinConfig

DEFAULT_KS = (5, 10, 25)
BUDGETS = (1000, 2000)


@dataclass(frozen=True)
class Retrieved:
    """One memory as the scorer sees it: which messages it covers and how long it is."""

    source_ids: tuple[str, ...]
    tokens: int


@dataclass(frozen=True)
class QuestionResult:
    category: str
    evidence: frozenset[str]
    ranked: tuple[Retrieved, ...]


def covered(ranked: Sequence[Retrieved]) -> set[str]:
    out: set[str] = set()
    for memory in ranked:
        out.update(memory.source_ids)
    return out


def within_budget(ranked: Sequence[Retrieved], budget: int) -> list[Retrieved]:
    """The top memories, in rank order, while their tokens fit in `budget`."""
    taken, used = [], 0
    for memory in ranked:
        if used + memory.tokens > budget:
            break
        taken.append(memory)
        used += memory.tokens
    return taken


def score(results: Iterable[QuestionResult], ks: Sequence[int] = DEFAULT_KS,
          budgets: Sequence[int] = BUDGETS) -> dict:
    """Recall per k (all / any evidence), per category and overall, and within token budgets."""
    results = [r for r in results if r.evidence]
    if not results:
        return {"overall": {str(k): None for k in ks}, "questions": 0}

    def rates(subset: list[QuestionResult]) -> tuple[dict, dict, dict, dict]:
        every = {str(k): _mean(r.evidence <= covered(r.ranked[:k]) for r in subset) for k in ks}
        anyof = {str(k): _mean(bool(r.evidence & covered(r.ranked[:k])) for r in subset) for k in ks}
        budget = {str(b): _mean(r.evidence <= covered(within_budget(r.ranked, b)) for r in subset) for b in budgets}
        budget_any = {str(b): _mean(bool(r.evidence & covered(within_budget(r.ranked, b))) for r in subset)
                      for b in budgets}
        return every, anyof, budget, budget_any

    overall, overall_any, budget, budget_any = rates(results)
    by_category, by_category_any, counts = {}, {}, {}
    for category in sorted({r.category for r in results}, key=_category_key):
        subset = [r for r in results if r.category == category]
        by_category[category], by_category_any[category], _, _ = rates(subset)
        counts[category] = len(subset)
    memories_in_budget = {str(b): _mean(len(within_budget(r.ranked, b)) for r in results) for b in budgets}
    return {
        "overall": overall, "overall_any": overall_any, "by_category": by_category,
        "by_category_any": by_category_any, "questions": len(results), "questions_by_category": counts,
        "budget": budget, "budget_any": budget_any, "memories_in_budget": memories_in_budget,
    }


def _mean(values: Iterable[bool | int | float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def _category_key(category: str):
    return (0, int(category)) if category.isdigit() else (1, category)


def _memory_config(config: TwinConfig | MemoryConfig | None) -> MemoryConfig:
    if config is None:
        return MemoryConfig()
    return config.memory if isinstance(config, TwinConfig) else config


_EMBEDDERS: dict = {}


def cached_embedder(name: str):
    """One cached embedder per name per process: tuning grids embed each text once."""
    from twin.retrieval.embedders import CachedEmbedder, load_embedder

    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = CachedEmbedder(load_embedder(name))
    return _EMBEDDERS[name]


@contextmanager
def chat_searcher(messages, cfg: MemoryConfig, embedder, lexical, gap_minutes: float = SessionsConfig().gap_minutes):
    """Chat messages (one LoCoMo conversation, a fixture) indexed into a temporary edge store
    with `cfg`'s memory settings.

    Yields (searcher, memories, now): the hybrid searcher over it, the memories it holds and the
    time of the last memory, used as "now" for relative time phrases in questions."""
    from twin.retrieval.chunking import chat_memories
    from twin.retrieval.edge_store import EdgeStore
    from twin.retrieval.memory import build_store, fusion_params, store_meta
    from twin.retrieval.search import HybridSearcher

    memories = list(chat_memories(messages, cfg.chunk_turns, cfg.chunk_overlap, gap_minutes))
    with tempfile.TemporaryDirectory(prefix="twin-eval-") as folder:
        with EdgeStore(Path(folder), store_meta(embedder, lexical), create=True) as store:
            build_store(store, embedder, lexical, memories)
            yield HybridSearcher(store, embedder, lexical, fusion_params(cfg)), memories, max(m.end for m in memories)


def locomo_recall(path: Path | str, ks: Sequence[int] = DEFAULT_KS, config: TwinConfig | MemoryConfig | None = None,
                  *, samples: Sequence[str] | None = None, progress: bool = False,
                  budgets: Sequence[int] = BUDGETS) -> dict:
    """Index each LoCoMo conversation into its own embedded (edge) store with the memory
    settings of `config`, ask every question, and score evidence recall.

    `samples` restricts to some sample ids (e.g. a tuning split). Returns the JSON shape
    {"overall": {"5": r, ...}, "by_category": {"1": {...}}, "questions": n,
     "messages_per_memory": x, "tokens_per_memory": y, "budget": {"1000": r, "2000": r}, ...}.
    """
    from twin.eval.locomo import load_locomo
    from twin.retrieval.chunking import estimate_tokens
    from twin.retrieval.lexical import LexicalEncoder

    cfg = _memory_config(config)
    gap = config.sessions.gap_minutes if isinstance(config, TwinConfig) else SessionsConfig().gap_minutes
    conversations = load_locomo(path, list(samples) if samples is not None else None)
    embedder = cached_embedder(cfg.embedder)
    lexical = LexicalEncoder(cfg.lexical)
    depth = max(max(ks), 60)  # enough memories to fill the largest budget
    results: list[QuestionResult] = []
    messages = tokens = memories_total = 0
    started = time.perf_counter()
    for conv in conversations:
        asked = [q for q in conv.questions if q.evidence]
        query_vectors = embedder.embed_batch([embedder.query_prefix + q.question for q in asked]) if asked else []
        with chat_searcher(conv.messages, cfg, embedder, lexical, gap) as (searcher, memories, now):
            by_id = {m.id: Retrieved(m.source_ids, estimate_tokens(m.text)) for m in memories}
            memories_total += len(by_id)
            messages += sum(len(r.source_ids) for r in by_id.values())
            tokens += sum(r.tokens for r in by_id.values())
            for q, vector in zip(asked, query_vectors, strict=True):
                ranked = searcher.ranked_ids(q.question, depth, now=now, query_vector=vector)[:depth]
                results.append(QuestionResult(str(q.category), frozenset(q.evidence),
                                              tuple(by_id[pid] for pid, _ in ranked)))
        if progress:
            print(f"{conv.sample_id}: {len(by_id)} memories, {len(asked)} questions "
                  f"({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    report = score(results, ks, budgets)
    report.update({
        "memories": memories_total,
        "messages_per_memory": round(messages / memories_total, 3) if memories_total else 0.0,
        "tokens_per_memory": round(tokens / memories_total, 1) if memories_total else 0.0,
        "embedder": embedder.id, "lexical": lexical.id,
        "samples": [c.sample_id for c in conversations],
        "settings": {**cfg.model_dump(include={"chunk_turns", "chunk_overlap", "dense_weight", "sparse_weight", "rrf_k",
                                               "candidates", "time_mode", "time_weight"}), "session_gap_minutes": gap},
    })
    return report


def index_recall(index, questions: Iterable, ks: Sequence[int] = DEFAULT_KS, budgets: Sequence[int] = BUDGETS,
                 search: Callable | None = None) -> dict:
    """Recall of an open MemoryIndex (the owner's own store) on questions with `.question`,
    `.evidence` (source ids) and `.category`; used by `twin eval recall` on a question set."""
    from twin.retrieval.chunking import estimate_tokens

    depth = max(max(ks), 60)
    results = []
    for q in questions:
        hits = (search or index.search)(q.question, depth)
        ranked = tuple(Retrieved(h.memory.source_ids, estimate_tokens(h.memory.text)) for h in hits)
        results.append(QuestionResult(str(q.category) if q.category is not None else "all",
                                      frozenset(q.evidence), ranked))
    report = score(results, ks, budgets)
    stats = index.stats()
    report.update({k: stats[k] for k in ("memories", "messages_per_memory", "tokens_per_memory", "embedder")})
    return report


def load_chat_fixture(path: Path | str):
    """A small chat persona in JSON (tests/fixtures/retrieval/bilingual_persona.json): returns
    (messages, questions) as core Messages (source id `fixture:<id>`) and objects with
    .question / .evidence / .category."""
    import json
    from datetime import datetime
    from types import SimpleNamespace

    from twin.errors import InputError
    from twin.records import ChatKind, Message, MessageKind

    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    owner, offset = data["owner"], data.get("timezone", "+00:00")
    messages = []
    for c, conv in enumerate(data["conversations"]):
        for i, row in enumerate(conv["messages"]):
            try:
                mid, sender, when, text = row[:4]
                kind = MessageKind(row[4]) if len(row) > 4 else MessageKind.TEXT
                stamp = datetime.fromisoformat(when + offset)
            except (ValueError, TypeError) as exc:
                raise InputError(path, str(exc), field=f"conversations[{c}].messages[{i}]") from None
            messages.append(Message(
                source="fixture", source_id=f"fixture:{mid}", conversation_id=conv["id"],
                conversation_name=conv["name"], chat_kind=ChatKind(conv["kind"]), sender_id=sender,
                sender_name=sender, is_owner=sender == owner, timestamp=stamp, text=text, kind=kind,
            ))
    messages.sort(key=lambda m: (m.conversation_id, m.timestamp, m.source_id))
    questions = [SimpleNamespace(question=q["question"], evidence=tuple(f"fixture:{e}" for e in q["evidence"]),
                                 category=q.get("category", "all")) for q in data["questions"]]
    return messages, questions

"""Evidence recall of the memory store: does what the twin retrieves hold the messages that
answer the question?

A question counts at k when its top-k memories together cover ALL its evidence ids ("all"),
and in the softer variant when they cover ANY of them ("any"). Questions without evidence are
left out. Recall is only comparable between memory designs of similar size, so every result
also states messages and tokens per memory, and recall within a token budget: the memory block
packed by twin.prompt.render_memories (the service's packer: best first, a memory that does not
fit is skipped and the next one tried; preamble and tags count) within 1,000 / 2,000 tokens.
"Served recall" goes one step further: the whole prompt the service would build for the question
(twin.budget.served_prompt, at the service's memory budget for a model window) and the
evidence of the memories that made it in.

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
from twin.records import MemoryHit

DEFAULT_KS = (5, 10, 25)
BUDGETS = (1000, 2000)
SERVED_WINDOWS = (2048, 32768)  # the demo model's window and a Qwen-class model's under vLLM


@dataclass(frozen=True)
class Retrieved:
    """One memory as the scorer sees it: which messages it covers and how long it is."""

    source_ids: tuple[str, ...]
    tokens: int
    hit: MemoryHit | None = None  # what the packer renders; None: counted by `tokens` alone


@dataclass(frozen=True)
class QuestionResult:
    category: str
    evidence: frozenset[str]
    ranked: tuple[Retrieved, ...]
    served: dict[str, tuple[Retrieved, ...]] | None = None  # window name -> memories in the served prompt


def covered(ranked: Sequence[Retrieved]) -> set[str]:
    out: set[str] = set()
    for memory in ranked:
        out.update(memory.source_ids)
    return out


def within_budget(ranked: Sequence[Retrieved], budget: int, config: TwinConfig | None = None) -> list[Retrieved]:
    """The memories the service's packer (twin.prompt.render_memories) puts in a `budget`-token
    block: best first, one that does not fit is skipped and the next tried. With `config`, the
    best hits are first joined by their session neighbours as the service does for a block of
    that size (twin.budget.with_neighbours)."""
    from twin.prompt import render_memories

    if all(r.hit is not None for r in ranked):
        hits = [r.hit for r in ranked]
        if config is not None:
            from twin.budget import expand_top, with_neighbours

            hits = with_neighbours(hits, expand_top(config, budget), config.sessions.gap_minutes)
        _, used = render_memories(hits, budget)
        chosen = {id(h) for h in used}
        return [r for r in ranked if id(r.hit) in chosen]
    taken, spent = [], 0  # plain token counts (no hits to render): the same skip-and-continue rule
    for memory in ranked:
        if spent + memory.tokens <= budget:
            taken.append(memory)
            spent += memory.tokens
    return taken


def score(results: Iterable[QuestionResult], ks: Sequence[int] = DEFAULT_KS,
          budgets: Sequence[int] = BUDGETS, config: TwinConfig | None = None) -> dict:
    """Recall per k (all / any evidence), per category and overall, and within token budgets
    (packed as the service packs for `config`: with session neighbours where it adds them)."""
    results = [r for r in results if r.evidence]
    if not results:
        return {"overall": {str(k): None for k in ks}, "questions": 0}
    taken = {(id(r), b): within_budget(r.ranked, b, config) for r in results for b in budgets}  # pack once
    packed = {key: covered(memories) for key, memories in taken.items()}
    in_budget = {str(b): _mean(len(taken[id(r), b]) for r in results) for b in budgets}

    def rates(subset: list[QuestionResult]) -> tuple[dict, dict, dict, dict]:
        every = {str(k): _mean(r.evidence <= covered(r.ranked[:k]) for r in subset) for k in ks}
        anyof = {str(k): _mean(bool(r.evidence & covered(r.ranked[:k])) for r in subset) for k in ks}
        budget = {str(b): _mean(r.evidence <= packed[id(r), b] for r in subset) for b in budgets}
        budget_any = {str(b): _mean(bool(r.evidence & packed[id(r), b]) for r in subset) for b in budgets}
        return every, anyof, budget, budget_any

    overall, overall_any, budget, budget_any = rates(results)
    by_category, by_category_any, by_category_budget, counts = {}, {}, {}, {}
    for category in sorted({r.category for r in results}, key=_category_key):
        subset = [r for r in results if r.category == category]
        by_category[category], by_category_any[category], by_category_budget[category], _ = rates(subset)
        counts[category] = len(subset)
    memories_in_budget = in_budget
    report = {
        "overall": overall, "overall_any": overall_any, "by_category": by_category,
        "by_category_any": by_category_any, "by_category_budget": by_category_budget,
        "questions": len(results), "questions_by_category": counts,
        "budget": budget, "budget_any": budget_any, "memories_in_budget": memories_in_budget,
    }
    served = [r for r in results if r.served]
    if served:
        windows = list(served[0].served)
        report["served"] = {w: _mean(r.evidence <= covered(r.served[w]) for r in served) for w in windows}
        report["served_by_category"] = {
            c: {w: _mean(r.evidence <= covered(r.served[w]) for r in served if r.category == c) for w in windows}
            for c in counts}
        report["memories_served"] = {w: _mean(len(r.served[w]) for r in served) for w in windows}
        report["tokens_served"] = {w: _mean(sum(m.tokens for m in r.served[w]) for r in served) for w in windows}
    return report


def window_label(window: int) -> str:
    return f"{window // 1024}k" if window % 1024 == 0 else str(window)


def served_budgets(config: TwinConfig, windows: Sequence[int], tokens_per_memory: float | None = None) -> dict:
    """{label: MemoryBudget} the service would choose for models with these context windows,
    over a store whose memories average `tokens_per_memory` (MemoryIndex.tokens_per_memory)."""
    from twin.budget import memory_budget

    return {window_label(w): memory_budget(config, w, "eval", tokens_per_memory) for w in windows}


def service_budget(config: TwinConfig, tokens_per_memory: float | None = None):
    """The budget `twin serve` would print for this config, found without loading model weights:
    echo -> service.echo_context_tokens, openai -> the server's /models, transformers -> the
    base model's config and tokenizer."""
    from twin.budget import memory_budget

    backend = config.service.backend
    if backend == "echo":
        window, source = config.service.echo_context_tokens, "service.echo_context_tokens"
    elif backend == "openai":
        from twin.budget import fetch_served_window

        window, source = fetch_served_window(config)
    else:
        from twin.models import configured_window

        window, source = configured_window(config)
    return memory_budget(config, window, source, tokens_per_memory)


def served_memories(config: TwinConfig, budget, search: Callable, question: str, persona=None) -> list[MemoryHit]:
    """The memories in the prompt the service builds for `question` as a first message."""
    from datetime import date

    from twin.budget import served_prompt

    prompt = served_prompt(persona or config.persona, budget, search, [{"role": "user", "content": question}],
                           reply_tokens=config.service.default_max_tokens, today=date.today())
    return prompt.memories


def _retrieved(hit: MemoryHit) -> Retrieved:
    from twin.retrieval.chunking import estimate_tokens

    return Retrieved(hit.memory.source_ids, estimate_tokens(hit.memory.text), hit)


def _in_prompt(hits: Sequence[MemoryHit]) -> tuple[Retrieved, ...]:
    """A prompt's memories, each counted by the tokens of what the block shows of it (a chat turn an
    earlier memory showed is not shown again: twin.prompt.as_shown)."""
    from twin.prompt import as_shown
    from twin.retrieval.chunking import estimate_tokens

    return tuple(Retrieved(hit.memory.source_ids, estimate_tokens(shown.text), hit)
                 for hit, shown in zip(hits, as_shown(hits), strict=True))


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


def cached_embedder(name: str, folder: Path | str | None = None):
    """One cached embedder per name per process: tuning grids embed each text once. With
    `folder` (the benchmarks: ~/.cache/twin-bench) vectors also persist there between runs."""
    from twin.retrieval.embedders import CachedEmbedder, load_embedder

    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = CachedEmbedder(load_embedder(name), folder)
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
                  budgets: Sequence[int] = BUDGETS, windows: Sequence[int] = SERVED_WINDOWS,
                  embedding_cache: Path | str | None = None) -> dict:
    """Index each LoCoMo conversation into its own embedded (edge) store with the memory
    settings of `config`, ask every question, and score evidence recall.

    `samples` restricts to some sample ids (e.g. a tuning split); `windows` are the model context
    windows to measure served recall at (the service's budget for each); `embedding_cache` a
    folder where embeddings persist between runs (CachedEmbedder). Returns the JSON shape
    {"overall": {"5": r, ...}, "by_category": {"1": {...}}, "questions": n,
     "messages_per_memory": x, "tokens_per_memory": y, "budget": {"1000": r, "2000": r}, ...}.
    """
    from twin.eval.locomo import load_locomo
    from twin.retrieval.chunking import estimate_tokens
    from twin.retrieval.lexical import LexicalEncoder
    from twin.retrieval.memory import MemoryIndex
    from twin.retrieval.store import MemoryFilter

    cfg = _memory_config(config)
    twin_config = config if isinstance(config, TwinConfig) else TwinConfig(memory=cfg)
    gap = twin_config.sessions.gap_minutes
    conversations = load_locomo(path, list(samples) if samples is not None else None)
    embedder = cached_embedder(cfg.embedder, embedding_cache)
    lexical = LexicalEncoder(cfg.lexical)
    depth = max(max(ks), 60)  # enough memories to fill the largest budget
    results: list[QuestionResult] = []
    messages = tokens = memories_total = 0
    depths: dict[str, list[int]] = {window_label(w): [] for w in windows}
    started = time.perf_counter()
    for conv in conversations:
        asked = [q for q in conv.questions if q.evidence]
        query_vectors = embedder.embed_batch([embedder.query_prefix + q.question for q in asked]) if asked else []
        with chat_searcher(conv.messages, cfg, embedder, lexical, gap) as (searcher, memories, now):
            # the service's budget over this conversation's store (top_k follows its memory size)
            store_size = MemoryIndex(searcher.store, embedder, lexical).tokens_per_memory()
            budgets_served = served_budgets(twin_config, windows, store_size)
            for label, b in budgets_served.items():
                depths[label].append(b.top_k)
            by_id = {m.id: Retrieved(m.source_ids, estimate_tokens(m.text), MemoryHit(m, 0.0, m.id)) for m in memories}
            memories_total += len(by_id)
            messages += sum(len(r.source_ids) for r in by_id.values())
            tokens += sum(r.tokens for r in by_id.values())
            persona = twin_config.persona.model_copy(update={"name": conv.speakers[0], "description": ""})
            for q, vector in zip(asked, query_vectors, strict=True):
                ranked = searcher.ranked_ids(q.question, depth, now=now, query_vector=vector)[:depth]

                def search(query, k, _q=q.question, _v=vector, **filters):
                    if query != _q or filters:  # not this question's ranking: ask the store
                        flt = MemoryFilter(**filters) if filters else None
                        return searcher.search(query, k, flt, now)
                    # HybridSearcher.search is ranked_ids(k)[:k] plus payloads, and the payloads
                    # are these memories: skip the fetch (2,000 questions x 150 memories)
                    ranked_k = searcher.ranked_ids(query, k, now=now, query_vector=_v)[:k]
                    return [MemoryHit(by_id[pid].hit.memory, score, pid) for pid, score in ranked_k]

                served = {label: _in_prompt(served_memories(twin_config, b, search, q.question, persona))
                          for label, b in budgets_served.items()}
                results.append(QuestionResult(str(q.category), frozenset(q.evidence),
                                              tuple(by_id[pid] for pid, _ in ranked), served))
        embedder.save()
        if progress:
            print(f"{conv.sample_id}: {len(by_id)} memories, {len(asked)} questions "
                  f"({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    report = score(results, ks, budgets, twin_config)
    report.update({
        "memories": memories_total,
        "messages_per_memory": round(messages / memories_total, 3) if memories_total else 0.0,
        "tokens_per_memory": round(tokens / memories_total, 1) if memories_total else 0.0,
        "embedder": embedder.id, "lexical": lexical.id,
        "samples": [c.sample_id for c in conversations],
        # top_k differs by store: the mean over the conversations is shown
        "served_budgets": {label: {**vars(b), "top_k": round(_mean(depths[label]), 1), "tokens_per_memory": None}
                           for label, b in served_budgets(twin_config, windows).items()},
        "settings": {**cfg.model_dump(include={"chunk_turns", "chunk_overlap", "dense_weight", "sparse_weight", "rrf_k",
                                               "candidates", "lexical_coverage", "lexical_feedback", "lexical_feedback_max_share",
                                               "time_mode", "time_weight", "time_day_slack", "expand_neighbours",
                                               "expand_min_tokens"}), "session_gap_minutes": gap},
    })
    return report


def index_recall(index, questions: Iterable, ks: Sequence[int] = DEFAULT_KS, budgets: Sequence[int] = BUDGETS,
                 search: Callable | None = None, config: TwinConfig | None = None, served: dict | None = None) -> dict:
    """Recall of an open MemoryIndex (the owner's own store) on questions with `.question`,
    `.evidence` (source ids) and `.category`; used by `twin eval recall` on a question set.

    `served`: {label: MemoryBudget}; for each, served recall through the service's prompt path
    with `config`'s persona and reply length."""
    depth = max(max(ks), 60)
    search = search or index.search
    config = config or TwinConfig()
    results = []
    for q in questions:
        ranked = tuple(_retrieved(h) for h in search(q.question, depth))
        picked = {label: _in_prompt(served_memories(config, b, search, q.question))
                  for label, b in (served or {}).items()} or None
        results.append(QuestionResult(str(q.category) if q.category is not None else "all",
                                      frozenset(q.evidence), ranked, picked))
    report = score(results, ks, budgets, config)
    stats = index.stats()
    report.update({k: stats[k] for k in ("memories", "messages_per_memory", "tokens_per_memory", "embedder")})
    if served:
        report["served_budgets"] = {label: vars(b) for label, b in served.items()}
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

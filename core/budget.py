"""The memory part of the served prompt: how many memories it holds (a share of the model's
real context window), how they are retrieved and packed.

The service asks its backend for the context window (model config, vLLM `max_model_len`),
gives `service.memory_share` of it to memories (at most `service.memory_tokens_cap`, or exactly
`service.memory_tokens` when set) and retrieves enough memories to fill that block. `twin serve`
prints the result and `twin eval recall` measures served recall with the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from twin.config import PersonaConfig, TwinConfig
from twin.prompt import ChatPrompt, approx_tokens, build_chat_messages, neutralise_control_tokens, retrieval_query
from twin.records import MemoryHit

TWIN, WRITER = "twin", "writer"  # the service's two modes (model ids <name> and <name>-writer)
Search = Callable[..., list[MemoryHit]]  # (query, k, **filters) -> hits, best first

# The block holds about memory_tokens / (tokens per memory) memories; the service retrieves
# memory.candidate_headroom times that, so the packer can skip long ones and pull session
# neighbours from the rest. The size comes from the store (MemoryIndex.tokens_per_memory);
# before a store is known, a short chat memory's: about 40 tokens with its tags.
TOKENS_PER_CANDIDATE = 40
MAX_RETRIEVED = 200  # beyond this the payload fetch costs more than the last memories add


@dataclass(frozen=True)
class MemoryBudget:
    context_tokens: int  # the window the prompt and the reply share
    memory_tokens: int  # the memory block's budget inside it
    top_k: int  # memories retrieved per question, packed best first into memory_tokens
    source: str  # where context_tokens came from, for `twin serve` and /ready
    expand_top: int = 0  # the best this many hits are packed with their session neighbours (with_neighbours)
    gap_minutes: float = 30.0  # the session cut neighbours must not cross (sessions.gap_minutes)
    tokens_per_memory: float | None = None  # the store's average memory size top_k was sized by (None: not known)

    def describe(self) -> str:
        expand = (f"; the best {self.expand_top} hits packed with their neighbours in the session"
                  if self.expand_top else "")
        size = (f" of ~{self.tokens_per_memory:.0f} tokens" if self.tokens_per_memory else "")
        return (f"memory budget {self.memory_tokens} tokens of a {self.context_tokens}-token context "
                f"({self.source}); retrieving up to {self.top_k} memories{size} per question{expand}")


def memory_budget(config: TwinConfig, model_window: int | None, source: str = "model",
                  tokens_per_memory: float | None = None) -> MemoryBudget:
    """The budget for a model whose context window is `model_window` (None: unknown), over a
    store whose memories average `tokens_per_memory` (None: not known yet)."""
    svc = config.service
    if model_window is None:
        window, source = svc.fallback_context_tokens, "service.fallback_context_tokens"
    else:
        window = model_window
    if svc.context_tokens is not None and svc.context_tokens < window:
        window, source = svc.context_tokens, "service.context_tokens"
    if svc.memory_tokens is not None:
        memory = min(svc.memory_tokens, window - 1)
    else:
        memory = min(int(window * svc.memory_share), svc.memory_tokens_cap)
    top_k = retrieval_depth(config, memory, tokens_per_memory)
    return MemoryBudget(window, memory, top_k, source, expand_top(config, memory), config.sessions.gap_minutes,
                        tokens_per_memory)


def retrieval_depth(config: TwinConfig, memory_tokens: int, tokens_per_memory: float | None) -> int:
    """Memories to retrieve for a block of `memory_tokens`: memory.candidate_headroom times what
    fits at the store's average size, at least memory.top_k and at most MAX_RETRIEVED. Unknown
    size: the block divided by a short memory's, as many as could possibly fit."""
    if tokens_per_memory:
        wanted = math.ceil(config.memory.candidate_headroom * memory_tokens / max(tokens_per_memory, 1.0))
    else:
        wanted = memory_tokens // TOKENS_PER_CANDIDATE
    return min(MAX_RETRIEVED, max(config.memory.top_k, wanted))


def expand_top(config: TwinConfig, memory_tokens: int) -> int:
    """How many of the best hits get their session neighbours in a block of `memory_tokens`:
    memory.expand_neighbours when the block holds at least memory.expand_min_tokens, else none
    (chosen by `bench/memory_recall.py --expand-sweep`: on LoCoMo they add a little from ~6,000
    tokens up and cost recall at 1,000-2,000, where the block is better spent on more hits)."""
    cfg = config.memory
    return cfg.expand_neighbours if memory_tokens >= cfg.expand_min_tokens else 0


def with_neighbours(hits: Sequence[MemoryHit], top: int, gap_minutes: float) -> list[MemoryHit]:
    """`hits` in packing order: each of the best `top` chat hits is followed by its neighbours
    in the same session (the nearest memory of the same conversation before and after it, no
    more than `gap_minutes` apart) when they are among the hits, moved up from their own rank.

    Evidence that straddles a chunk boundary then reaches the prompt whole. The neighbours come
    from the retrieved hits, so no extra search runs; service and eval share this step."""
    hits = list(hits)
    if top <= 0 or len(hits) < 2:
        return hits
    gap = timedelta(minutes=gap_minutes)
    order: list[int] = []
    placed: set[int] = set()
    for rank, hit in enumerate(hits):
        if rank in placed:
            continue
        order.append(rank)
        placed.add(rank)
        if rank < top:
            for near in _session_neighbours(hits, rank, gap):
                if near not in placed:
                    order.append(near)
                    placed.add(near)
    return [hits[i] for i in order]


def _session_neighbours(hits: Sequence[MemoryHit], rank: int, gap: timedelta) -> list[int]:
    """Indexes of the nearest hit before and after hits[rank] in its chat session."""
    memory = hits[rank].memory
    if memory.kind != "chat" or memory.conversation_id is None or memory.start is None:
        return []
    end = memory.end or memory.start
    before = after = None
    for i, other in enumerate(hits):
        o = other.memory
        if i == rank or o.kind != "chat" or o.conversation_id != memory.conversation_id or o.start is None:
            continue
        o_end = o.end or o.start
        if o.start < memory.start and memory.start - o_end <= gap:
            if before is None or o.start > hits[before].memory.start:
                before = i
        elif o.start > memory.start and o.start - end <= gap:
            if after is None or o.start < hits[after].memory.start:
                after = i
    return [i for i in (before, after) if i is not None]


# Tokenizers without a limit report a huge sentinel (int(1e30)) as model_max_length.
_NO_LIMIT = 10_000_000


def model_window(model_config, tokenizer=None) -> tuple[int | None, str]:
    """The smaller of the model config's max_position_embeddings and the tokenizer's
    model_max_length (when it states a real one), with where it came from."""
    found: list[tuple[int, str]] = []
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions:
        found.append((int(positions), "model config max_position_embeddings"))
    limit = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
        found.append((limit, "tokenizer model_max_length"))
    if not found:
        return None, "the model config states no context window"
    return min(found)


def served_window(models: list, name: str) -> int | None:
    """`max_model_len` of the model called `name` in a /v1/models list, else of any model
    there (a LoRA module shares its base model's window)."""
    lengths = {}
    for entry in models:
        if isinstance(entry, dict) and isinstance(entry.get("max_model_len"), int) and entry["max_model_len"] > 0:
            lengths[entry.get("id")] = entry["max_model_len"]
    if name in lengths:
        return lengths[name]
    return min(lengths.values()) if lengths else None


def fetch_served_window(config: TwinConfig) -> tuple[int | None, str]:
    """max_model_len from the OpenAI-compatible server in service.backend_url (vLLM), asked once."""
    import httpx

    svc = config.service
    url = (svc.backend_url or "").rstrip("/")
    headers = {"Authorization": f"Bearer {svc.backend_api_key}"} if svc.backend_api_key else {}
    try:
        response = httpx.get(f"{url}/models", headers=headers, timeout=5.0)
        models = response.json().get("data") or [] if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return None, f"{url}/models did not answer"
    window = served_window(models, svc.backend_model or svc.model_name)
    return window, f"{url}/models max_model_len" if window else f"{url}/models states no max_model_len"


def retrieve(search: Search, mode: str, history: Sequence[dict[str, str]], k: int) -> list[MemoryHit]:
    query = retrieval_query(history)
    if not query:
        return []
    if mode == WRITER:  # the owner's posts and articles first, then chats for colour
        documents = search(query, k, kinds=["document"])
        seen = {h.id or h.memory.id for h in documents}
        rest = [h for h in search(query, k) if (h.id or h.memory.id) not in seen]
        return documents + rest[: max(0, k - len(documents))]
    return search(query, k)


def served_prompt(persona: PersonaConfig, budget: MemoryBudget, search: Search, history: Sequence[dict[str, str]], *,
                  mode: str = TWIN, reply_tokens: int, count_tokens: Callable[[str], int] = approx_tokens,
                  app_notes: str = "", today: date | None = None, timings: dict[str, float] | None = None,
                  special_tokens: tuple[str, ...] = ()) -> ChatPrompt:
    """Retrieve for the latest turn and build the prompt within `budget`: the service's path,
    also called by `twin eval recall` so "served recall" measures what the model reads.

    Retrieval sees the turns as sent; the prompt gets them (and the app notes) with chat-template
    control tokens broken (`special_tokens`: the backend tokenizer's own, beyond the known ones)."""
    started = time.perf_counter()
    hits = retrieve(search, mode, history, budget.top_k)
    retrieved = time.perf_counter()
    hits = with_neighbours(hits, budget.expand_top, budget.gap_minutes)
    app_notes = neutralise_control_tokens(app_notes, special_tokens)
    history = [{**turn, "content": neutralise_control_tokens(turn["content"], special_tokens)} for turn in history]
    prompt = build_chat_messages(
        persona, hits, history,
        context_tokens=budget.context_tokens,
        reply_tokens=reply_tokens,
        memory_tokens=budget.memory_tokens,
        count_tokens=count_tokens,
        app_instructions=app_notes,
        writer=mode == WRITER,
        today=today,
    )
    if timings is not None:
        timings.update(retrieval=(retrieved - started) * 1e3, prompt=(time.perf_counter() - retrieved) * 1e3)
    return prompt

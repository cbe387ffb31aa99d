"""Memory-grounded samples: the system message quotes memories the way the service does.

At serving, the model gets the persona prompt, today's date and a block of memories retrieved
for the latest user turn (`twin.prompt.build_chat_messages`). A share of the training samples
(`dataset.memory_share`) gets the same: memories retrieved from the twin's own memory store
for the sample's last user turn (`twin.prompt.retrieval_query`, the service's query), rendered
by the same function within the same budget (twin.budget for a `dataset.max_tokens` window), so the
served and the trained system message are byte-identical for the same memories and date.

No leaks: only memories that END BEFORE the sample's session begins (a post: before its date)
are used, never one that covers a message of the session itself. The store filters on it
(`ends_before`), the hits are checked again here, and `leak_check` re-checks the finished
samples; the manifest records the result, and a build with any leak fails.

Distractors: `dataset.distractor_share` of the grounded samples get only memories retrieved for
another sample's question, minus anything the sample's own question retrieves, so the model
also sees memory blocks that do not help and learns to answer without leaning on them.
Every sample, grounded or not, states its session's date the way the service states today's.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from twin.config import PersonaConfig
from twin.prompt import build_chat_messages, retrieval_query
from twin.records import MemoryHit
from twin.finetune.samples import Sample

PLAIN, GROUNDED, DISTRACTOR = "plain", "grounded", "distractor"


class Retriever(Protocol):
    def search(self, query: str, k: int = 8, *, kinds: Sequence[str] | None = None,
               ends_before: datetime | None = None, now: datetime | None = None) -> list[MemoryHit]: ...

    def tokens_per_memory(self) -> float | None: ...  # the service sizes top_k by it (twin.budget)


def draw(seed: int, key: str, what: str) -> float:
    """A deterministic number in [0, 1) for (seed, key, what)."""
    digest = hashlib.sha256(f"{seed}:{what}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def memory_mode(key: str, share: float, distractor_share: float, seed: int) -> str:
    if draw(seed, key, "memory") >= share:
        return PLAIN
    return DISTRACTOR if draw(seed, key, "distractor") < distractor_share else GROUNDED


def cutoff_of(sample: Sample) -> datetime | None:
    """Memories must end before this: the session's first message, or the post's date."""
    if sample.session is not None:
        return sample.session.start
    if sample.document is not None:
        return sample.document.date
    return None


def own_source_ids(sample: Sample) -> frozenset[str]:
    if sample.session is not None:
        return sample.session.source_ids
    if sample.document is not None:
        return frozenset({sample.document.source_id})
    return frozenset()


def memory_end(hit: MemoryHit) -> datetime | None:
    return hit.memory.end or hit.memory.start


def is_safe(hit: MemoryHit, cutoff: datetime, own: frozenset[str]) -> bool:
    """Dated, over before the cutoff, and quoting nothing of the sample's own session."""
    end = memory_end(hit)
    return end is not None and end < cutoff and not own.intersection(hit.memory.source_ids)


def sample_date(sample: Sample) -> date | None:
    cutoff = cutoff_of(sample)
    return cutoff.date() if cutoff is not None else None


@dataclass
class Grounding:
    """Builds every sample's system message: persona, date, and (for a share) memories."""

    persona: PersonaConfig
    count: Callable[[str], int]
    max_tokens: int
    memory_tokens: int
    top_k: int
    share: float
    distractor_share: float
    seed: int
    retriever: Retriever | None = None

    def mode(self, key: str) -> str:
        if self.retriever is None:
            return PLAIN
        return memory_mode(key, self.share, self.distractor_share, self.seed)

    def reserve(self, key: str) -> int:
        """Tokens a sample keyed `key` must leave free for its memory block."""
        return self.memory_tokens if self.mode(key) != PLAIN else 0

    def system(self, hits: Sequence[MemoryHit], last_user: str, when: date | None, writer: bool) -> tuple[str, list[MemoryHit]]:
        """The system message exactly as the service builds it for these memories and date."""
        prompt = build_chat_messages(
            self.persona, hits, [{"role": "user", "content": last_user}], context_tokens=self.max_tokens,
            reply_tokens=0, memory_tokens=self.memory_tokens, count_tokens=self.count, writer=writer, today=when,
        )
        return prompt.messages[0]["content"], prompt.memories

    def search(self, sample: Sample, query: str) -> list[MemoryHit]:
        cutoff = cutoff_of(sample)
        if cutoff is None or self.retriever is None or not query.strip():
            return []
        kinds = ["document"] if sample.kind == "post" else None
        hits = self.retriever.search(query, self.top_k, kinds=kinds, ends_before=cutoff, now=cutoff)
        own = own_source_ids(sample)
        return [h for h in hits if is_safe(h, cutoff, own)]

    def apply(self, samples: list[Sample], stats: Counter) -> None:
        """Set each sample's system message (in place); grounded ones record their memories."""
        queries = [retrieval_query(s.messages[1:-1]) for s in samples]
        chats = [i for i, s in enumerate(samples) if s.kind == "chat"]
        for i, sample in enumerate(samples):
            mode = self.mode(sample.session_id) if sample.memory_room else PLAIN
            writer = sample.kind == "post"
            hits: list[MemoryHit] = []
            if mode == GROUNDED:
                hits = self.search(sample, queries[i])
            elif mode == DISTRACTOR:
                hits = self._distractors(samples, queries, chats, i)
            system, used = self.system(hits, sample.messages[-2]["content"], sample_date(sample), writer)
            sample.messages[0] = {"role": "system", "content": system}
            if mode != PLAIN:
                kind = mode if used else f"{mode}_empty"
                stats[f"memory_{kind}_{sample.kind}_samples"] += 1
                cutoff = cutoff_of(sample)
                sample.extra["memory"] = {"mode": mode, "ids": [h.id or h.memory.id for h in used],
                                          "before": cutoff.isoformat() if cutoff else None}
                sample.memories = list(used)

    def _distractors(self, samples: list[Sample], queries: list[str], chats: list[int], i: int) -> list[MemoryHit]:
        """Memories for another sample's question (another chat when there is one), minus the
        ones this sample's own question finds."""
        sample = samples[i]
        others = ([j for j in chats if samples[j].conversation_id != sample.conversation_id]
                  or [j for j in chats if j != i])
        if not others:
            return []
        pick = others[int(draw(self.seed, sample.id, "other") * len(others))]
        relevant = {h.id or h.memory.id for h in self.search(sample, queries[i])}
        return [h for h in self.search(sample, queries[pick]) if (h.id or h.memory.id) not in relevant]


def leak_check(samples: Sequence[Sample]) -> dict:
    """Re-check every sample with memories: none may end at or after its session's start (or its
    post's date), be undated, or quote a message of its own session. Returns the counts."""
    checked = leaking = 0
    for sample in samples:
        memories = sample.memories
        if not memories:
            continue
        checked += 1
        cutoff = cutoff_of(sample)
        own = own_source_ids(sample)
        if cutoff is None or not all(is_safe(h, cutoff, own) for h in memories):
            leaking += 1
    return {"samples_with_memories": checked, "leaking_samples": leaking,
            "rule": "every quoted memory ends before its sample's session begins and covers none of it"}

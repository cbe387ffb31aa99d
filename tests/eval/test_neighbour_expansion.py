"""Neighbour expansion (twin.budget.with_neighbours): evidence that straddles two chunks of one
session reaches the prompt whole, where plain rank order crowds the second half out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twin.budget import MemoryBudget, served_prompt, with_neighbours
from twin.config import TwinConfig
from twin.eval.recall import cached_embedder, chat_searcher
from twin.records import ChatKind, Memory, MemoryHit, Message
from twin.retrieval.lexical import LexicalEncoder

START = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)


def chat(conversation: str, day: int, lines: list[tuple[str, str]]) -> list[Message]:
    return [Message(source="fixture", source_id=f"{conversation}:{day}:{i}", conversation_id=conversation,
                    conversation_name=conversation, chat_kind=ChatKind.PRIVATE, sender_id=who, sender_name=who,
                    is_owner=who == "Me", timestamp=START + timedelta(days=day, minutes=i), text=text)
            for i, (who, text) in enumerate(lines)]


# The answer to "where is Anna's new flat in Berlin" is two turns apart: the move (chunk 1) and
# the district (chunk 2, which shares no word with the question). Other evenings talk about
# Anna's flat and Berlin too: they outrank chunk 2.
MOVE = chat("anna", 0, [
    ("Anna", "Guess what, I signed the lease for a new flat in Berlin!"),
    ("Me", "No way, when do you move?"),
    ("Anna", "In May, the new flat in Berlin has a balcony"),
    ("Me", "Amazing, send pictures"),
    ("Anna", "It is in Kreuzberg, right by the canal"),
    ("Me", "Perfect for summer evenings"),
    ("Anna", "Yes, and the rent is fine"),
    ("Me", "Let's celebrate"),
])
DISTRACTORS = [m for day in range(2, 7) for m in chat("anna", day, [
    ("Anna", f"Berlin flat hunting, day {day}: the new flat viewings in Berlin are exhausting"),
    ("Me", "Hang in there, a new flat in Berlin will turn up"),
    ("Anna", "Another new flat in Berlin was gone before I arrived"),
    ("Me", "Berlin is tough for flats"),
])]
QUESTION = "Where is the new flat in Berlin with the balcony Anna signed the lease for?"
EVIDENCE = {"anna:0:0", "anna:0:4"}


def served_sources(config: TwinConfig, expand_top: int) -> set[str]:
    cfg = config.memory
    embedder, lexical = cached_embedder(cfg.embedder), LexicalEncoder(cfg.lexical)
    with chat_searcher(MOVE + DISTRACTORS, cfg, embedder, lexical) as (searcher, _, now):
        def search(query, k, **filters):
            return searcher.search(query, k, None, now)

        ranked = search(QUESTION, 20)
        first = next(i for i, h in enumerate(ranked) if "anna:0:0" in h.memory.source_ids)
        second = next(i for i, h in enumerate(ranked) if "anna:0:4" in h.memory.source_ids
                      and "anna:0:0" not in h.memory.source_ids)
        assert first <= 1 and second >= 4  # the setup: other evenings crowd chunk 2 out of the top 4
        budget = MemoryBudget(32768, 400, 20, "test", expand_top, config.sessions.gap_minutes)
        prompt = served_prompt(config.persona, budget, search, [{"role": "user", "content": QUESTION}],
                               reply_tokens=256)
    system = prompt.messages[0]["content"]
    assert all(h.memory.text.splitlines()[-1] in system for h in prompt.memories)
    return {s for h in prompt.memories for s in h.memory.source_ids}


def test_neighbour_expansion_brings_the_second_half_of_the_evidence():
    config = TwinConfig(memory={"embedder": "hash"})
    without = served_sources(config, expand_top=0)
    assert "anna:0:0" in without and "anna:0:4" not in without
    with_expansion = served_sources(config, expand_top=2)
    assert EVIDENCE <= with_expansion


def hit(conversation: str, minute: int, turns: int = 4, kind: str = "chat") -> MemoryHit:
    start = START + timedelta(minutes=minute)
    memory = Memory(text=f"{conversation} {minute}", source_ids=(f"{conversation}:{minute}",), start=start,
                    end=start + timedelta(minutes=turns - 1), kind=kind, conversation_id=conversation)
    return MemoryHit(memory, 1.0, memory.id)


def test_neighbours_stay_in_their_session_and_conversation():
    best, before, after, later_session, other_chat, far = (
        hit("a", 10), hit("a", 7), hit("a", 13), hit("a", 200), hit("b", 14), hit("a", 4))
    hits = [best, other_chat, later_session, far, after, before]
    ordered = with_neighbours(hits, top=1, gap_minutes=30)
    # the nearest memory before and after in the same session follow the best hit; the rest keep their order
    assert ordered == [best, before, after, other_chat, later_session, far]
    assert with_neighbours(hits, top=0, gap_minutes=30) == hits
    assert with_neighbours([hit("a", 10, kind="document"), hit("a", 12, kind="document")], 1, 30)[1].memory.text == "a 12"

"""Lexical pseudo-relevance feedback (memory.lexical_feedback, twin.retrieval.feedback): the
second half of a multi-hop answer shares no word with the question, but it shares rare words
with the first half; widening the lexical query with them brings it into the top hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twin.config import MemoryConfig
from twin.eval.recall import cached_embedder, chat_searcher
from twin.records import ChatKind, Message
from twin.retrieval.feedback import expanded_query
from twin.retrieval.lexical import LexicalEncoder, Sparse

START = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)


def evening(day: int, lines: list[tuple[str, str]]) -> list[Message]:
    return [Message(source="fixture", source_id=f"anna:{day}:{i}", conversation_id="anna", conversation_name="anna",
                    chat_kind=ChatKind.PRIVATE, sender_id=who, sender_name=who, is_owner=who == "Me",
                    timestamp=START + timedelta(days=day, minutes=i), text=text)
            for i, (who, text) in enumerate(lines)]


# "Which vegetables does Anna grow in her garden?" is answered on two evenings: the planting
# (day 0, which names the vegetables) and the harvest (day 9, which names them again but of the
# question's words only says "garden"). Other evenings say "garden", "grow" or "vegetables" in
# passing, each as much of the question as the harvest holds: they crowd it out.
PLANTING = evening(0, [("Anna", "Vegetables for my garden: courgettes, pumpkins, tomatoes and beans"),
                       ("Me", "Wow")])
HARVEST = evening(9, [("Anna", "The courgettes, pumpkins, tomatoes and beans in the garden are enormous"),
                      ("Me", "Bring some over")])
PASSING = [evening(day, lines) for day, lines in enumerate([
    [("Anna", "The garden centre had a sale on chairs"), ("Me", "Finally")],
    [("Anna", "Vegetables got so expensive at the market"), ("Me", "Tell me about it")],
    [("Anna", "Kids grow up so quickly"), ("Me", "They do")],
    [("Anna", "Our neighbour's garden party was loud"), ("Me", "Same here")],
    [("Anna", "I want to grow my hair long"), ("Me", "Lovely")],
    [("Anna", "We sat in the beer garden until late"), ("Me", "Sounds fun")],
    [("Anna", "The garden gate is broken again"), ("Me", "Call the landlord")],
], start=1)]
QUESTION = "Which vegetables does Anna grow in her garden?"


def evidence_ranks(feedback: int) -> tuple[int, int]:
    cfg = MemoryConfig(embedder="hash", lexical_feedback=feedback)
    messages = PLANTING + HARVEST + [m for e in PASSING for m in e]
    messages.sort(key=lambda m: m.timestamp)
    with chat_searcher(messages, cfg, cached_embedder("hash"), LexicalEncoder(cfg.lexical)) as (searcher, memories, now):
        by_id = {m.id: m for m in memories}
        ranked = [by_id[pid].source_ids for pid, _ in searcher.ranked_ids(QUESTION, 20, now=now)]
        hits = searcher.search(QUESTION, 3, now=now)  # the service's path gives the same order
        assert [h.memory.source_ids for h in hits] == ranked[:3]
    planting = next(i for i, ids in enumerate(ranked) if "anna:0:0" in ids)
    harvest = next(i for i, ids in enumerate(ranked) if "anna:9:0" in ids)
    return planting, harvest


def test_feedback_brings_the_answer_that_shares_no_word_with_the_question():
    planting, harvest = evidence_ranks(feedback=0)
    assert planting == 0 and harvest >= 3  # the setup: evenings that say "plant" or "vegetables" crowd it out
    planting, harvest = evidence_ranks(feedback=1)
    assert planting == 0 and harvest <= 2


def test_expanded_query_adds_the_feedback_terms_that_are_rare_among_the_candidates():
    query = Sparse([1, 2], [1.0, 1.0])
    feedback = [[1, 2, 10, 11, 12], [1, 11, 20]]
    pool = feedback + [[1, 12], [2, 12], [12, 30]]  # 12 is in most candidates, 11 in both feedback hits
    widened = expanded_query(query, feedback, pool, terms=2, weight=0.5)
    values = dict(zip(widened.indices, widened.values, strict=True))
    assert widened.indices == sorted(widened.indices)
    assert values[1] == values[2] == 1.0  # the question's own terms keep their weight
    assert set(values) == {1, 2, 11, 10} or set(values) == {1, 2, 11, 20}
    assert values[11] == 0.5  # the best added term gets the full feedback weight
    assert all(v < 0.5 for t, v in values.items() if t not in (1, 2, 11))
    assert expanded_query(query, [[1, 2]], pool) is query  # nothing new to add: the query as it was
    one_word = Sparse([1], [1.0])
    assert expanded_query(one_word, feedback, pool) is one_word  # a lookup by one word is not widened


def test_words_most_candidates_hold_are_not_added_above_the_share_limit():
    query = Sparse([1, 2], [1.0, 1.0])
    # 50 is in every feedback hit and in 4 of the 5 candidates: summed over the hits it scores
    # above 60, which only one hit holds, until the share limit leaves it out.
    feedback = [[1, 50, 60], [2, 50], [1, 50]]
    pool = feedback + [[50, 70], [1, 2]]
    assert 50 in expanded_query(query, feedback, pool, terms=1).indices
    limited = expanded_query(query, feedback, pool, terms=1, max_share=0.5)
    assert 50 not in limited.indices and 60 in limited.indices
    assert expanded_query(query, feedback, pool, terms=1, max_share=1.0).indices == \
        expanded_query(query, feedback, pool, terms=1).indices  # 1 = no limit
    assert expanded_query(query, [[1, 50], [2, 50]], pool, max_share=0.5) is query  # nothing rare enough: as it was

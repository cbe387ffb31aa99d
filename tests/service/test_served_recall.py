"""`twin eval recall`'s served recall and the running service put the same memories in the prompt."""

from __future__ import annotations

import openai
import pytest
from service_helpers import API_KEY, serve

QUESTIONS = ["Who teaches you the cello?", "Where did we go hiking?", "What did you post about hats?",
             "what happened in April 2023"]


@pytest.mark.parametrize("expand", [0, 3], ids=["plain", "neighbours"])
def test_service_and_eval_pick_the_same_memories(indexed_twin, tmp_path, expand):
    from twin.eval.recall import served_memories, service_budget
    from twin.retrieval.memory import MemoryIndex
    from twin.service.app import create_app

    config = indexed_twin.model_copy(deep=True)
    config.paths.request_log = tmp_path / "requests.sqlite"
    config.service.memory_tokens = 160  # small enough that packing has to leave memories out
    config.memory.expand_neighbours, config.memory.expand_min_tokens = expand, 0  # session neighbours at any size
    announced = []
    served = {}
    with serve(create_app(config, announce=announced.append)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        for q in QUESTIONS:
            reply = client.chat.completions.create(model="twin", messages=[{"role": "user", "content": q}],
                                                   extra_body={"twin_include_memories": True})
            served[q] = [m["id"] for m in reply.model_extra["twin_memories"] or []]
    with MemoryIndex.open(config) as index:
        budget = service_budget(config, index.tokens_per_memory())  # top_k by the store's memory size, as served
        assert budget.memory_tokens == 160 and budget.context_tokens == config.service.echo_context_tokens
        assert budget.expand_top == expand and budget.tokens_per_memory
        assert announced == [budget.describe()]
        picked = {q: [h.id for h in served_memories(config, budget, index.search, q)] for q in QUESTIONS}
        retrieved = {q: len(index.search(q, budget.top_k)) for q in QUESTIONS}
    assert picked == served
    assert any(served.values())
    assert any(len(served[q]) < retrieved[q] for q in QUESTIONS)  # the budget, not top_k, decided


def test_the_qa_eval_retrieves_as_deep_as_the_service(indexed_twin):
    """The QA ablation answers with an in-process model of unknown window: it must retrieve what
    the service would for that model over this store, not a fixed memory.top_k."""
    from twin.budget import memory_budget
    from twin.eval.questions import Question
    from twin.eval.runner import open_retriever

    retrieve, index = open_retriever(indexed_twin)
    try:
        asked = []
        search = index.search
        index.search = lambda query, k, **kw: asked.append(k) or search(query, k, **kw)
        hits = retrieve(Question(id="q1", question="Who teaches you the cello?", answer=""))
        expected = memory_budget(indexed_twin, None, "eval", index.tokens_per_memory()).top_k
    finally:
        index.close()
    assert asked == [expected] and hits
    assert expected > indexed_twin.memory.top_k  # short memories: more than the floor fit the 2k block

"""Outages: a model server or memory store that is down gives a 503 with a clear message, and the
service recovers without a restart once it is back."""

from __future__ import annotations

import shutil

import httpx
import openai
import pytest

from service_helpers import API_KEY, fake_openai_app, free_port, ingest_fixtures, serve, write_twin

QUESTION = [{"role": "user", "content": "How was the hike at Yellow Mountain?"}]


def test_model_server_down_then_back(indexed_twin, tmp_path):
    from twin.service.app import create_app

    upstream_port = free_port()
    config = indexed_twin.model_copy(deep=True)
    config.service.backend_url = f"http://127.0.0.1:{upstream_port}/v1"
    config.service.backend_model = "lin-lora"
    config.service.backend = "openai"
    config.paths.request_log = tmp_path / "requests.sqlite"
    with serve(create_app(config)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:  # nothing listens upstream yet
            client.chat.completions.create(model="twin", messages=QUESTION)
        assert info.value.status_code == 503
        assert info.value.body["type"] == "service_unavailable"
        assert f"127.0.0.1:{upstream_port}" in info.value.body["message"] and "unreachable" in info.value.body["message"]
        with pytest.raises(openai.InternalServerError):  # streaming fails before the 200, same 503
            client.chat.completions.create(model="twin", messages=QUESTION, stream=True)
        assert httpx.get(f"{url}/ready").status_code == 503

        upstream = fake_openai_app("the sunrise was worth it")
        with serve(upstream, port=upstream_port):
            reply = client.chat.completions.create(model="twin", messages=QUESTION)
            assert reply.choices[0].message.content.strip() == "the sunrise was worth it"
            sent = upstream.state.requests[-1]
            assert sent["model"] == "lin-lora"  # the LoRA name vLLM serves
            assert sent["messages"][0]["content"].startswith("You are Lin.") and "<memories>" in sent["messages"][0]["content"]
            streamed = "".join(c.choices[0].delta.content or "" for c in
                               client.chat.completions.create(model="twin", messages=QUESTION, stream=True) if c.choices)
            assert streamed.strip() == "the sunrise was worth it"
            ready = httpx.get(f"{url}/ready")
            assert ready.status_code == 200 and ready.json()["memory"]["detail"].endswith(" memories")

        with pytest.raises(openai.InternalServerError) as info:  # down again
            client.chat.completions.create(model="twin", messages=QUESTION)
        assert info.value.status_code == 503


def test_memory_store_missing_then_indexed(tmp_path):
    """Started before `twin memory index`: 503 naming the fix, then answers once the store exists."""
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    config = load_config(write_twin(tmp_path / "twin"))
    ingest_fixtures(config)
    with serve(create_app(config)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="twin", messages=QUESTION)
        assert info.value.status_code == 503
        assert "twin memory index" in info.value.body["message"]
        index_corpus(config, progress=False)
        reply = client.chat.completions.create(model="twin", messages=QUESTION, extra_body={"twin_include_memories": True})
        assert any("Yellow Mountain" in m["text"] for m in reply.model_extra["twin_memories"])


def test_qdrant_server_down_then_working_store(indexed_twin, tmp_path):
    """memory.qdrant_url pointing at a port with nothing: 503 naming the server. The same running
    service answers once a working store is in place (here: the embedded store, built by
    `index_corpus`, put where the config points once the server setting is removed)."""
    from twin.service.app import create_app

    config = indexed_twin.model_copy(deep=True)
    dead = f"http://127.0.0.1:{free_port()}"
    config.memory.qdrant_url = dead
    config.paths.memory = tmp_path / "memory"
    config.paths.request_log = tmp_path / "requests.sqlite"
    app = create_app(config)
    with serve(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError) as info:
                client.chat.completions.create(model="twin", messages=QUESTION)
            assert info.value.status_code == 503 and dead in info.value.body["message"]
        search = httpx.post(f"{url}/v1/memories/search", json={"query": "hike"}, headers={"Authorization": f"Bearer {API_KEY}"})
        assert search.status_code == 503 and search.json()["error"]["code"] == "unavailable"
        assert app.state.twin.log.recent(1)[0]["status"] == 503

        shutil.copytree(indexed_twin.path("memory"), tmp_path / "memory")
        config.memory.qdrant_url = None  # the operator switches to a store that works
        reply = client.chat.completions.create(model="twin", messages=QUESTION)
        assert reply.choices[0].message.content.startswith("echo:")

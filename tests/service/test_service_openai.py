"""The twin through real clients: the openai SDK (whole and streamed) and LangChain's ChatOpenAI,
against uvicorn on 127.0.0.1 with the echo backend and a real memory store."""

from __future__ import annotations

import httpx
import openai
import pytest

from service_helpers import API_KEY


@pytest.fixture(scope="module")
def client(echo_server):
    url, _ = echo_server
    return openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)


def test_models_lists_both_modes(client):
    ids = sorted(m.id for m in client.models.list().data)
    assert ids == ["twin", "twin-writer"]


def test_chat_completion_answers_with_memories_in_the_prompt(client, echo_server):
    _, app = echo_server
    reply = client.chat.completions.create(
        model="twin", messages=[{"role": "user", "content": "What happened to your red hat on the hike?"}])
    assert reply.choices[0].message.content == "echo: What happened to your red hat on the hike?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 0
    assert getattr(reply, "twin_memories", None) is None  # plain clients get a plain response
    system = app.state.twin.backend.last_messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Lin.")  # the training system prompt, first, verbatim
    assert "red hat" in system["content"] and "<memories>" in system["content"]
    assert "[2023-04-02 " in system["content"]  # memories carry their dates (in a chat memory's header)


def test_memories_returned_when_asked(client):
    reply = client.chat.completions.create(
        model="twin", messages=[{"role": "user", "content": "Who teaches you the cello?"}],
        extra_body={"twin_include_memories": True})
    memories = reply.model_extra["twin_memories"]
    assert memories, "the cello memory should be retrieved"
    assert any("Mrs. Zhou" in m["text"] for m in memories)
    assert all(m["date"][:4] == "2023" and m["source"] for m in memories)
    assert memories == sorted(memories, key=lambda m: -m["score"]) or len(memories) == 1


def test_streaming_matches_whole_reply(client):
    question = "Are you coming to the birthday dinner?"
    stream = client.chat.completions.create(model="twin", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": question}])
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([p for p in pieces if p]) > 3  # really streamed in pieces
    assert "".join(pieces) == f"echo: {question}"
    assert finish == "stop" and usage.total_tokens > 0


def test_writer_mode_retrieves_posts_first(client, echo_server):
    _, app = echo_server
    reply = client.chat.completions.create(
        model="twin-writer", messages=[{"role": "user", "content": "learning the cello"}],
        extra_body={"twin_include_memories": True})
    memories = reply.model_extra["twin_memories"]
    assert memories[0]["kind"] == "document" and memories[0]["source"] == "x"
    system = app.state.twin.backend.last_messages[0]["content"]
    assert "write one post in your own voice" in system


def test_langchain_chat_openai(echo_server):
    from langchain_openai import ChatOpenAI

    url, _ = echo_server
    llm = ChatOpenAI(base_url=f"{url}/v1", api_key=API_KEY, model="twin", max_retries=0, temperature=0)
    assert llm.invoke("Tell me about Yellow Mountain").content == "echo: Tell me about Yellow Mountain"
    streamed = "".join(chunk.content for chunk in llm.stream("and the sunrise?"))
    assert streamed == "echo: and the sunrise?"


def test_history_and_app_system_prompt_are_kept(client, echo_server):
    _, app = echo_server
    client.chat.completions.create(model="twin", messages=[
        {"role": "system", "content": "You are chatting in the family group."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hey!"},
        {"role": "user", "content": "what cake will you bring?"},
    ])
    seen = app.state.twin.backend.last_messages
    assert [m["role"] for m in seen] == ["system", "user", "assistant", "user"]
    assert "family group" in seen[0]["content"] and seen[0]["content"].startswith("You are Lin.")


def test_disclosure_line_follows_the_conversation_language(client, echo_server):
    _, app = echo_server
    persona = app.state.twin.config.persona
    persona.disclose_ai = True
    try:
        def first_reply(text: str) -> str:
            return client.chat.completions.create(
                model="twin", messages=[{"role": "user", "content": text}]).choices[0].message.content

        assert first_reply("你的红帽子是在哪里丢的？").startswith("（这是Lin的 AI 分身，不是Lin本人。）\n\necho: ")
        assert first_reply("Where did you lose your red hat?").startswith("(This is Lin's AI twin, not Lin in person.)\n\n")
        later = client.chat.completions.create(model="twin", messages=[
            {"role": "user", "content": "你好"}, {"role": "assistant", "content": "嗨"}, {"role": "user", "content": "在吗"}])
        assert later.choices[0].message.content == "echo: 在吗"  # only the first reply says it
    finally:
        persona.disclose_ai = False


def test_auth_is_required(echo_server):
    url, _ = echo_server
    for key in ("wrong-key", ""):
        bad = openai.OpenAI(base_url=f"{url}/v1", api_key=key or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.models.list()
        assert info.value.body["code"] == "invalid_api_key"
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": "twin", "messages": []})
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"message", "type", "code"}


def test_limits_and_error_shapes(client, echo_server):
    url, _ = echo_server
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="twin", max_tokens=10_000, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "max_tokens_too_large"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "model_not_found"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    huge = {"model": "twin", "messages": [{"role": "user", "content": "x" * 1_100_000}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=huge, headers=headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    chunked = httpx.post(f"{url}/v1/chat/completions", headers=headers, content=iter([b"{" + b" " * 600_000] * 2))
    assert chunked.status_code == 413
    response = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.post(f"{url}/v1/chat/completions", headers=headers,
                          json={"model": "twin", "messages": [{"role": "assistant", "content": "hi"}]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_messages"
    long_message = {"model": "twin", "messages": [{"role": "user", "content": "word " * 9000}]}
    # the first request that gets as far as retrieval loads the embedder: seconds on a busy CPU
    response = httpx.post(f"{url}/v1/chat/completions", json=long_message, headers=headers, timeout=120)
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"


def test_memory_routes_search_add_forget(echo_server):
    url, _ = echo_server
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"})
    found = api.post("/v1/memories/search", json={"query": "mango cake bakery", "k": 3}).json()["data"]
    assert any("mango cake" in m["text"] for m in found)
    added = api.post("/v1/memories", json={"text": "I adopted a grey cat called Tofu", "when": "2024-02-01T10:00:00+08:00"})
    assert added.status_code == 201
    note_id = added.json()["id"]
    hits = api.post("/v1/memories/search", json={"query": "cat called Tofu", "k": 3, "kinds": ["note"]}).json()["data"]
    assert hits[0]["id"] == note_id and hits[0]["date"] == "2024-02-01"
    assert api.delete(f"/v1/memories/{note_id}").json() == {"id": note_id, "object": "memory.deleted", "deleted": True}
    again = api.delete(f"/v1/memories/{note_id}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "memory_not_found"
    hits = api.post("/v1/memories/search", json={"query": "cat called Tofu", "k": 3, "kinds": ["note"]}).json()["data"]
    assert note_id not in [h["id"] for h in hits]
    assert httpx.post(f"{url}/v1/memories/search", json={"query": "x"}).status_code == 401


def test_request_log_records_memories_and_latency(client, echo_server):
    _, app = echo_server
    client.chat.completions.create(model="twin", messages=[{"role": "user", "content": "the hotpot dinner on Nanjing Road"}])
    rows = app.state.twin.log.recent(1)
    row = rows[0]
    assert row["route"] == "chat" and row["mode"] == "twin" and row["backend"] == "echo" and row["status"] == 200
    assert row["memory_ids"] and len(row["memory_ids"]) == len(row["memory_scores"])
    assert row["latency_ms"] > 0 and row["retrieval_ms"] > 0
    assert "Nanjing" not in str(row)  # no message text in the log

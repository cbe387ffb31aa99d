"""POST /v1/ingest through the real HTTP server: a ChatLab document with new facts is in the
corpus and retrievable by the next chat request, a later `twin ingest` of the same file adds
nothing, and a malformed body is a 400 that changes nothing."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from service_helpers import API_KEY, ingest_fixtures, serve, write_twin

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
NOW = int(time.time()) - 3600


def chatlab_document(facts: list[tuple[str, str]], start: int = NOW, first_id: int = 990000) -> dict:
    """A private WeChat chat in the ChatLab format, the owner (user111 = Lin) answering Mia."""
    messages = []
    for i, (sender, text) in enumerate(facts):
        messages.append({"sender": sender, "accountName": "Lin" if sender == "user111" else "Mia",
                         "timestamp": start + 30 * i, "type": 0, "content": text,
                         "platformMessageId": str(first_id + i)})
    return {"chatlab": {"version": "0.0.2", "exportedAt": start + 3600},
            "meta": {"name": "Mia", "platform": "wechat", "type": "private", "ownerId": "user111"},
            "members": [{"platformId": "user111", "accountName": "Lin"}, {"platformId": "wxid_mia", "accountName": "Mia"}],
            "messages": messages}


FACTS = [
    ("wxid_mia", "How was the weekend?"),
    ("user111", "Great, I adopted a corgi puppy and named him Biscuit"),
    ("wxid_mia", "Biscuit! Cute. Where did you find him?"),
    ("user111", "At the shelter on Wenyi Road, he is ten weeks old"),
]


@pytest.fixture(scope="module")
def live_twin(tmp_path_factory):
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    folder = tmp_path_factory.mktemp("live")
    config = load_config(write_twin(folder))
    ingest_fixtures(config)
    index_corpus(config, progress=False)
    with serve(create_app(config)) as url:
        yield url, config


def corpus_state(config) -> tuple[int, str]:
    from twin.corpus import CorpusStore

    with CorpusStore(config.path("corpus")) as store:
        return store.stats()["messages"], store.content_hash()


def memory_count(url: str) -> int:
    ready = httpx.get(f"{url}/ready", timeout=30).json()
    return int(ready["memory"]["detail"].split()[1])


def test_posted_facts_are_retrieved_and_a_later_cli_ingest_adds_nothing(live_twin, tmp_path):
    url, config = live_twin
    body = json.dumps(chatlab_document(FACTS), ensure_ascii=False).encode()
    messages_before, _ = corpus_state(config)
    answer = httpx.post(f"{url}/v1/ingest", content=body, headers={**HEADERS, "Content-Type": "application/json"},
                        timeout=120)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["messages"] == 4 and result["new"] == 4 and result["memories_added"] >= 1
    assert result["format"] == "chatlab-json"
    assert corpus_state(config)[0] == messages_before + 4

    reply = httpx.post(f"{url}/v1/chat/completions", headers=HEADERS, timeout=120, json={
        "model": "twin", "messages": [{"role": "user", "content": "What did you name the corgi you adopted?"}],
        "twin_include_memories": True}).json()
    texts = [m["text"] for m in reply["twin_memories"]]
    assert any("Biscuit" in t and "corgi" in t for t in texts), texts

    # The same export on disk, through `twin ingest`: every id is already there.
    export = tmp_path / "Mia.json"
    export.write_bytes(body)
    from twin.cli import build_app

    run = CliRunner().invoke(build_app(), ["ingest", str(export), "--config", str(config.root / "twin.toml")])
    assert run.exit_code == 0, run.output
    assert "nothing new" in run.output
    assert corpus_state(config)[0] == messages_before + 4

    again = httpx.post(f"{url}/v1/ingest", content=body, headers=HEADERS, timeout=120).json()
    assert again["new"] == 0 and again["memories_added"] == 0  # posting twice is harmless too


def test_a_new_message_re_chunks_only_its_session(live_twin):
    url, config = live_twin
    later = [("wxid_mia", "Does Biscuit sleep through the night yet?"),
             ("user111", "Not yet, he cries at 3am but the crate helps")]
    doc = chatlab_document(later, start=NOW + 200, first_id=990100)  # same session as FACTS (gap < 1 h)
    before = memory_count(url)
    result = httpx.post(f"{url}/v1/ingest?format=chatlab-json", json=doc, headers=HEADERS, timeout=120).json()
    assert result["new"] == 2 and result["memories_added"] >= 1
    # the session's old window was replaced, not kept beside the new one
    assert memory_count(url) == before + result["memories_added"] - result["memories_removed"]
    hits = httpx.post(f"{url}/v1/memories/search", headers=HEADERS, timeout=60,
                      json={"query": "Biscuit crate cries at night", "k": 3}).json()["data"]
    assert "crate" in hits[0]["text"]


def test_malformed_body_is_400_and_changes_nothing(live_twin):
    url, config = live_twin
    state, memories = corpus_state(config), memory_count(url)
    broken = json.dumps(chatlab_document(FACTS, first_id=991000))[:-40].encode()  # cut off mid-message
    answer = httpx.post(f"{url}/v1/ingest?format=chatlab-json", content=broken, headers=HEADERS, timeout=60)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "invalid JSON" in error["message"] and "body.json" in error["message"]  # the parser's words
    assert "twin-ingest-" not in error["message"]  # no temporary path leaks out
    doc = chatlab_document(FACTS, first_id=992000)
    doc["messages"][2]["timestamp"] = "yesterday"  # valid JSON, one bad field: the whole body is refused
    answer = httpx.post(f"{url}/v1/ingest", json=doc, headers=HEADERS, timeout=60)
    assert answer.status_code == 400 and "messages[2].timestamp" in answer.json()["error"]["message"]
    unknown = httpx.post(f"{url}/v1/ingest", json={"hello": "world"}, headers=HEADERS, timeout=60)
    assert unknown.status_code == 400 and "?format=" in unknown.json()["error"]["message"]
    prose = httpx.post(f"{url}/v1/ingest", content=b"Dear diary, today I went hiking.", headers=HEADERS, timeout=60)
    assert prose.status_code == 400 and "?format=documents" in prose.json()["error"]["message"]
    assert httpx.post(f"{url}/v1/ingest?format=nope", content=b"{}", headers=HEADERS).status_code == 400
    too_big = httpx.post(f"{url}/v1/ingest", content=b"[" + b" " * config.service.max_body_bytes + b"]",
                         headers=HEADERS, timeout=60)
    assert too_big.status_code == 413  # service.max_body_bytes, as for every route
    assert corpus_state(config) == state and memory_count(url) == memories


def test_ingest_needs_the_api_key(live_twin):
    url, _ = live_twin
    body = json.dumps(chatlab_document(FACTS, first_id=993000)).encode()
    assert httpx.post(f"{url}/v1/ingest", content=body, timeout=30).status_code == 401


def fake_weflow(chats: dict[str, dict]):
    """A WeFlow-like ChatLab pull server over `chats` (session id -> ChatLab document); records
    every messages request it answers."""
    app = FastAPI()
    app.state.requests = []

    @app.get("/api/v1/sessions")
    def sessions(request: Request):
        assert request.headers.get("authorization") == "Bearer weflow-token"
        return {"sessions": [{"id": sid, "name": doc["meta"]["name"], "platform": "wechat", "type": doc["meta"]["type"]}
                             for sid, doc in chats.items()]}

    @app.get("/api/v1/sessions/{sid}/messages")
    def messages(sid: str, since: int = 0, offset: int = 0, limit: int = 100):
        app.state.requests.append((sid, since, offset, limit))
        doc = chats[sid]
        newer = [m for m in doc["messages"] if m["timestamp"] >= since]
        page = newer[offset:offset + limit]
        more = offset + limit < len(newer)
        last = page[-1]["timestamp"] if page else since
        return {**doc, "messages": page,
                "sync": {"hasMore": more, "nextSince": since if more else last,
                         "nextOffset": offset + limit if more else 0, "watermark": last}}

    return app


def test_watch_pulls_pages_into_the_twin_and_resumes_from_its_cursor(live_twin):
    from twin.service.watch import Cursors, PullSource, TwinSink, pull_once

    url, config = live_twin
    trip = chatlab_document([("wxid_mia", "Which trail on Saturday?"),
                             ("user111", "The Jiuxi tea-field trail, then dumplings at Lao Zhang's"),
                             ("wxid_mia", "Perfect, I'll bring the thermos"),
                             ("user111", "Meet at the Hupao bus stop at 7:40")], start=NOW - 90_000, first_id=995000)
    chats = {"wxid_mia": trip}
    source_app = fake_weflow(chats)
    cursors = Cursors(config.path("data_dir") / "watch.json")
    with serve(source_app) as weflow:
        source, sink = PullSource(weflow, "weflow-token"), TwinSink(url, API_KEY)
        first = pull_once(source, sink, cursors, limit=3)  # two pages: 3 + 1
        assert (first.pages, first.messages, first.new) == (2, 4, 4) and first.memories_added >= 1
        assert Cursors(cursors.path).get(source.url, "wxid_mia") == (NOW - 90_000 + 90, 0)  # saved on disk
        # a new message arrives; the next round asks from the cursor and stores only it
        trip["messages"].append({"sender": "wxid_mia", "accountName": "Mia", "timestamp": NOW - 89_000, "type": 0,
                                 "content": "Running late, save me a dumpling", "platformMessageId": "995010"})
        second = pull_once(source, sink, Cursors(cursors.path), limit=3)
        assert second.new == 1 and second.messages == 2  # the newest second again (known id) + the new one
        assert source_app.state.requests[-1][1] == NOW - 90_000 + 90
        source.close()
        sink.close()
    hits = httpx.post(f"{url}/v1/memories/search", headers=HEADERS, timeout=60,
                      json={"query": "Jiuxi trail dumplings Hupao bus stop", "k": 3}).json()["data"]
    assert "Hupao" in hits[0]["text"]


def test_watch_for_chatlog_registers_nothing_and_explains_the_webhook(tmp_path):
    from twin.cli import build_app

    config = write_twin(tmp_path / "t")
    run = CliRunner().invoke(build_app(), ["watch", "http://127.0.0.1:5030", "--config", str(config),
                                           "--twin", "http://127.0.0.1:8000"])
    assert run.exit_code == 0, run.output
    assert "http://127.0.0.1:8000/v1/ingest?format=chatlog-json" in run.output and "webhook" in run.output
    assert not (tmp_path / "t" / ".twin" / "watch.json").exists()


def test_body_file_names_give_detection_a_suffix():
    from twin.service.live_ingest import body_file_name

    assert body_file_name(b"{}", None, "application/json; charset=utf-8", None) == "body.json"
    assert body_file_name(b"{}", "chatlab-jsonl", None, None) == "body.jsonl"
    assert body_file_name(b"Time,SenderName", None, "text/csv", None) == "body.csv"
    assert body_file_name(b"  [{\"seq\": 1}]", None, None, None) == "body.json"  # sniffed
    assert body_file_name(b"12/03/2024, 10:00 - Anna: hi", None, None, None) == "body.txt"
    # the export's own name (WhatsApp and WeChatMsg name the chat after the file), never a path
    assert body_file_name(b"x", None, None, "../../WhatsApp Chat with Anna.txt") == "WhatsApp Chat with Anna.txt"
    assert body_file_name(b"x", None, None, "C:\\exports\\张三_utf8.csv") == "张三_utf8.csv"


def chatlog_message(seq_second: int, sender: str, name: str, text: str, is_self: bool) -> dict:
    from datetime import datetime, timedelta, timezone

    when = datetime.fromtimestamp(seq_second, timezone(timedelta(hours=8))).isoformat()
    return {"seq": seq_second * 1000, "time": when, "talker": "7788@chatroom", "talkerName": "Cello class",
            "isChatRoom": True, "sender": sender, "senderName": name, "isSelf": is_self, "type": 1, "subType": 0,
            "content": text, "contents": {"host": "127.0.0.1:5030"}}


def test_a_chatlog_webhook_body_is_detected_and_matches_its_api_export(live_twin, tmp_path):
    url, config = live_twin
    messages = [chatlog_message(NOW - 50_000, "wxid_kai", "Kai", "Lesson moved to Thursday 6pm", False),
                chatlog_message(NOW - 49_970, "user111", "", "Thanks, I'll practise the Bach prelude till then", True)]
    hook = {"keyword": "", "lastTime": "", "length": 2, "messages": messages, "sender": "", "talker": "7788@chatroom"}
    result = httpx.post(f"{url}/v1/ingest", json=hook, headers=HEADERS, timeout=120).json()  # no ?format
    assert (result["format"], result["new"]) == ("chatlog-json", 2)
    export = tmp_path / "cello.json"  # the same messages from chatlog's API (a bare array)
    export.write_text(json.dumps([{k: v for k, v in m.items() if k != "contents"} for m in messages]), encoding="utf-8")
    from twin.cli import build_app

    run = CliRunner().invoke(build_app(), ["ingest", str(export), "--config", str(config.root / "twin.toml")])
    assert run.exit_code == 0 and "nothing new" in run.output, run.output


def test_without_a_memory_store_the_body_is_refused_and_nothing_stored(tmp_path):
    from twin.config import load_config
    from twin.service.app import create_app

    config = load_config(write_twin(tmp_path / "bare"))  # never indexed
    with serve(create_app(config)) as url:
        answer = httpx.post(f"{url}/v1/ingest", json=chatlab_document(FACTS), headers=HEADERS, timeout=120)
    assert answer.status_code == 503
    assert not config.path("corpus").exists() or corpus_state(config)[0] == 0

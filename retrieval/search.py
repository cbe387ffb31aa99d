"""Hybrid search: dense and lexical candidates fused by weighted reciprocal rank.

    score(m) = sum over lists L of  w_L / (rrf_k + rank_L(m))

Lists: dense and lexical under the caller's filters; when the question names a time
(retrieval/timeparse.py) and `time_mode` is "boost", the same two searches again restricted
to that time range, weighted by `time_weight` (so in-range memories rise, others stay
reachable); with "filter" the range becomes a hard filter. Fusion runs here, not in the
engine, so the edge shard and a Qdrant server rank identically. With `lexical_feedback` on, the
lexical searches run a second time with the question widened by the words of the best fused
hits (retrieval/feedback.py), and fusion uses those lists instead.
An optional reranker (a callable (query, texts) -> scores) reorders the fused top candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from twin.records import MemoryHit
from twin.retrieval.embedders import Embedder
from twin.retrieval.feedback import expanded_query
from twin.retrieval.lexical import LexicalEncoder, Sparse
from twin.retrieval.store import Candidate, ListQuery, MemoryFilter, MemoryStore, payload_memory
from twin.retrieval.time_phrases import DAY_SLACK, parse_time_range

Reranker = Callable[[str, Sequence[str]], Sequence[float]]


@dataclass
class FusionParams:
    dense_weight: float = 1.0
    sparse_weight: float = 3.0  # memory.sparse_weight
    rrf_k: int = 10
    candidates: int = 50  # per list
    time_mode: str = "boost"  # "boost" | "filter" | "off"
    time_weight: float = 1.0
    day_slack: int = DAY_SLACK  # memory.time_day_slack: days each side of a calendar day the question names
    lexical_coverage: float = 1.0  # exponent of the query-term coverage that scales lexical hits (0 = off)
    lexical_feedback: int = 12  # memory.lexical_feedback: the best this many fused hits widen the lexical query for a second search (0 = off)
    feedback_max_share: float = 0.3  # memory.lexical_feedback_max_share: words held by more of the read memories are not added


def rrf(lists: Sequence[tuple[float, Sequence[Candidate]]], rrf_k: int,
        scales: Sequence[dict[str, float] | None] | None = None) -> dict[str, float]:
    """Weighted reciprocal rank fusion; `scales[i]` (optional) multiplies list i's weight per candidate."""
    fused: dict[str, float] = {}
    for i, (weight, candidates) in enumerate(lists):
        if weight <= 0:
            continue
        scale = scales[i] if scales else None
        for rank, cand in enumerate(candidates, start=1):
            w = weight * scale.get(cand.id, 1.0) if scale else weight
            fused[cand.id] = fused.get(cand.id, 0.0) + w / (rrf_k + rank)
    return fused


def coverage_scale(store: MemoryStore, query: Sparse, lexical_lists: Sequence[Sequence[Candidate]], exponent: float,
                   depth: int, terms: dict[str, Sequence[int]] | None = None) -> dict[str, float]:
    """{id: (share of the query's lexical terms the memory holds) ** exponent} for lexical hits.

    A lexical hit that shares one common character or a name with the question (a Chinese
    question against English chats) ranks high in its list all the same, and at a lexical weight
    above the dense one it beats the dense best; scaling by coverage leaves full matches as they were.
    Measured on the bilingual fixture and LoCoMo (bench/memory_recall.py, tests/eval).
    Coverage is read for the first `depth` hits of each list (reading a point's terms costs
    ~15 us); deeper hits, which match worse, get the lowest coverage found there.
    `terms`: the terms already read ({id: term indexes}); hits of the head missing from it get the floor."""
    if exponent <= 0 or not query or not any(lexical_lists):
        return {}
    if terms is None:
        terms = store.lexical_terms(head_ids(lexical_lists, depth))
    head = {c.id for cands in lexical_lists for c in cands[:depth]}
    if not terms or not head.intersection(terms):
        return {}
    asked = set(query.indices)
    scale = {pid: (len(asked.intersection(terms[pid])) / len(asked)) ** exponent for pid in head if pid in terms}
    floor = min(scale.values())
    for cands in lexical_lists:
        for c in cands:
            scale.setdefault(c.id, floor)
    return scale


def head_ids(lexical_lists: Sequence[Sequence[Candidate]], depth: int) -> list[str]:
    return list(dict.fromkeys(c.id for cands in lexical_lists for c in cands[:depth]))


class HybridSearcher:
    def __init__(self, store: MemoryStore, embedder: Embedder, lexical: LexicalEncoder,
                 params: FusionParams | None = None, reranker: Reranker | None = None, rerank_depth: int = 30):
        self.store, self.embedder, self.lexical = store, embedder, lexical
        self.params = params or FusionParams()
        self.reranker, self.rerank_depth = reranker, rerank_depth

    def ranked_ids(self, query: str, k: int, flt: MemoryFilter | None = None, now: datetime | None = None,
                   query_vector=None) -> list[tuple[str, float]]:
        """(point id, fused score) best first, without payloads: what the benchmarks score."""
        p = self.params
        flt = flt or MemoryFilter()
        vector = self.embedder.embed_query(query) if query_vector is None else query_vector
        sparse = self.lexical.query(query)
        depth = max(p.candidates, k)
        weights: list[float] = []
        queries: list[ListQuery] = []
        when = (parse_time_range(query, now or datetime.now(UTC).astimezone(), p.day_slack)
                if p.time_mode != "off" else None)
        if when is not None and p.time_mode == "filter" and flt.start is None and flt.end is None:
            flt = replace(flt, start=when.start, end=when.end)
            when = None
        restrictions = [(flt, 1.0, depth)]
        if when is not None:  # the same two searches again, inside the time the question names,
            # `candidates` deep: they boost. As deep as top_k they moved no LoCoMo figure on either
            # half (R@150 and B8000 included) and made such a question 57 ms instead of 41 at 1M
            # memories, given its vector (bench/memory_latency.py's stores)
            restrictions.append((replace(flt, start=when.start, end=when.end), p.time_weight, p.candidates))
        for restrict, factor, limit in restrictions:
            if p.dense_weight > 0:
                weights.append(p.dense_weight * factor)
                queries.append(ListQuery(limit, vector=vector, flt=restrict))
            if p.sparse_weight > 0:
                weights.append(p.sparse_weight * factor)
                queries.append(ListQuery(limit, sparse=sparse, flt=restrict))
        # all lists in one store call: the embedded engine runs them as one batch
        lists = list(zip(weights, self.store.search_lists(queries), strict=True))
        if len(lists) == 1:  # one list: keep its own scores, they mean more than 1/rank
            return sorted(((c.id, c.score) for c in lists[0][1]), key=lambda item: (-item[1], item[0]))
        lexical = [i for i, q in enumerate(queries) if q.sparse is not None]
        terms = None  # the head of the lexical lists' terms, read once for coverage and feedback
        if lexical and sparse and (p.lexical_coverage > 0 or p.lexical_feedback > 0):
            terms = self.store.lexical_terms(head_ids([lists[i][1] for i in lexical], p.candidates))
        ranked = self._fuse(sparse, lexical, lists, terms)
        if p.lexical_feedback > 0 and lexical and terms:
            lists = self._feedback_lists(ranked, sparse, queries, lexical, lists, terms)
            ranked = self._fuse(sparse, lexical, lists, terms)
        return ranked

    def _fuse(self, sparse: Sparse, lexical: Sequence[int], lists: Sequence[tuple[float, Sequence[Candidate]]],
              terms: dict[str, Sequence[int]] | None) -> list[tuple[str, float]]:
        """RRF of `lists`, lexical hits scaled by their coverage of the question's own terms;
        ties broken by id so every backend and every reopen returns the same order."""
        scale = coverage_scale(self.store, sparse, [lists[i][1] for i in lexical], self.params.lexical_coverage,
                               self.params.candidates, terms)
        scales = [scale if i in lexical and scale else None for i in range(len(lists))]
        return sorted(rrf(lists, self.params.rrf_k, scales).items(), key=lambda item: (-item[1], item[0]))

    def _feedback_lists(self, ranked: Sequence[tuple[str, float]], sparse: Sparse, queries: Sequence[ListQuery],
                        lexical: Sequence[int], lists: list[tuple[float, Sequence[Candidate]]],
                        terms: dict[str, Sequence[int]]) -> list[tuple[float, Sequence[Candidate]]]:
        """`lists` with the head of each lexical list searched again for the question widened by
        the best fused hits' words (twin.retrieval.feedback); past the first `candidates` hits the
        list goes on as it was (a deeper second search costs more and moves little).
        `terms` gains the feedback hits' terms; hits of the new lists whose terms were not read
        get the coverage floor (no extra reads)."""
        p = self.params
        top = [pid for pid, _ in ranked[:p.lexical_feedback]]
        missing = [pid for pid in top if pid not in terms]
        if missing:
            terms.update(self.store.lexical_terms(missing))
        widened = expanded_query(sparse, [terms[pid] for pid in top if pid in terms], terms.values(),
                                 max_share=p.feedback_max_share)
        if widened is sparse:
            return lists
        again = self.store.search_lists([replace(queries[i], sparse=widened, limit=min(queries[i].limit, p.candidates))
                                         for i in lexical])
        lists = list(lists)
        for i, head in zip(lexical, again, strict=True):
            weight, before = lists[i]
            seen = {c.id for c in head}
            lists[i] = (weight, (list(head) + [c for c in before if c.id not in seen])[:max(len(before), len(head))])
        return lists

    def search(self, query: str, k: int = 8, flt: MemoryFilter | None = None, now: datetime | None = None,
               query_vector=None) -> list[MemoryHit]:
        ranked = self.ranked_ids(query, k, flt, now, query_vector)
        depth = max(k, self.rerank_depth) if self.reranker else k
        top = ranked[:depth]
        payloads = self.store.payloads([pid for pid, _ in top])
        hits = [MemoryHit(payload_memory(payloads[pid]), score, pid) for pid, score in top if pid in payloads]
        if self.reranker and hits:
            scores = self.reranker(query, [h.memory.text for h in hits])
            hits = [replace(h, score=float(s)) for h, s in zip(hits, scores, strict=True)]
            hits.sort(key=lambda h: -h.score)
        return hits[:k]


def cross_encoder_reranker(model: str) -> Reranker:
    """A sentence-transformers CrossEncoder (HF id or local path) as a rerank hook."""
    from sentence_transformers import CrossEncoder

    encoder = CrossEncoder(model, device="cpu")

    def rerank(query: str, texts: Sequence[str]) -> Sequence[float]:
        return [float(s) for s in encoder.predict([(query, t) for t in texts])]

    return rerank

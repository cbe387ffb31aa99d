"""Lexical sparse vectors that work for Chinese as well as English.

BM25 split in two: the term-frequency half (with length normalisation) is computed here into
the sparse vector's values; the IDF half is applied by Qdrant (`Modifier.Idf`) from the stored
collection, so adding memories keeps IDF right without re-encoding anything.

Tokenisers, chosen by measurement (bench/memory_recall.py --lexical):
  "cjk"   English words (lowercased, stopwords dropped, Porter-stemmed: +1.8 points of LoCoMo
          recall@10 over plural folding alone) plus CJK character unigrams and bigrams:
          Chinese has no spaces, bigrams approximate words.
  "edge"  qdrant-edge's own BM25 with its Multilingual tokenizer (Rust, lazy import).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from twin.stem import stem

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_PIECES = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")

# Function words that carry no topic; a short list keeps BM25 from matching on "the".
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being am do does did "
    "have has had i you he she it we they me him her us them my your his its our their this that these those "
    "what which who whom when where why how there here not no so than too very can could will would shall should "
    "may might must just about into over after before up down out off then once all any both each few more most "
    "other some such only own same s t don now get got go went yeah yes oh hey hi really like also".split()
)


# Chinese function characters and words: as unigrams/bigrams they match almost every message.
CJK_STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 嘛 是 在 我 你 他 她 它 们 这 那 就 都 也 还 和 与 有 没 不 个 么 哪 谁 把 被 给 "
    "什么 怎么 哪里 哪儿 多少 为什么 时候 我们 你们 他们 她们 这个 那个 一个 没有 就是 还是 可以 一下".split()
)


def cjk_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for piece in _PIECES.findall(text.lower()):
        if _IS_CJK.match(piece):
            tokens.extend(c for c in piece if c not in CJK_STOPWORDS)  # unigrams
            bigrams = (piece[i:i + 2] for i in range(len(piece) - 1))
            tokens.extend(b for b in bigrams if b not in CJK_STOPWORDS)
        elif piece not in STOPWORDS:
            tokens.append(stem(piece))  # cached: chat vocabularies repeat
    return tokens


def token_index(token: str) -> int:
    """Stable 31-bit index of a token (same on every machine and Python run)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


class LexicalEncoder:
    """Text -> sparse vector (BM25 TF part for documents, unit weights for queries)."""

    def __init__(self, kind: str = "cjk", k1: float = 1.2, b: float = 0.75, avg_len: float = 60.0):
        if kind not in ("cjk", "edge"):
            raise ValueError(f"unknown lexical tokenizer {kind!r} (use 'cjk' or 'edge')")
        self.kind, self.k1, self.b, self.avg_len = kind, k1, b, avg_len
        self._edge = None

    @property
    def id(self) -> str:
        # "cjk2": English words are stemmed; stores built by the earlier "cjk" must be rebuilt
        kind = "cjk2" if self.kind == "cjk" else self.kind
        return f"{kind}-bm25:k1={self.k1}:b={self.b}:avg={self.avg_len}"

    def _edge_bm25(self):
        if self._edge is None:
            from qdrant_edge import Bm25, Bm25Config, TokenizerType

            self._edge = Bm25(Bm25Config(k=self.k1, b=self.b, avg_len=self.avg_len,
                                         tokenizer=TokenizerType.Multilingual))
        return self._edge

    def document(self, text: str) -> Sparse:
        if self.kind == "edge":
            vec = self._edge_bm25().embed_document(text)
            return Sparse(list(vec.indices), list(vec.values))
        counts = Counter(token_index(t) for t in cjk_tokens(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
        items = sorted(counts.items())
        return Sparse([i for i, _ in items], [tf * (self.k1 + 1) / (tf + norm) for _, tf in items])

    def query(self, text: str) -> Sparse:
        if self.kind == "edge":
            vec = self._edge_bm25().embed_query(text)
            return Sparse(list(vec.indices), list(vec.values))
        indices = sorted({token_index(t) for t in cjk_tokens(text)})
        return Sparse(indices, [1.0] * len(indices))

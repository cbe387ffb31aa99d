"""Near-duplicate detection: MinHash over character 3-grams, LSH buckets, exact Jaccard to confirm.

Chat exports repeat themselves (forwarded messages, copy-pasted greetings, the same sticker
exchange every day); training on the same text many times teaches the model to parrot it.
Comparing every pair is quadratic, so candidates come from LSH buckets (16 bands of 4 rows, which
catches pairs above about 0.8 similarity with high probability) and are then checked exactly.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

BANDS, ROWS = 16, 4
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20240601)  # fixed: the same text gets the same signature every run
_A = _rng.integers(1, _PRIME, size=BANDS * ROWS, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, size=BANDS * ROWS, dtype=np.uint64)


def shingles(text: str, n: int = 3) -> set[str]:
    text = " ".join(text.split())
    if len(text) <= n:
        return {text}
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _signature(grams: set[str]) -> np.ndarray:
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") >> 3 for g in grams),
        dtype=np.uint64, count=len(grams),
    )
    # (a*x + b) with uint64 wrap-around is a fine universal hash family for this purpose.
    return (np.outer(_A, hashes) + _B[:, None]).min(axis=1)


class NearDuplicates:
    """Feed texts in order; `seen(text)` is True when an earlier kept text is at least `threshold` similar."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        self._kept: list[set[str]] = []

    def seen(self, text: str) -> bool:
        grams = shingles(text)
        signature = _signature(grams)
        keys = [(band, signature[band * ROWS : (band + 1) * ROWS].tobytes()) for band in range(BANDS)]
        candidates = {i for key in keys for i in self._buckets.get(key, ())}
        if any(jaccard(grams, self._kept[i]) >= self.threshold for i in candidates):
            return True
        index = len(self._kept)
        self._kept.append(grams)
        for key in keys:
            self._buckets[key].append(index)
        return False

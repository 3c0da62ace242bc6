"""What both retrieval benchmarks share (`retrieval.py` for LoCoMo, `madial.py` for MADial-Bench): the
metrics, the BM25 and dense baselines, and how memskill's search reply becomes a ranked list of the data
set's ids."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from memskill.engine import Memory
from memskill.text import content_tokens

STAGE = "retrieval"
"""The stage both data sets report under."""
K1 = 1.2
B = 0.75
MEMORY_LIMIT = 25
"""Memories and preferences asked for per question (the API's most)."""


# -- metrics --------------------------------------------------------------------------------------


def recall_at_k(gold: Iterable[str], ranked: Sequence[str], k: int) -> float:
    """Share of `gold` among the first `k` of `ranked` (0 when there is no gold)."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def ndcg_at_k(gold: Iterable[str], ranked: Sequence[str], k: int) -> float:
    """Binary nDCG@k: the ideal ranking puts min(k, |gold|) relevant items first."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    seen: set[str] = set()
    gain = 0.0
    for rank, item in enumerate(ranked[:k]):
        if item in wanted and item not in seen:
            gain += 1.0 / math.log2(rank + 2)
        seen.add(item)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(wanted))))
    return gain / ideal


def mean(values: Iterable[float]) -> float:
    """The mean of a metric over questions, to four decimals (0 for none)."""
    listed = list(values)
    return round(float(np.mean(listed)), 4) if listed else 0.0


# -- baselines ------------------------------------------------------------------------------------


class BM25:
    """Okapi BM25 over token lists (idf = ln(1 + (N - df + 0.5) / (df + 0.5)))."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = K1, b: float = B) -> None:
        self.k1 = k1
        self.b = b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = np.array([len(doc) for doc in documents], dtype=np.float64)
        self.average = float(self.lengths.mean()) if len(documents) and self.lengths.sum() else 1.0
        frequency: Counter[str] = Counter()
        for counts in self.counts:
            frequency.update(counts.keys())
        total = len(documents)
        self.idf = {term: math.log(1.0 + (total - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.counts), dtype=np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / self.average)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([counts.get(term, 0) for counts in self.counts], dtype=np.float64)
            out += idf * tf * (self.k1 + 1.0) / (tf + norm)
        return out

    def rank(self, query: Sequence[str]) -> list[int]:
        """Document indexes, best first (ties keep document order)."""
        scores = self.scores(query)
        return [int(i) for i in np.argsort(-scores, kind="stable")]


def bm25_tokens(text: str) -> list[str]:
    return content_tokens(text)


def dense_rank(query_vector: np.ndarray, document_vectors: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-(document_vectors @ query_vector), kind="stable")]


# -- memskill results → ranked source ids ---------------------------------------------------------


def search_all(memory: Memory, query: str, user: str) -> dict[str, Any]:
    """Everything memskill returns for `query`, no floor, memories and preferences at the API's limit."""
    return memory.search_memory(
        query=query,
        user_id=user,
        memory_limit_number=MEMORY_LIMIT,
        relativity=0,
        include_preference=True,
        preference_limit_number=MEMORY_LIMIT,
    )


def ranked_sources(found: dict[str, Any], source_ids: dict[str, str]) -> list[str]:
    """The ids (`source_ids` maps message ids to them) of the memories and preferences `found`, in order.

    Memories and preferences are merged by relativity (memories first on ties); each stands for its
    sources in the order it lists them; an id already listed is skipped.
    """
    entries = [
        (float(m.get("relativity") or 0.0), 0, n, m) for n, m in enumerate(found["memory_detail_list"])
    ]
    entries += [
        (float(p.get("relativity") or 0.0), 1, n, p) for n, p in enumerate(found["preference_detail_list"])
    ]
    entries.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    out: list[str] = []
    seen: set[str] = set()
    for _, _, _, entry in entries:
        for message_id in entry.get("sources", []):
            mapped = source_ids.get(message_id)
            if mapped is not None and mapped not in seen:
                seen.add(mapped)
                out.append(mapped)
    return out

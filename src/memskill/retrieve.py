"""Retrieve: hybrid search over one user's memories and skills.

For each list, candidates come from two searches — exact vector similarity and BM25 over the
jieba-segmented full-text index — and are fused into one score, `relativity` in [0, 1]:

    relativity = clip(VECTOR_WEIGHT * calibrated_cosine + LEXICAL_WEIGHT * query_coverage, 0, 1)

`calibrated_cosine` maps the embedder's cosine onto [0, 1] (unrelated texts sit near 0.1 for the
offline embedder, paraphrases above 0.6); `query_coverage` is the share of the query's content words
found in the candidate. Both are properties of the (query, item) pair alone, so a relativity means the
same thing for every user and does not depend on how many items a user has. Candidates below the floor
are dropped; the rest are ordered by relativity, with reciprocal-rank fusion of the two searches
breaking ties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from memskill.models import Scope
from memskill.stores.base import Store
from memskill.text import content_tokens, match_query

VECTOR_WEIGHT = 0.75
LEXICAL_WEIGHT = 0.35
COSINE_ZERO = 0.15
"""Cosine at which calibrated similarity is 0 (unrelated pairs of the offline embedder sit around here)."""
COSINE_ONE = 0.75
"""Cosine at which calibrated similarity reaches 1 (close paraphrases)."""
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """One retrieved id with its fused relevance."""

    id: str
    relativity: float
    cosine: float
    coverage: float


@dataclass(frozen=True)
class Query:
    """A query prepared once per search: its text, vector, FTS expression and content words."""

    text: str
    vector: np.ndarray
    match: str | None
    words: frozenset[str]

    @classmethod
    def build(cls, text: str, embed: Callable[[Sequence[str]], np.ndarray]) -> Query:
        return cls(
            text=text,
            vector=embed([text])[0],
            match=match_query(text),
            words=frozenset(content_tokens(text)),
        )


def calibrate_cosine(cosine: float) -> float:
    return float(np.clip((cosine - COSINE_ZERO) / (COSINE_ONE - COSINE_ZERO), 0.0, 1.0))


def coverage(query_words: frozenset[str], text: str) -> float:
    """Share of the query's content words that occur in `text` (0 when the query has none)."""
    if not query_words:
        return 0.0
    present = set(content_tokens(text))
    return len(query_words & present) / len(query_words)


def relativity(cosine: float, lexical: float) -> float:
    return float(np.clip(VECTOR_WEIGHT * calibrate_cosine(cosine) + LEXICAL_WEIGHT * lexical, 0.0, 1.0))


def hybrid_search(
    store: Store,
    scope: Scope,
    table: str,
    kind: str,
    query: Query,
    texts: Callable[[Sequence[str]], dict[str, str]],
    limit: int,
    floor: float,
    pool: int = 50,
) -> list[Hit]:
    """Top `limit` hits at or above `floor` for one list (`table` items of `kind`, or skills).

    `texts` returns the searchable text of candidate ids, used for the lexical coverage.
    """
    if limit <= 0:
        return []
    size = max(pool, limit * 3)
    by_vector = store.vector_search(scope, table, kind, query.vector, size)
    by_keyword = store.keyword_search(scope, table, kind, query.match, size) if query.match else []
    rrf: dict[str, float] = {}
    for ranked in (by_vector, by_keyword):
        for rank, hit in enumerate(ranked):
            rrf[hit.id] = rrf.get(hit.id, 0.0) + 1.0 / (RRF_K + rank + 1)
    if not rrf:
        return []
    cosines = {hit.id: hit.score for hit in by_vector}
    missing = [i for i in rrf if i not in cosines]
    if missing:
        dim = int(query.vector.shape[0])
        for item_id, vector in store.vectors_of(table, missing, dim).items():
            cosines[item_id] = float(vector @ query.vector)
    candidate_texts = texts(list(rrf))
    hits: list[Hit] = []
    for item_id in rrf:
        cosine = cosines.get(item_id, 0.0)
        lexical = coverage(query.words, candidate_texts.get(item_id, ""))
        score = relativity(cosine, lexical)
        if score >= floor:
            hits.append(Hit(item_id, score, cosine, lexical))
    hits.sort(key=lambda hit: (-round(hit.relativity, 6), -rrf[hit.id]))
    return hits[:limit]

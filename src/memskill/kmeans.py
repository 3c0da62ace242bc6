"""Batch clustering of texts (numpy only): how many groups a set of texts falls into and which.

- **Batch** (`cluster_texts`, `cluster_vectors`): spherical k-means (cosine) seeded by greedy
  k-means++, several restarts, the restart with the highest total similarity wins. Texts are
  embedded and joined with tf-idf word features (jieba tokens for Chinese, words otherwise) after
  the embedding's mean direction is removed, which spreads the crowded embedding space apart.
- **Choosing k** (`choose_k`): the vectors (a sample when there are many) are over-clustered with
  k-means into about `len / overcluster_ratio` small groups; the groups are merged by exact average
  linkage (the mean cosine of all pairs across two groups is `sum_a · sum_b / (n_a n_b)` for unit
  rows, so merging only adds sums) until no pair of groups is more similar than `merge_similarity`.
  k is the number of groups left that hold at least `min_group_fraction` of the points; tiny
  leftovers are outliers that k-means later attaches to their nearest cluster.

Used by `memskill cluster` and the clustering bench; a user's tasks join clusters one by one
(`cluster.Chooser`). All results are deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memskill.providers.embedders import Embedder, normalise_rows
from memskill.text import content_tokens


@dataclass(frozen=True)
class ClusterSettings:
    """Knobs of batch clustering; the defaults were tuned on the allowed tuning splits."""

    restarts: int = 4
    """k-means runs from different seeds; the most compact result is kept."""
    max_iterations: int = 60
    """Upper bound on k-means iterations per run (runs usually converge well before)."""
    lexical_weight: float = 0.25
    """Share of the squared norm given to tf-idf words in `cluster_texts` (0 = embeddings only)."""
    remove_mean: bool = True
    """Subtract the mean embedding before clustering texts, so their differences dominate."""
    sample_size: int = 4000
    """`choose_k` looks at a random sample of at most this many vectors."""
    overcluster_ratio: float = 12.0
    """`choose_k` first splits the sample into about `len / overcluster_ratio` small groups."""
    merge_similarity: float = 0.45
    """Groups merge while their average pairwise cosine is at least this."""
    min_group_fraction: float = 0.002
    """A merged group counts towards k when it holds this share of the sample (and 2+ points)."""


# -- k-means -------------------------------------------------------------------------------------


def _seed_centroids(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++: each new seed is the best of a few distance-weighted candidates."""
    count = len(vectors)
    chosen = [int(rng.integers(count))]
    distance = np.maximum(0.0, 1.0 - vectors @ vectors[chosen[0]])
    trials = 2 + int(math.log(k))
    for _ in range(1, k):
        total = float(distance.sum())
        if total <= 0:
            candidates = rng.choice(count, size=min(count, trials), replace=False)
        else:
            candidates = rng.choice(count, size=min(count, trials), p=distance / total)
        candidate_distance = np.minimum(distance[:, None], 1.0 - vectors @ vectors[candidates].T)
        best = int(np.argmin(candidate_distance.sum(axis=0)))
        chosen.append(int(candidates[best]))
        distance = np.maximum(0.0, candidate_distance[:, best])
    return vectors[chosen].copy()


def _kmeans_run(
    vectors: np.ndarray, k: int, rng: np.random.Generator, iterations: int
) -> tuple[np.ndarray, float]:
    """One spherical k-means run: labels and the total cosine of points to their centroids."""
    centroids = _seed_centroids(vectors, k, rng)
    labels = np.full(len(vectors), -1)
    rows = np.arange(len(vectors))
    for _ in range(iterations):
        similarity = vectors @ centroids.T
        new_labels = similarity.argmax(axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, vectors)
        empty = ~np.any(sums, axis=1)
        if empty.any():  # re-seed an emptied cluster with the worst-fitting points
            worst = np.argsort(similarity[rows, labels])[: int(empty.sum())]
            sums[empty] = vectors[worst]
        centroids = normalise_rows(sums)
    score = float((vectors @ centroids.T)[rows, labels].sum())
    return labels, score


def _kmeans(vectors: np.ndarray, k: int, seed: int, restarts: int, iterations: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    best_labels, best_score = np.zeros(len(vectors), dtype=np.int64), -np.inf
    for _ in range(max(1, restarts)):
        labels, score = _kmeans_run(vectors, k, rng, iterations)
        if score > best_score:
            best_labels, best_score = labels, score
    return np.unique(best_labels, return_inverse=True)[1].astype(np.int64)


def cluster_vectors(
    vectors: np.ndarray,
    k: int | None = None,
    settings: ClusterSettings = ClusterSettings(),
    seed: int = 0,
) -> np.ndarray:
    """Cluster L2-normalised rows into labels 0..k-1 (k chosen by `choose_k` when None)."""
    matrix = normalise_rows(np.asarray(vectors, dtype=np.float32))
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.int64)
    if k is None:
        k = choose_k(matrix, settings, seed)
    k = max(1, min(int(k), len(matrix)))
    if k == 1:
        return np.zeros(len(matrix), dtype=np.int64)
    return _kmeans(matrix, k, seed, settings.restarts, settings.max_iterations)


# -- choosing k -----------------------------------------------------------------------------------


def _average_linkage_count(
    vectors: np.ndarray, labels: np.ndarray, merge_similarity: float, min_size: float
) -> int:
    """Merge groups by average linkage down to `merge_similarity`; count groups of `min_size`+."""
    groups = int(labels.max()) + 1
    sums = np.zeros((groups, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, vectors)
    sizes = np.bincount(labels, minlength=groups).astype(np.float64)
    similarity = (sums @ sums.T) / np.outer(sizes, sizes)
    np.fill_diagonal(similarity, -np.inf)
    active = np.ones(groups, dtype=bool)
    for _ in range(groups - 1):
        first, second = divmod(int(np.argmax(similarity)), groups)
        if similarity[first, second] < merge_similarity:
            break
        sums[first] += sums[second]
        sizes[first] += sizes[second]
        active[second] = False
        row = (sums @ sums[first]) / (sizes * sizes[first])
        row[~active] = -np.inf
        row[first] = -np.inf
        similarity[first], similarity[:, first] = row, row
        similarity[second], similarity[:, second] = -np.inf, -np.inf
    return max(1, int(np.count_nonzero(sizes[active] >= min_size)))


def choose_k(vectors: np.ndarray, settings: ClusterSettings = ClusterSettings(), seed: int = 0) -> int:
    """The number of clusters in `vectors`, from over-clustering then average-linkage merging."""
    matrix = normalise_rows(np.asarray(vectors, dtype=np.float32))
    count = len(matrix)
    if count < 3:
        return count
    if count > settings.sample_size:
        rng = np.random.default_rng(seed)
        matrix = matrix[np.sort(rng.choice(count, size=settings.sample_size, replace=False))]
    groups = max(2, min(len(matrix), round(len(matrix) / settings.overcluster_ratio)))
    labels = _kmeans(matrix, groups, seed, restarts=1, iterations=settings.max_iterations)
    min_size = max(2.0, settings.min_group_fraction * len(matrix))
    return _average_linkage_count(matrix, labels, settings.merge_similarity, min_size)


# -- texts -----------------------------------------------------------------------------------------


def lexical_features(texts: Sequence[str], min_document_frequency: int = 2) -> np.ndarray:
    """Row-normalised tf-idf (sub-linear term frequency) over content tokens seen in 2+ texts."""
    token_lists = [content_tokens(text) for text in texts]
    frequency = Counter(token for tokens in token_lists for token in set(tokens))
    vocabulary = {
        token: column
        for column, token in enumerate(t for t, seen in frequency.items() if seen >= min_document_frequency)
    }
    matrix = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
    if not vocabulary:
        return matrix
    inverse = np.zeros(len(vocabulary), dtype=np.float32)
    for token, column in vocabulary.items():
        inverse[column] = math.log((1 + len(texts)) / (1 + frequency[token])) + 1.0
    for row, tokens in enumerate(token_lists):
        for token, times in Counter(tokens).items():
            position = vocabulary.get(token)
            if position is not None:
                matrix[row, position] = 1.0 + math.log(times)
    return normalise_rows(matrix * inverse)


def text_features(
    texts: Sequence[str], embeddings: np.ndarray, settings: ClusterSettings = ClusterSettings()
) -> np.ndarray:
    """Embeddings (mean removed when set) joined with weighted tf-idf features, rows normalised."""
    matrix = np.asarray(embeddings, dtype=np.float32)
    if settings.remove_mean and len(matrix) > 1:
        matrix = normalise_rows(matrix - matrix.mean(axis=0))
    weight = min(max(settings.lexical_weight, 0.0), 1.0)
    if weight == 0.0:
        return normalise_rows(matrix)
    lexical = lexical_features(texts)
    joined = np.hstack([matrix * math.sqrt(1.0 - weight), lexical * math.sqrt(weight)])
    return normalise_rows(joined)


def cluster_texts(
    texts: Sequence[str],
    embedder: Embedder,
    k: int | None = None,
    settings: ClusterSettings = ClusterSettings(),
) -> list[int]:
    """Cluster texts: k from the embeddings when not given, then k-means on the joined features."""
    if not texts:
        return []
    embeddings = normalise_rows(np.asarray(embedder.embed(list(texts)), dtype=np.float32))
    if k is None:
        k = choose_k(embeddings, settings)
    labels = cluster_vectors(text_features(texts, embeddings, settings), k, settings)
    return [int(label) for label in labels]

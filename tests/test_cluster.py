from __future__ import annotations

import numpy as np
import pytest

from memskill.cluster import (
    assign,
    choose_k,
    cluster_texts,
    cluster_vectors,
    update_centroid,
)
from memskill.providers.embedders import OfflineEmbedder


def blobs(k: int, per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 32))
    points = np.concatenate([centre + 0.05 * rng.normal(size=(per, 32)) for centre in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), np.repeat(np.arange(k), per)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return all(len(set(b[a == label])) == 1 for label in set(a)) and len(set(a)) == len(set(b))


def test_well_separated_blobs_are_recovered_with_their_number() -> None:
    points, truth = blobs(5, 20)
    assert choose_k(points) == 5
    labels = cluster_vectors(points)
    assert same_partition(labels, truth)


def test_given_k_is_respected_and_labels_are_dense() -> None:
    points, _ = blobs(4, 10)
    labels = cluster_vectors(points, k=6)
    assert labels.shape == (40,) and set(labels.tolist()) == set(range(6))
    assert set(cluster_vectors(points, k=1).tolist()) == {0}
    with pytest.raises(ValueError):
        cluster_vectors(points, k=41)


def test_clustering_is_deterministic() -> None:
    points, _ = blobs(6, 15, seed=3)
    assert np.array_equal(cluster_vectors(points), cluster_vectors(points))


def test_tiny_inputs() -> None:
    assert cluster_vectors(np.zeros((0, 8), dtype=np.float32)).tolist() == []
    one = np.ones((1, 8), dtype=np.float32) / np.sqrt(8)
    assert cluster_vectors(one).tolist() == [0]


def test_assign_joins_close_and_opens_for_far_or_none() -> None:
    assert assign(np.ones(4) / 2, np.zeros((0, 4))).index is None
    centroids = np.eye(4, dtype=np.float32)
    close = np.array([0.95, 0.1, 0.0, 0.0], dtype=np.float32)
    close /= np.linalg.norm(close)
    assert assign(close, centroids).index == 0
    far = np.full(4, 0.5, dtype=np.float32)  # cosine 0.5 to every centroid
    result = assign(far, centroids, threshold=0.6)
    assert result.index is None and result.similarity == pytest.approx(0.5)
    assert assign(far, centroids, threshold=0.4).index == 0


def test_update_centroid_is_a_normalised_running_mean() -> None:
    centroid = update_centroid(
        np.array([1.0, 0.0], dtype=np.float32), 1, np.array([0.0, 1.0], dtype=np.float32)
    )
    assert np.linalg.norm(centroid) == pytest.approx(1.0)
    assert centroid[0] == pytest.approx(centroid[1])


def test_chinese_task_requests_group_by_kind(offline_embedder: OfflineEmbedder) -> None:
    texts = [
        "帮我规划成都5天的旅行行程",
        "清明节去云南玩7天，帮我排一下行程",
        "帮我写一封请假邮件",
        "给经理写一封邮件说明项目延期",
    ]
    labels = cluster_texts(texts, offline_embedder, k=2)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    vectors = offline_embedder.embed(texts)
    trip = assign(vectors[1], vectors[0][None, :])
    email = assign(vectors[2], vectors[0][None, :])
    assert email.index is None
    assert trip.similarity > email.similarity + 0.1

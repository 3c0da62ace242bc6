"""Tests of the clustering stage: batch k-means, choice of k, incremental assignment."""

from __future__ import annotations

import numpy as np
import pytest

from memskill.cluster import (
    ASSIGN_THRESHOLD,
    Assignment,
    ClusterSettings,
    assign,
    choose_k,
    cluster_texts,
    cluster_vectors,
    update_centroid,
)
from memskill.providers.embedders import HashingEmbedder, normalise_rows


def blobs(centres: int, per_centre: int, spread: float = 0.08, dim: int = 64, seed: int = 3):
    """Unit vectors around `centres` random orthogonal directions, with their true labels."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.normal(size=(dim, centres)))[0].T
    labels = np.repeat(np.arange(centres), per_centre)
    points = directions[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return normalise_rows(points[order]), labels[order]


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """True when two labelings group the items identically, whatever the label numbers."""
    pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    return len(pairs) == len(set(first.tolist())) == len(set(second.tolist()))


def test_labels_have_one_entry_per_row_and_cover_zero_to_k():
    vectors, _ = blobs(5, 20)
    labels = cluster_vectors(vectors, k=5)
    assert labels.shape == (100,)
    assert labels.dtype.kind == "i"
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3, 4]


def test_same_seed_gives_the_same_labels():
    vectors = normalise_rows(np.random.default_rng(0).normal(size=(120, 32)))
    first = cluster_vectors(vectors, k=6, seed=7)
    second = cluster_vectors(vectors, k=6, seed=7)
    assert np.array_equal(first, second)
    assert choose_k(vectors, seed=7) == choose_k(vectors, seed=7)


@pytest.mark.parametrize("k", [1, 2, 7, 15])
def test_given_k_is_respected(k):
    vectors = normalise_rows(np.random.default_rng(1).normal(size=(60, 16)))
    labels = cluster_vectors(vectors, k=k)
    assert len(set(labels.tolist())) == k
    assert labels.min() == 0 and labels.max() == k - 1


def test_k_larger_than_the_number_of_rows_is_capped():
    vectors = normalise_rows(np.random.default_rng(2).normal(size=(4, 8)))
    assert sorted(cluster_vectors(vectors, k=10).tolist()) == [0, 1, 2, 3]


def test_empty_input_gives_no_labels():
    assert cluster_vectors(np.zeros((0, 8), dtype=np.float32)).shape == (0,)
    assert cluster_texts([], HashingEmbedder()) == []


@pytest.mark.parametrize(("centres", "per_centre"), [(3, 30), (8, 25), (20, 15)])
def test_separated_blobs_recover_k_and_labels(centres, per_centre):
    vectors, truth = blobs(centres, per_centre)
    assert choose_k(vectors) == centres
    labels = cluster_vectors(vectors)
    assert same_partition(labels, truth)


def test_unequal_blob_sizes_are_recovered():
    big, big_truth = blobs(2, 80, seed=5)
    small, small_truth = blobs(2, 10, seed=6)  # other random directions, nearly orthogonal in 64-d
    vectors = np.vstack([big, small])
    truth = np.concatenate([big_truth, small_truth + 2])
    labels = cluster_vectors(vectors)
    assert same_partition(labels, truth)


def test_choose_k_samples_large_inputs():
    vectors, _ = blobs(6, 200)
    settings = ClusterSettings(sample_size=300)
    assert choose_k(vectors, settings) == 6


def test_cluster_texts_groups_near_duplicates_with_the_hashing_embedder():
    texts = [
        "reset my password please",
        "please reset my password",
        "how do I reset my password",
        "帮我规划成都旅行行程",
        "帮我规划云南旅行行程",
        "帮我规划西安旅行行程",
    ]
    labels = cluster_texts(texts, HashingEmbedder(), k=2)
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] == labels[5]
    assert labels[0] != labels[3]


def test_assign_opens_a_new_cluster_when_there_are_no_centroids():
    vector = normalise_rows(np.ones((1, 8)))[0]
    assert assign(vector, np.zeros((0, 8), dtype=np.float32)) == Assignment(None, 0.0)


def test_assign_picks_the_most_similar_centroid_above_the_threshold():
    centroids = np.eye(4, dtype=np.float32)
    vector = normalise_rows(np.array([[0.2, 0.9, 0.1, 0.0]]))[0]
    result = assign(vector, centroids)
    assert result.index == 1
    assert result.similarity == pytest.approx(float(vector[1]))


def test_assign_refuses_a_far_vector():
    centroids = np.eye(4, dtype=np.float32)[:2]
    far = normalise_rows(np.array([[0.1, 0.1, 1.0, 1.0]]))[0]
    result = assign(far, centroids)
    assert result.index is None
    assert 0.0 < result.similarity < ASSIGN_THRESHOLD


def test_assign_threshold_is_inclusive_and_overridable():
    centroids = np.eye(2, dtype=np.float32)
    vector = np.array([0.6, 0.8], dtype=np.float32)
    assert assign(vector, centroids, threshold=0.8).index == 1
    assert assign(vector, centroids, threshold=0.81).index is None


def test_update_centroid_is_a_normalised_running_mean():
    centroid = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    vector = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    updated = update_centroid(centroid, 3, vector)
    assert np.linalg.norm(updated) == pytest.approx(1.0, abs=1e-6)
    expected = np.array([3.0, 1.0, 0.0]) / np.sqrt(10.0)
    assert np.allclose(updated, expected, atol=1e-6)


def test_update_centroid_stays_normalised_over_many_updates():
    rng = np.random.default_rng(4)
    centroid = normalise_rows(rng.normal(size=(1, 16)))[0]
    for count in range(1, 200):
        centroid = update_centroid(centroid, count, normalise_rows(rng.normal(size=(1, 16)))[0])
        assert np.linalg.norm(centroid) == pytest.approx(1.0, abs=1e-5)


def test_update_centroid_of_an_empty_cluster_is_the_vector():
    vector = np.array([0.0, 1.0], dtype=np.float32)
    assert np.allclose(update_centroid(np.array([1.0, 0.0]), 0, vector), vector)


@pytest.mark.slow
def test_chinese_task_titles_of_the_same_kind_join_and_others_do_not():
    from memskill.providers.embedders import OfflineEmbedder

    embedder = OfflineEmbedder()
    chengdu, yunnan, leave_email = embedder.embed(
        ["帮我规划成都5天的旅行行程", "清明节去云南玩7天，帮我排一下行程", "帮我写一封请假邮件"]
    )
    joined = assign(yunnan, chengdu[None, :])
    assert joined.index == 0
    assert assign(leave_email, chengdu[None, :]).index is None
    # with both clusters open, each new title goes to its own kind
    centroids = np.stack([chengdu, leave_email])
    assert assign(yunnan, centroids).index == 0
    other_email = embedder.embed(["写一封邮件向经理请两天假"])[0]
    assert assign(other_email, centroids).index == 1

"""`memskill bench calibrate`: the logistic fit, the floor it sets, and a small run end to end."""

from __future__ import annotations

import math

import numpy as np

from memskill.bench.calibrate import Search, at_floor, features, fit, run_calibration, with_floor
from memskill.providers.embedders import HashingEmbedder


def test_fit_recovers_the_weights_that_made_the_labels() -> None:
    rng = np.random.default_rng(3)
    cosine, coverage = rng.uniform(0, 1, 4000), rng.uniform(0, 1, 4000)
    x = features(cosine, coverage)
    truth = np.array([6.0, 3.0, 2.0])
    labels = (rng.uniform(0, 1, 4000) < 1 / (1 + np.exp(-(x @ truth - 5.0)))).astype(float)
    weights = fit([Search("locomo", x, labels)], l2=0.0)
    # The labels are about half positive, so weighing the classes the same barely moves the fit: the
    # fitted probabilities are those that made the labels (the interaction weight alone is loosely pinned).
    fitted = 1 / (1 + np.exp(-(x @ weights[:3] + weights[3])))
    true = 1 / (1 + np.exp(-(x @ truth - 5.0)))
    assert float(np.abs(fitted - true).mean()) < 0.03, weights
    assert abs(weights[0] - 6.0) < 1.0 and abs(weights[1] - 3.0) < 1.0


def test_the_floor_keeps_out_nine_in_ten_unrelated_questions() -> None:
    weights = np.array([8.0, 4.0, 0.0, 0.0])
    unrelated = [
        Search("unrelated-tune", features([c], [0.0]), np.zeros(1)) for c in np.linspace(0.1, 0.5, 10)
    ]
    model = with_floor(weights, unrelated)
    scores = sorted(model(float(s.features[0, 0]), 0.0) for s in unrelated)
    assert sum(score < 0.45 for score in scores) == 9 and scores[-1] >= 0.45
    assert at_floor(model, unrelated) == 0.9
    answered = Search("paraphrase-tune", features([0.6, 0.2], [0.5, 0.0]), np.array([1.0, 0.0]))
    assert at_floor(model, [answered]) == 1.0
    assert math.isclose(model(0.6, 0.5), 1 / (1 + math.exp(-(8 * 0.6 + 4 * 0.5 + model.bias))))


def test_a_small_run_plants_the_set_and_reports_both_splits() -> None:
    said: list[str] = []
    report = run_calibration(None, 300, lambda *a: None, said.append, embedder=HashingEmbedder())
    assert set(report["model"]) == {"cosine", "coverage", "both", "bias"}
    assert report["searches"] == 260  # every question of the set, both splits
    for split in ("tune", "test"):
        assert 0 <= report[split]["recall_at_floor"] <= 1
        assert 0 <= report[split]["unrelated_empty_rate"] <= 1
    assert report["tune"]["unrelated_empty_rate"] >= 0.9  # what the bias was chosen for
    assert any("paraphrase" in line for line in said)

"""Segmentation benchmark: Pk, WindowDiff and boundary F1 on hand-made labels, and the loaders via `run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memskill.bench import segmentation
from memskill.bench.report import Result, table
from memskill.bench.segmentation import (
    Dialogue,
    boundaries,
    evaluate,
    even_split,
    load_dialseg,
    load_tiage,
    matched_boundaries,
    no_boundary,
    pk,
    window_diff,
    window_size,
)
from memskill.errors import InvalidRequest
from memskill.providers.embedders import HashingEmbedder

ONE_BOUNDARY = [0, 0, 0, 1, 1, 1]


def test_pk_and_window_diff_are_zero_for_the_gold_segmentation() -> None:
    assert pk(ONE_BOUNDARY, ONE_BOUNDARY, 2) == 0.0
    assert window_diff(ONE_BOUNDARY, ONE_BOUNDARY, 2) == 0.0


def test_pk_and_window_diff_of_no_boundary() -> None:
    # Pairs (i, i+2) for i = 0..3: the gold splits (1, 3) and (2, 4), the hypothesis none.
    assert pk(ONE_BOUNDARY, [0] * 6, 2) == pytest.approx(2 / 4)
    assert window_diff(ONE_BOUNDARY, [0] * 6, 2) == pytest.approx(2 / 4)


def test_a_boundary_one_off_costs_two_windows() -> None:
    shifted = [0, 0, 1, 1, 1, 1]
    assert pk(ONE_BOUNDARY, shifted, 2) == pytest.approx(2 / 4)
    assert window_diff(ONE_BOUNDARY, shifted, 2) == pytest.approx(2 / 4)


def test_window_diff_counts_an_extra_boundary_that_pk_misses() -> None:
    reference = [0, 0, 0, 0, 1, 1, 1, 1]
    hypothesis = [0, 0, 0, 1, 2, 2, 2, 2]  # the gold boundary plus one just before it
    # Pk: only the pair (1, 3) disagrees; WindowDiff: windows starting at 1 and 2 hold 1 vs 0, 2 vs 1.
    assert pk(reference, hypothesis, 2) == pytest.approx(1 / 6)
    assert window_diff(reference, hypothesis, 2) == pytest.approx(2 / 6)


def test_window_size_is_half_the_mean_segment_length_and_at_least_two() -> None:
    assert window_size([0] * 10 + [1] * 10) == 5
    assert window_size([0] * 5 + [1] * 5) == 2  # 2.5 rounds half to even, as in segeval
    assert window_size([0] * 7 + [1] * 7) == 4  # 3.5 rounds to 4
    assert window_size([0, 0, 1, 1, 2, 2]) == 2  # 1 is raised to segeval's minimum
    assert window_size([0, 0, 1, 1, 2, 2], floor=1) == 1


def test_boundaries_and_exact_or_tolerant_matches() -> None:
    reference = [0, 0, 0, 1, 1, 2, 2]
    hypothesis = [0, 0, 1, 1, 1, 1, 2]
    assert boundaries(reference) == [3, 5]
    assert boundaries(hypothesis) == [2, 6]
    assert matched_boundaries(reference, hypothesis) == 0
    assert matched_boundaries(reference, hypothesis, tolerance=1) == 2


def test_a_predicted_boundary_matches_one_gold_boundary_only() -> None:
    assert matched_boundaries([0, 0, 0, 1, 2, 2], [0, 0, 0, 1, 1, 1], tolerance=1) == 1


def test_evaluate_pools_boundary_counts_over_dialogues() -> None:
    dialogues = [
        Dialogue(("a",) * 6, (0, 0, 0, 1, 1, 1)),
        Dialogue(("b",) * 6, (0, 0, 1, 1, 2, 2)),
    ]
    guesses = {"a": [0, 0, 0, 1, 1, 1], "b": [0, 0, 0, 0, 1, 1]}
    metrics, counts = evaluate(dialogues, lambda dialogue: guesses[dialogue.utterances[0]])
    assert counts == {"predicted": 2, "gold": 3, "found": 2, "found_within_1": 2}
    assert metrics["F1"] == pytest.approx(2 * 2 / (2 + 3))
    # Dialogue a is perfect; b (k = 2): pairs (0, 2) and (1, 3) disagree out of 4.
    assert metrics["Pk"] == pytest.approx((0 + 2 / 4) / 2)
    # With k = 1 allowed, b has k = 1: only the pair (1, 2) disagrees out of 5.
    assert metrics["Pk(k>=1)"] == pytest.approx((0 + 1 / 5) / 2)


def test_baselines() -> None:
    dialogue = Dialogue(("x",) * 7, (0, 0, 0, 1, 1, 2, 2))
    assert no_boundary(dialogue) == [0] * 7
    assert even_split(dialogue) == [0, 0, 0, 1, 1, 2, 2]
    metrics, _ = evaluate([dialogue], no_boundary)
    assert metrics["F1"] == 0.0


# -- loaders and run, on a tiny data folder of the same layout ------------------------------------

TIAGE_TEST = {
    "1": [
        ["do you like hiking in the mountains ?", "-1"],
        ["yes , i hike every weekend in the alps .", "0"],
        ["what is your favourite food ?", "1"],
        ["i love pizza with mushrooms .", "0"],
        ["pizza is great , i eat it on fridays .", "0"],
    ],
    "2": [
        ["i work as a nurse at night .", "-1"],
        ["night shifts must be hard .", "0"],
        ["my dog is a golden retriever .", "1"],
        ["dogs are the best pets .", "0"],
        ["do you play any music ?", "1"],
        ["i play the violin .", "0"],
    ],
}
DIALSEG = [
    {
        "dial_id": 0,
        "utterances": [
            "i need a cheap hotel in the north",
            "there are two guesthouses there",
            "book one for two nights",
            "booked, reference 123",
            "what is the weather in boston tomorrow",
            "sunny and warm in boston",
        ],
        "segments": [4, 2],
        "set": "test",
    },
    {
        "dial_id": 1,
        "utterances": [
            "remind me of my dentist appointment",
            "it is on friday at ten",
            "find a train to cambridge",
            "the 9:15 train leaves from platform two",
        ],
        "segments": [2, 2],
        "set": "test",
    },
]


def write_data(root: Path) -> Path:
    (root / "tiage").mkdir(parents=True)
    (root / "tiage" / "anno_test.json").write_text(json.dumps(TIAGE_TEST), encoding="utf-8")
    (root / "dialseg711").mkdir()
    (root / "dialseg711" / "dialseg_711.json").write_text(json.dumps(DIALSEG), encoding="utf-8")
    return root


def test_loaders_turn_annotations_into_segment_labels(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    tiage = load_tiage(data, "test")
    assert [d.labels for d in tiage] == [(0, 0, 1, 1, 1), (0, 0, 1, 1, 2, 2)]
    assert tiage[0].utterances[2] == "what is your favourite food ?"
    dialseg = load_dialseg(data)
    assert [d.labels for d in dialseg] == [(0, 0, 0, 0, 1, 1), (0, 0, 1, 1)]


def test_run_reports_ours_baselines_targets_and_anchors(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    calls: list[tuple[str, int, int]] = []
    results = segmentation.run(data, False, lambda *call: calls.append(call), embedder=HashingEmbedder())
    by_key = {(r.dataset, r.method): r for r in results}
    assert {r.dataset for r in results} == {"DialSeg711", "TIAGE test"}
    for dataset in ("DialSeg711", "TIAGE test"):
        for method in ("memskill", "memskill (peer settings)"):
            ours = by_key[(dataset, method)]
            assert ours.kind == "ours"
            assert set(ours.metrics) == {"Pk", "WD", "Pk(k>=1)", "WD(k>=1)", "F1", "F1(±1)"}
            assert all(0.0 <= value <= 1.0 for value in ours.metrics.values())
            assert ours.extra["dialogues"] == 2
        assert "k = half the mean gold segment length" in by_key[(dataset, "memskill")].note
        assert by_key[(dataset, "no boundary")].kind == "baseline"
        assert by_key[(dataset, "even split (gold count)")].kind == "baseline"
        assert by_key[(dataset, "target")].kind == "target"
    # TIAGE dialogue 1 (k = 2 after the floor): pairs (0, 2) and (1, 3) cross the boundary, 2 of 3; dialogue 2
    # (k = 2 after the floor): (0, 2), (1, 3), (2, 4) and (3, 5) all cross one, 4 of 4.
    assert by_key[("TIAGE test", "no boundary")].metrics["Pk"] == pytest.approx((2 / 3 + 1) / 2)
    assert by_key[("TIAGE test", "even split (gold count)")].metrics["F1"] == pytest.approx(2 * 2 / 6)
    assert by_key[("TIAGE test", "GreedySeg")].metrics == {"Pk": 0.490, "WD": 0.506}
    assert by_key[("DialSeg711", "CSM (unsupervised)")].metrics == {}
    assert ".24–.28" in by_key[("DialSeg711", "CSM (unsupervised)")].note
    assert by_key[("DialSeg711", "target")].metrics == {"Pk": 0.25}
    tiage_pk = by_key[("TIAGE test", "memskill (peer settings)")].metrics["Pk"]
    verdict = "met" if tiage_pk < 0.459 else "missed"
    assert f"memskill (peer settings) {verdict} ({tiage_pk:.3f})" in by_key[("TIAGE test", "target")].note
    assert calls and all(0 <= done <= total for _, done, total in calls)
    assert "segmentation — TIAGE test" in table(results)


def test_quick_run_samples_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_data(tmp_path)
    monkeypatch.setattr(segmentation, "QUICK_DIALSEG", 1)
    monkeypatch.setattr(segmentation, "QUICK_TIAGE", 1)
    results: list[Result] = segmentation.run(data, True, lambda *call: None, embedder=HashingEmbedder())
    assert {r.dataset for r in results} == {"DialSeg711 (quick: 1 of 2)", "TIAGE test (quick: 1 of 2)"}
    assert next(r for r in results if r.method == "memskill").extra["dialogues"] == 1


def test_missing_data_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"dialseg_711\.json"):
        segmentation.run(tmp_path, True, lambda *call: None, embedder=HashingEmbedder())

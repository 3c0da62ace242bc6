"""Clustering benchmark: ACC (Hungarian), NMI and ARI on small known cases, and the loaders via `run`."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from memskill.bench import clustering
from memskill.bench.clustering import (
    accuracy,
    ari,
    contingency,
    embed,
    load_banking77,
    load_clinc150,
    load_dstc11,
    max_weight_matching,
    nmi,
)
from memskill.bench.report import table
from memskill.errors import InvalidRequest
from memskill.providers.embedders import HashingEmbedder

GOLD = ["a", "a", "b", "b", "c", "c"]


def test_a_perfect_clustering_scores_one() -> None:
    assert accuracy(GOLD, GOLD) == 1.0
    assert nmi(GOLD, GOLD) == pytest.approx(1.0)
    assert ari(GOLD, GOLD) == pytest.approx(1.0)


def test_cluster_ids_do_not_matter() -> None:
    renamed = [2, 2, 0, 0, 1, 1]
    assert accuracy(GOLD, renamed) == 1.0
    assert nmi(GOLD, renamed) == pytest.approx(1.0)
    assert ari(GOLD, renamed) == pytest.approx(1.0)


def test_a_two_by_two_case_by_hand() -> None:
    gold, predicted = [0, 0, 1, 1], [0, 1, 1, 1]
    assert contingency(gold, predicted).tolist() == [[1, 1], [0, 2]]
    assert accuracy(gold, predicted) == pytest.approx(3 / 4)
    # I = 1/4 ln 2 + 1/4 ln 2/3 + 1/2 ln 4/3; H(gold) = ln 2; H(predicted) = H(1/4, 3/4).
    assert nmi(gold, predicted) == pytest.approx(0.343711, abs=1e-6)
    # One pair together in both, expected 2 * 3 / 6 = 1: no better than chance.
    assert ari(gold, predicted) == pytest.approx(0.0)


def test_ari_of_a_split_class() -> None:
    # Pairs together: 1 in both; gold 2, predicted 1, of 6: (1 - 1/3) / (3/2 - 1/3) = 4/7.
    assert ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)


def test_accuracy_leaves_extra_clusters_unmatched() -> None:
    assert accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(2 / 4)
    assert accuracy([0, 1, 2, 3], [0, 0, 0, 0]) == pytest.approx(1 / 4)


def test_one_cluster_has_no_information() -> None:
    assert nmi(GOLD, [0] * 6) == pytest.approx(0.0)
    assert ari(GOLD, [0] * 6) == pytest.approx(0.0)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (1, 4)])
def test_hungarian_matching_equals_brute_force(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        weights = rng.integers(0, 10, size=shape).astype(float)
        pairs = max_weight_matching(weights)
        rows, columns = shape
        assert len(pairs) == min(rows, columns)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        if rows <= columns:
            best = max(
                sum(weights[r, c] for r, c in enumerate(chosen))
                for chosen in itertools.permutations(range(columns), rows)
            )
        else:
            best = max(
                sum(weights[r, c] for c, r in enumerate(chosen))
                for chosen in itertools.permutations(range(rows), columns)
            )
        assert sum(weights[r, c] for r, c in pairs) == best


def test_embed_keeps_the_order_and_caches_by_content(tmp_path: Path) -> None:
    texts = ["a much longer text than the others", "short", "mid length", "short"]
    embedder = HashingEmbedder()
    vectors = embed(texts, embedder, cache=tmp_path)
    np.testing.assert_allclose(vectors, embedder.embed(texts), atol=1e-6)
    assert len(list(tmp_path.glob(f"{embedder.id}-*.npy"))) == 1
    np.testing.assert_array_equal(embed(texts, embedder, cache=tmp_path), vectors)
    embed(texts[:2], embedder, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2


# -- loaders and run, on a tiny data folder of the same layout ------------------------------------

INTENTS = {
    "CheckBalance": [
        "what is my account balance",
        "check balance of my account",
        "how much money is in my account",
    ],
    "LostCard": ["i lost my credit card", "my card was stolen", "block my lost card please"],
    "FindATM": ["where is the nearest atm", "find an atm near me", "atm close to my home"],
}


def labelled() -> list[tuple[str, str]]:
    return [(text, intent) for intent, texts in INTENTS.items() for text in texts]


def write_data(root: Path) -> Path:
    dstc = root / "dstc11-intent-clustering"
    dstc.mkdir(parents=True)
    for domain in ("banking", "finance"):
        turns = [
            {
                "turn_id": f"{domain}_{i}",
                "utterance": text,
                "reference_label": intent,
                "predicted_label": str(i % 2),
            }
            for i, (text, intent) in enumerate(labelled())
        ]
        (dstc / f"test-{domain}_gold_and_baseline.jsonl").write_text(
            "".join(json.dumps(turn) + "\n" for turn in turns), encoding="utf-8"
        )
        utterances = [
            {"utterance": f"{text}, thanks", "utterance_id": f"{domain}_{i}", "intent": intent}
            for i, (text, intent) in enumerate(labelled())
        ]
        (dstc / f"test-{domain}_test-utterances.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in utterances), encoding="utf-8"
        )
    (root / "banking77").mkdir()
    with (root / "banking77" / "test.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows([("what is my\nbalance", "balance"), *labelled()[1:]])
    (root / "clinc150").mkdir()
    clinc = {"test": [list(pair) for pair in labelled()], "oos_test": [["tell me a joke", "oos"]]}
    (root / "clinc150" / "data_full.json").write_text(json.dumps(clinc), encoding="utf-8")
    return root


def test_loaders(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    turns, utterances = load_dstc11(data, "banking")
    assert turns.labels[0] == "CheckBalance" and turns.baseline[:3] == ("0", "1", "0")
    assert utterances.texts[0] == "what is my account balance, thanks" and utterances.baseline == ()
    assert load_banking77(data, "test").texts[0] == "what is my\nbalance"
    clinc = load_clinc150(data, "test")
    assert len(clinc.texts) == 9 and "oos" not in clinc.labels


def test_run_reports_both_ks_the_official_baseline_anchors_and_target(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    calls: list[tuple[str, int, int]] = []
    results = clustering.run(data, False, lambda *call: calls.append(call), embedder=HashingEmbedder())
    by_key = {(r.dataset, r.method): r for r in results}
    turns = "DSTC11 banking test, Task 1 turns (9)"
    assert {r.dataset for r in results} == {
        turns,
        "DSTC11 banking test-utterances (9)",
        "DSTC11 finance test, Task 1 turns (9)",
        "DSTC11 finance test-utterances (9)",
        "Banking77 test",
        "CLINC150 test (no out-of-scope)",
    }
    own, gold = by_key[(turns, "memskill (its own k)")], by_key[(turns, "memskill (k = gold)")]
    assert own.extra["gold_k"] == 3 and f"k = {own.extra['chosen_k']} chosen (gold 3)" in own.note
    assert gold.note == "k = 3" and set(gold.metrics) == {"ACC", "NMI", "ARI"}
    # The baseline put texts 0, 2, 4, … in cluster "0" and the rest in "1".
    official = by_key[(turns, "official k-means baseline (recomputed)")]
    predicted = [str(i % 2) for i in range(9)]
    gold_labels = [intent for _, intent in labelled()]
    assert official.kind == "baseline"
    assert official.metrics["ACC"] == pytest.approx(accuracy(gold_labels, predicted)) == pytest.approx(4 / 9)
    assert by_key[(turns, "best team (published)")].metrics == {"ACC": 0.752, "NMI": 0.785, "ARI": 0.707}
    assert by_key[(turns, "target")].metrics == {"ACC": 0.65}
    assert ("DSTC11 banking test-utterances (9)", "official k-means baseline (recomputed)") not in by_key
    assert by_key[("Banking77 test", "k-means on all-mpnet-base-v2 (published)")].kind == "anchor"
    assert calls and all(0 <= done <= total for _, done, total in calls)
    assert "clustering — Banking77 test" in table(results)


def test_quick_run_is_dstc11_banking_only(tmp_path: Path) -> None:
    results = clustering.run(write_data(tmp_path), True, lambda *call: None, embedder=HashingEmbedder())
    assert {r.dataset for r in results} == {
        "DSTC11 banking test, Task 1 turns (9)",
        "DSTC11 banking test-utterances (9)",
    }


def test_missing_data_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"test-banking_gold_and_baseline\.jsonl"):
        clustering.run(tmp_path, True, lambda *call: None, embedder=HashingEmbedder())

"""Measure `memskill.cluster` on the intent-clustering sets under ../shared/data.

    python scripts/eval_cluster.py                  # tuning splits (default)
    python scripts/eval_cluster.py --report         # report-only test splits
    python scripts/eval_cluster.py --assign         # ASSIGN_THRESHOLD sweep on the tuning splits

Prints ACC (Hungarian matching), NMI and ARI with k = gold and with k chosen by `choose_k`.
Embeddings from `OfflineEmbedder` are cached as .npy files in a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from memskill.cluster import ClusterSettings, choose_k, cluster_vectors, text_features
from memskill.providers.embedders import OfflineEmbedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path(tempfile.gettempdir()) / "memskill-eval-cluster"

TUNING = ("dstc11-insurance-dev", "banking77-train", "clinc150-train")
REPORT = (
    "dstc11-banking-test",
    "dstc11-banking-test-utterances",
    "dstc11-finance-test",
    "dstc11-finance-test-utterances",
    "banking77-test",
    "clinc150-test",
)


# -- data ----------------------------------------------------------------------------------------


def _jsonl(path: Path, text_key: str, label_key: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row[text_key] for row in rows], [row[label_key] for row in rows]


def _csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["category"] for row in rows]


def _clinc(split: str) -> tuple[list[str], list[str]]:
    items = json.loads((DATA / "clinc150" / "data_full.json").read_text())[split]
    return [item[0] for item in items], [item[1] for item in items]


def load(name: str) -> tuple[list[str], list[str]]:
    """Texts and gold labels of one named set (CLINC150 test without out-of-scope)."""
    dstc = DATA / "dstc11-intent-clustering"
    loaders = {
        "dstc11-insurance-dev": lambda: _jsonl(
            dstc / "development_test-utterances.jsonl", "utterance", "intent"
        ),
        "dstc11-banking-test": lambda: _jsonl(
            dstc / "test-banking_gold_and_baseline.jsonl", "utterance", "reference_label"
        ),
        "dstc11-banking-test-utterances": lambda: _jsonl(
            dstc / "test-banking_test-utterances.jsonl", "utterance", "intent"
        ),
        "dstc11-finance-test": lambda: _jsonl(
            dstc / "test-finance_gold_and_baseline.jsonl", "utterance", "reference_label"
        ),
        "dstc11-finance-test-utterances": lambda: _jsonl(
            dstc / "test-finance_test-utterances.jsonl", "utterance", "intent"
        ),
        "banking77-train": lambda: _csv(DATA / "banking77" / "train.csv"),
        "banking77-test": lambda: _csv(DATA / "banking77" / "test.csv"),
        "clinc150-train": lambda: _clinc("train"),
        "clinc150-test": lambda: _clinc("test"),
    }
    return loaders[name]()


def embed_cached(texts: Sequence[str], embedder: OfflineEmbedder) -> np.ndarray:
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{embedder.id}-{digest}.npy"
    if path.exists():
        return np.load(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    vectors = np.concatenate([embedder.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
    np.save(path, vectors)
    return vectors


# -- metrics -------------------------------------------------------------------------------------


def max_weight_matching(weights: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian algorithm (shortest augmenting paths, O(n^2 m)) maximising the total weight."""
    matrix = np.asarray(weights, dtype=np.float64)
    flipped = matrix.shape[0] > matrix.shape[1]
    if flipped:
        matrix = matrix.T
    cost = matrix.max(initial=0.0) - matrix
    rows, columns = cost.shape
    row_potential, column_potential = np.zeros(rows + 1), np.zeros(columns + 1)
    owner = np.zeros(columns + 1, dtype=np.int64)  # column -> row (1-based, 0 = free)
    previous = np.zeros(columns + 1, dtype=np.int64)
    for row in range(1, rows + 1):
        owner[0], column = row, 0
        slack = np.full(columns + 1, np.inf)
        used = np.zeros(columns + 1, dtype=bool)
        while owner[column] != 0:
            used[column] = True
            current_row = owner[column]
            reduced = cost[current_row - 1] - row_potential[current_row] - column_potential[1:]
            free = ~used[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            previous[1:][better] = column
            candidates = np.where(free, slack[1:], np.inf)
            next_column = int(np.argmin(candidates)) + 1
            delta = candidates[next_column - 1]
            visited = np.flatnonzero(used)
            row_potential[owner[visited]] += delta
            column_potential[visited] -= delta
            slack[1:][free] -= delta
            column = next_column
        while column != 0:
            back = previous[column]
            owner[column] = owner[back]
            column = back
    pairs = [(int(owner[c]) - 1, c - 1) for c in range(1, columns + 1) if owner[c] != 0]
    return [(c, r) for r, c in pairs] if flipped else pairs


def contingency(gold: Sequence[object], predicted: Sequence[object]) -> np.ndarray:
    gold_index = np.unique(np.asarray(gold), return_inverse=True)[1]
    predicted_index = np.unique(np.asarray(predicted), return_inverse=True)[1]
    table = np.zeros((gold_index.max() + 1, predicted_index.max() + 1))
    np.add.at(table, (gold_index, predicted_index), 1)
    return table


def accuracy(gold: Sequence[object], predicted: Sequence[object]) -> float:
    table = contingency(gold, predicted)
    return float(sum(table[r, c] for r, c in max_weight_matching(table)) / table.sum())


def nmi(gold: Sequence[object], predicted: Sequence[object]) -> float:
    """Normalised mutual information with the arithmetic mean of the entropies."""
    joint = contingency(gold, predicted)
    joint /= joint.sum()
    gold_p, predicted_p = joint.sum(axis=1), joint.sum(axis=0)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log(joint[nonzero] / np.outer(gold_p, predicted_p)[nonzero])).sum())
    entropy = -float((gold_p * np.log(gold_p)).sum() + (predicted_p * np.log(predicted_p)).sum())
    return 2 * mutual / entropy if entropy > 0 else 1.0


def ari(gold: Sequence[object], predicted: Sequence[object]) -> float:
    table = contingency(gold, predicted)

    def pairs(values: np.ndarray) -> float:
        return float((values * (values - 1) / 2).sum())

    together = pairs(table)
    gold_pairs, predicted_pairs = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = gold_pairs * predicted_pairs / pairs(np.array([table.sum()]))
    maximum = (gold_pairs + predicted_pairs) / 2
    return (together - expected) / (maximum - expected) if maximum != expected else 1.0


# -- runs ----------------------------------------------------------------------------------------


def evaluate(name: str, settings: ClusterSettings, seeds: Sequence[int]) -> None:
    texts, gold = load(name)
    embeddings = embed_cached(texts, OfflineEmbedder())
    features = text_features(texts, embeddings, settings)
    gold_k = len(set(gold))
    for seed in seeds:
        started = time.perf_counter()
        chosen_k = choose_k(embeddings, settings, seed)
        choose_seconds = time.perf_counter() - started
        for label, k in (("gold k", gold_k), ("chosen k", chosen_k)):
            predicted = cluster_vectors(features, k, settings, seed)
            print(
                f"{name:32s} seed {seed} {label:8s} k={k:3d} (gold {gold_k:3d}) "
                f"ACC {accuracy(gold, predicted):.3f} NMI {nmi(gold, predicted):.3f} "
                f"ARI {ari(gold, predicted):.3f}  [choose_k {choose_seconds:.1f}s]",
                flush=True,
            )


def assign_sweep(seeds: Sequence[int], examples: int = 3) -> None:
    """Half the intents get a centroid from `examples` utterances; all others are assigned.

    An utterance of an intent with a centroid should join it; one of an intent without should open
    a new cluster. Precision = right joins / joins, recall = right joins / utterances that should
    join.
    """
    thresholds = np.round(np.arange(0.30, 0.71, 0.025), 3)
    totals = {float(t): np.zeros(3) for t in thresholds}
    for name in TUNING:
        texts, gold = load(name)
        vectors = embed_cached(texts, OfflineEmbedder())
        labels = np.asarray(gold)
        for seed in seeds:
            rng = np.random.default_rng(seed)
            intents = np.unique(labels)
            present = set(rng.choice(intents, size=len(intents) // 2, replace=False).tolist())
            centroids, owners, used = [], [], np.zeros(len(labels), dtype=bool)
            for intent in sorted(present):
                members = rng.choice(np.flatnonzero(labels == intent), size=examples, replace=False)
                used[members] = True
                mean = vectors[members].mean(axis=0)
                centroids.append(mean / np.linalg.norm(mean))
                owners.append(intent)
            queries = np.flatnonzero(~used)
            similarity = vectors[queries] @ np.stack(centroids).T
            best = similarity.argmax(axis=1)
            best_value = similarity[np.arange(len(queries)), best]
            right = np.asarray(owners)[best] == labels[queries]
            should = np.isin(labels[queries], list(present))
            for threshold in thresholds:
                joins = best_value >= threshold
                totals[float(threshold)] += (joins.sum(), (joins & right).sum(), should.sum())
    print("threshold  precision  recall  F1   (tuning splits pooled)")
    for threshold, (joins, right_joins, should_join) in totals.items():
        precision = right_joins / joins if joins else 1.0
        recall = right_joins / should_join
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(f"{threshold:9.3f}  {precision:9.3f}  {recall:6.3f}  {f1:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--report", action="store_true", help="run the test splits (report only)")
    parser.add_argument("--assign", action="store_true", help="sweep ASSIGN_THRESHOLD on tuning splits")
    parser.add_argument("--sets", help="comma-separated set names instead of the defaults")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--lexical-weight", type=float, help="override ClusterSettings.lexical_weight")
    parser.add_argument("--keep-mean", action="store_true", help="do not remove the mean embedding")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.assign:
        assign_sweep(seeds)
        return 0
    settings = ClusterSettings()
    if args.lexical_weight is not None:
        settings = replace(settings, lexical_weight=args.lexical_weight)
    if args.keep_mean:
        settings = replace(settings, remove_mean=False)
    names = args.sets.split(",") if args.sets else (REPORT if args.report else TUNING)
    for name in names:
        evaluate(name, settings, seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tune `memskill.cluster` on the tuning splits; the reported numbers come from the benchmark.

    python scripts/eval_cluster.py                  # tuning splits, default settings
    python scripts/eval_cluster.py --seeds 0,1,2 --lexical-weight 0.3
    python scripts/eval_cluster.py --assign         # ASSIGN_THRESHOLD sweep on the tuning splits
    memskill bench quality --only clustering        # the report: DSTC11, Banking77, CLINC150 tests

Loaders and metrics (ACC with Hungarian matching, NMI, ARI) live in `memskill.bench.clustering`.
Tuning splits: DSTC11 insurance development utterances, Banking77 train, CLINC150 train. Embeddings are
kept as .npy files in a temporary folder, keyed by the embedder id and a hash of the texts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from memskill.bench.clustering import (
    Corpus,
    cluster_corpus,
    embed,
    load_banking77,
    load_clinc150,
    load_dstc11_development,
)
from memskill.cluster import ClusterSettings
from memskill.providers.embedders import OfflineEmbedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The shared data folder beside the repository (`--data` points elsewhere)."""
CACHE = Path(tempfile.gettempdir()) / "memskill-eval-cluster"
TUNING: dict[str, Callable[[Path], Corpus]] = {
    "dstc11-insurance-dev": load_dstc11_development,
    "banking77-train": lambda data: load_banking77(data, "train"),
    "clinc150-train": lambda data: load_clinc150(data, "train"),
}


def evaluate(data: Path, name: str, settings: ClusterSettings, seeds: Sequence[int]) -> None:
    corpus = TUNING[name](data)
    embeddings = embed(corpus.texts, OfflineEmbedder(), cache=CACHE)
    for seed in seeds:
        started = time.perf_counter()
        outcome = cluster_corpus(corpus, embeddings, settings, seed)
        for label, k, metrics in (
            ("gold k", outcome.gold_k, outcome.with_gold_k),
            ("chosen k", outcome.chosen_k, outcome.with_chosen_k),
        ):
            print(
                f"{name:22s} seed {seed} {label:8s} k={k:3d} (gold {outcome.gold_k:3d}) "
                + " ".join(f"{key} {value:.3f}" for key, value in metrics.items())
                + f"  [{time.perf_counter() - started:.1f}s]",
                flush=True,
            )


def assign_sweep(data: Path, seeds: Sequence[int], examples: int = 3) -> None:
    """Half the intents get a centroid from `examples` utterances; all others are assigned.

    An utterance of an intent with a centroid should join it; one of an intent without should open
    a new cluster. Precision = right joins / joins, recall = right joins / utterances that should
    join.
    """
    thresholds = np.round(np.arange(0.30, 0.71, 0.025), 3)
    totals = {float(t): np.zeros(3) for t in thresholds}
    for load in TUNING.values():
        corpus = load(data)
        vectors = embed(corpus.texts, OfflineEmbedder(), cache=CACHE)
        labels = np.asarray(corpus.labels)
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
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--assign", action="store_true", help="sweep ASSIGN_THRESHOLD on tuning splits")
    parser.add_argument("--sets", help=f"comma-separated tuning sets (default all: {', '.join(TUNING)})")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--lexical-weight", type=float, help="override ClusterSettings.lexical_weight")
    parser.add_argument("--merge-similarity", type=float, help="override ClusterSettings.merge_similarity")
    parser.add_argument("--keep-mean", action="store_true", help="do not remove the mean embedding")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.assign:
        assign_sweep(args.data, seeds)
        return 0
    settings = ClusterSettings()
    if args.lexical_weight is not None:
        settings = replace(settings, lexical_weight=args.lexical_weight)
    if args.merge_similarity is not None:
        settings = replace(settings, merge_similarity=args.merge_similarity)
    if args.keep_mean:
        settings = replace(settings, remove_mean=False)
    for name in args.sets.split(",") if args.sets else TUNING:
        evaluate(args.data, name, settings, seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Intent clustering on DSTC11 (banking, finance), Banking77 and CLINC150 tests: ACC, NMI, ARI.

- **memskill.** The texts are embedded with the offline embedder; as in `cluster_texts`, k is chosen by
  `choose_k` on the embeddings and k-means runs on `text_features` (seed 0, default `ClusterSettings`).
  Each set is clustered twice: with memskill's own k and with the gold number of intents.
- **Metrics.** ACC = share of texts in clusters matched one-to-one to gold intents by the Hungarian
  method (clusters left unmatched count as wrong); NMI with the arithmetic mean of the two entropies;
  ARI (Hubert and Arabie).
- **DSTC11.** The official Task 1 numbers (baseline ACC .597 on banking, .518 on finance) are those of
  the intent-bearing turns of the test dialogues: `test-<domain>_gold_and_baseline.jsonl` (1,503 and
  1,597 turns), which also holds the official k-means baseline's predictions; its scores are recomputed
  here from them. The `test-<domain>_test-utterances.jsonl` files (407 and 1,130) are a different,
  smaller and cleaner set of utterances (the Task 2 test set): they are reported apart, without anchors.
- **Others.** Banking77 `test.csv`; CLINC150 `test` of `data_full.json`, whose out-of-scope queries are
  kept apart in `oos_test` and so are left out.
- **Split.** Settings were tuned on DSTC11 insurance (development), Banking77 train and CLINC150 train
  only (`scripts/eval_cluster.py`); everything here is report-only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memskill.bench.report import Progress, Result, no_progress
from memskill.errors import InvalidRequest
from memskill.kmeans import ClusterSettings, choose_k, cluster_vectors, text_features
from memskill.providers.embedders import Embedder, OfflineEmbedder, normalise_rows

STAGE = "clustering"
SEED = 0
BATCH = 256
TARGET_ACC = 0.65

DSTC_ANCHORS = {
    "banking": {
        "official k-means baseline (published)": {"ACC": 0.597, "NMI": 0.603, "ARI": 0.461},
        "best team (published)": {"ACC": 0.752, "NMI": 0.785, "ARI": 0.707},
    },
    "finance": {
        "official k-means baseline (published)": {"ACC": 0.518, "NMI": 0.657, "ARI": 0.336},
        "best team (published)": {"ACC": 0.681, "NMI": 0.728, "ARI": 0.555},
    },
}
DEFAULT_SETTINGS = ClusterSettings()
Labels = Sequence[object] | np.ndarray
"""Gold classes or cluster ids, one per text (any hashable, comparable values)."""
MPNET = "k-means on all-mpnet-base-v2 (published)"


@dataclass(frozen=True)
class Corpus:
    """Texts with their gold intents, and an official baseline's cluster ids when the file has them."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    baseline: tuple[str, ...] = ()


# -- data ----------------------------------------------------------------------------------------


def load_jsonl(path: Path, text_key: str, label_key: str, baseline_key: str = "") -> Corpus:
    rows = [json.loads(line) for line in _require(path).read_text(encoding="utf-8").splitlines() if line]
    return Corpus(
        tuple(row[text_key] for row in rows),
        tuple(row[label_key] for row in rows),
        tuple(str(row[baseline_key]) for row in rows) if baseline_key else (),
    )


def load_dstc11(data: Path, domain: str) -> tuple[Corpus, Corpus]:
    """Task 1 turns (with the official baseline's predictions) and the test utterances of a domain."""
    folder = data / "dstc11-intent-clustering"
    turns = load_jsonl(
        folder / f"test-{domain}_gold_and_baseline.jsonl", "utterance", "reference_label", "predicted_label"
    )
    return turns, load_jsonl(folder / f"test-{domain}_test-utterances.jsonl", "utterance", "intent")


def load_dstc11_development(data: Path) -> Corpus:
    """DSTC11 insurance development utterances: a tuning split."""
    path = data / "dstc11-intent-clustering" / "development_test-utterances.jsonl"
    return load_jsonl(path, "utterance", "intent")


def load_banking77(data: Path, split: str) -> Corpus:
    with _require(data / "banking77" / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return Corpus(tuple(row["text"] for row in rows), tuple(row["category"] for row in rows))


def load_clinc150(data: Path, split: str) -> Corpus:
    """One split of CLINC150's `data_full.json` (its out-of-scope queries live in `oos_<split>`)."""
    items = json.loads(_require(data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))[split]
    return Corpus(tuple(item[0] for item in items), tuple(item[1] for item in items))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InvalidRequest(f"clustering needs {path}: pass --data pointing at the shared data folder.")
    return path


def embed(
    texts: Sequence[str],
    embedder: Embedder,
    progress: Progress = no_progress,
    label: str = "embedding",
    cache: Path | None = None,
) -> np.ndarray:
    """Normalised embeddings of `texts`, in batches of similar length (less padding, faster).

    With `cache`, the matrix is kept there as .npy named by the embedder id and a hash of the texts.
    """
    path = None
    if cache is not None:
        digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:24]
        path = cache / f"{embedder.id}-{digest}.npy"
        if path.is_file():
            return np.load(path)
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    for start in range(0, len(order), BATCH):
        batch = order[start : start + BATCH]
        vectors[batch] = embedder.embed([texts[index] for index in batch])
        progress(label, min(start + BATCH, len(order)), len(order))
    vectors = normalise_rows(vectors)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


# -- metrics -------------------------------------------------------------------------------------


def max_weight_matching(weights: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs of a one-to-one matching with the largest total weight (Hungarian method).

    Shortest augmenting paths with potentials, O(n² m) for n ≤ m; a tall matrix is solved transposed.
    """
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


def contingency(gold: Labels, predicted: Labels) -> np.ndarray:
    """Counts of (gold class, predicted cluster) pairs; rows and columns in sorted label order."""
    gold_index = np.unique(np.asarray(gold), return_inverse=True)[1].ravel()
    predicted_index = np.unique(np.asarray(predicted), return_inverse=True)[1].ravel()
    table = np.zeros((gold_index.max() + 1, predicted_index.max() + 1))
    np.add.at(table, (gold_index, predicted_index), 1)
    return table


def accuracy(gold: Labels, predicted: Labels) -> float:
    """Clustering accuracy: the best one-to-one mapping of clusters to classes (Hungarian)."""
    table = contingency(gold, predicted)
    return float(sum(table[r, c] for r, c in max_weight_matching(table)) / table.sum())


def nmi(gold: Labels, predicted: Labels) -> float:
    """Normalised mutual information with the arithmetic mean of the entropies."""
    joint = contingency(gold, predicted)
    joint /= joint.sum()
    gold_p, predicted_p = joint.sum(axis=1), joint.sum(axis=0)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log(joint[nonzero] / np.outer(gold_p, predicted_p)[nonzero])).sum())
    entropy = -float((gold_p * np.log(gold_p)).sum() + (predicted_p * np.log(predicted_p)).sum())
    return 2 * mutual / entropy if entropy > 0 else 1.0


def ari(gold: Labels, predicted: Labels) -> float:
    """Adjusted Rand index (1 for identical partitions, about 0 for random ones)."""
    table = contingency(gold, predicted)

    def pairs(values: np.ndarray) -> float:
        return float((values * (values - 1) / 2).sum())

    together = pairs(table)
    gold_pairs, predicted_pairs = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = gold_pairs * predicted_pairs / pairs(np.array([table.sum()]))
    maximum = (gold_pairs + predicted_pairs) / 2
    return (together - expected) / (maximum - expected) if maximum != expected else 1.0


def scores(gold: Labels, predicted: Labels) -> dict[str, float]:
    return {"ACC": accuracy(gold, predicted), "NMI": nmi(gold, predicted), "ARI": ari(gold, predicted)}


# -- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clustered:
    """memskill's clusterings of one corpus."""

    chosen_k: int
    gold_k: int
    with_chosen_k: dict[str, float]
    with_gold_k: dict[str, float]


def cluster_corpus(
    corpus: Corpus, embeddings: np.ndarray, settings: ClusterSettings = DEFAULT_SETTINGS, seed: int = SEED
) -> Clustered:
    """Cluster as `cluster_texts` does, once with memskill's k and once with the gold k."""
    features = text_features(corpus.texts, embeddings, settings)
    chosen_k, gold_k = choose_k(embeddings, settings, seed), len(set(corpus.labels))
    return Clustered(
        chosen_k,
        gold_k,
        scores(corpus.labels, cluster_vectors(features, chosen_k, settings, seed)),
        scores(corpus.labels, cluster_vectors(features, gold_k, settings, seed)),
    )


def run_corpus(
    dataset: str, corpus: Corpus, embedder: Embedder, progress: Progress, note: str = ""
) -> list[Result]:
    """memskill with its own k and with the gold k, and the official baseline when the file has it."""
    started = time.monotonic()
    embeddings = embed(corpus.texts, embedder, progress, f"clustering: embedding {dataset}")
    embedded = time.monotonic()
    progress(f"clustering: {dataset}", 0, 1)
    outcome = cluster_corpus(corpus, embeddings)
    progress(f"clustering: {dataset}", 1, 1)
    extra = {
        "texts": len(corpus.texts),
        "chosen_k": outcome.chosen_k,
        "gold_k": outcome.gold_k,
        "seconds_embedding": round(embedded - started, 1),
        "seconds_clustering": round(time.monotonic() - embedded, 1),
    }
    results = [
        Result(
            STAGE,
            dataset,
            "memskill (its own k)",
            "ours",
            outcome.with_chosen_k,
            f"k = {outcome.chosen_k} chosen (gold {outcome.gold_k}){'; ' + note if note else ''}",
            extra,
        ),
        Result(
            STAGE,
            dataset,
            "memskill (k = gold)",
            "ours",
            outcome.with_gold_k,
            f"k = {outcome.gold_k}",
            dict(extra),
        ),
    ]
    if corpus.baseline:
        clusters = len(set(corpus.baseline))
        results.append(
            Result(
                STAGE,
                dataset,
                "official k-means baseline (recomputed)",
                "baseline",
                scores(corpus.labels, corpus.baseline),
                f"from the released predictions; its k = {clusters}",
                {"k": clusters},
            )
        )
    return results


def target(dataset: str, results: Sequence[Result]) -> Result:
    acc = next(
        r.metrics["ACC"] for r in results if r.dataset == dataset and r.method == "memskill (its own k)"
    )
    met = "met" if acc >= TARGET_ACC else "missed"
    return Result(
        STAGE, dataset, "target", "target", {"ACC": TARGET_ACC}, f"ACC ≥ 0.65, own k: {met} ({acc:.3f})"
    )


def run(data: Path, quick: bool, progress: Progress, embedder: Embedder | None = None) -> list[Result]:
    """All sets; `quick`: DSTC11 banking only (its Task 1 turns and its test utterances)."""
    embedder = embedder or OfflineEmbedder()
    results: list[Result] = []
    for domain in ("banking",) if quick else ("banking", "finance"):
        turns, utterances = load_dstc11(data, domain)
        turns_name = f"DSTC11 {domain} test, Task 1 turns ({len(turns.texts)})"
        utterances_name = f"DSTC11 {domain} test-utterances ({len(utterances.texts)})"
        results += run_corpus(turns_name, turns, embedder, progress)
        for method, metrics in DSTC_ANCHORS[domain].items():
            results.append(Result(STAGE, turns_name, method, "anchor", metrics, "DSTC11 Task 1"))
        results += run_corpus(
            utterances_name, utterances, embedder, progress, "no published anchor on this file"
        )
        if domain == "banking":
            results += [target(turns_name, results), target(utterances_name, results)]
    if quick:
        return results
    results += run_corpus("Banking77 test", load_banking77(data, "test"), embedder, progress)
    results.append(
        Result(STAGE, "Banking77 test", MPNET, "anchor", {"ACC": 0.643, "NMI": 0.813, "ARI": 0.541})
    )
    clinc = "CLINC150 test (no out-of-scope)"
    results += run_corpus(clinc, load_clinc150(data, "test"), embedder, progress)
    results.append(
        Result(
            STAGE,
            clinc,
            MPNET,
            "anchor",
            {"ACC": 0.760, "NMI": 0.911, "ARI": 0.692},
            "README: '15 per intent'; ours: the whole test split, 30 per intent",
        )
    )
    return results

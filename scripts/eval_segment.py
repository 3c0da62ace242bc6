"""Measure the segmenter: Pk and WindowDiff on TIAGE and DialSeg711, baselines, speed, tuning.

    python scripts/eval_segment.py                 # report with the default settings
    python scripts/eval_segment.py --tune 300      # random search on TIAGE train+dev (+ stitched)

k is half the mean gold segment length of each dialogue; scores are averaged over dialogues. Tuning
uses only TIAGE train and dev plus "stitched" dialogues built from TIAGE train (pieces of different
dialogues concatenated; the seams are the gold boundaries). TIAGE test and DialSeg711 are only reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from memskill.models import Message
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder
from memskill.segment import SegmentSettings, segment, segment_texts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Dialogue = tuple[list[str], list[int]]
"""Utterances and, per utterance, the index of its gold segment."""


def load_tiage(split: str) -> list[Dialogue]:
    raw = json.loads((DATA / "tiage" / f"anno_{split}.json").read_text())
    dialogues: list[Dialogue] = []
    for turns in raw.values():
        labels, current = [], 0
        for index, (_, label) in enumerate(turns):
            if label == "1" and index > 0:
                current += 1
            labels.append(current)
        dialogues.append(([text for text, _ in turns], labels))
    return dialogues


def load_dialseg() -> list[Dialogue]:
    raw = json.loads((DATA / "dialseg711" / "dialseg_711.json").read_text())
    dialogues: list[Dialogue] = []
    for item in raw:
        labels = [number for number, length in enumerate(item["segments"]) for _ in range(length)]
        dialogues.append((item["utterances"], labels))
    return dialogues


def stitched(source: list[Dialogue], count: int, seed: int) -> list[Dialogue]:
    """Dialogues made of 3–5 even-length pieces (4–8 turns) of different source dialogues."""
    rng = random.Random(seed)
    made: list[Dialogue] = []
    for _ in range(count):
        texts: list[str] = []
        labels: list[int] = []
        for number, (utterances, _) in enumerate(rng.sample(source, rng.randint(3, 5))):
            length = min(rng.choice([4, 6, 8]), len(utterances) // 2 * 2)
            start = rng.randrange(0, (len(utterances) - length) // 2 + 1) * 2
            texts += utterances[start : start + length]
            labels += [number] * length
        made.append((texts, labels))
    return made


def window_k(labels: Sequence[int]) -> int:
    return max(1, round(len(labels) / (len(set(labels)) * 2)))


def pk(reference: Sequence[int], hypothesis: Sequence[int], k: int) -> float:
    pairs = range(len(reference) - k)
    misses = sum((reference[i] == reference[i + k]) != (hypothesis[i] == hypothesis[i + k]) for i in pairs)
    return misses / max(1, len(pairs))


def window_diff(reference: Sequence[int], hypothesis: Sequence[int], k: int) -> float:
    def count(labels: Sequence[int], i: int) -> int:
        return sum(labels[j] != labels[j - 1] for j in range(i + 1, i + k + 1))

    pairs = range(len(reference) - k)
    return sum(count(reference, i) != count(hypothesis, i) for i in pairs) / max(1, len(pairs))


def score(dialogues: list[Dialogue], predict: Callable[[list[str]], list[int]]) -> tuple[float, float]:
    pks, wds = [], []
    for texts, reference in dialogues:
        hypothesis = predict(texts)
        k = window_k(reference)
        pks.append(pk(reference, hypothesis, k))
        wds.append(window_diff(reference, hypothesis, k))
    return float(np.mean(pks)), float(np.mean(wds))


def labels_from_segments(texts: list[str], embedder: Embedder, settings: SegmentSettings) -> list[int]:
    labels = [0] * len(texts)
    for number, chunk in enumerate(segment_texts(texts, embedder, settings)):
        labels[chunk.start : chunk.end + 1] = [number] * (chunk.end - chunk.start + 1)
    return labels


def even_split(count_of: dict[int, int]) -> Callable[[list[str]], list[int]]:
    def predict(texts: list[str]) -> list[int]:
        parts = count_of[id(texts)]
        return [index * parts // len(texts) for index in range(len(texts))]

    return predict


def report(name: str, dialogues: list[Dialogue], embedder: Embedder, settings: SegmentSettings) -> None:
    counts = {id(texts): len(set(labels)) for texts, labels in dialogues}
    rows = {
        "no boundary": score(dialogues, lambda texts: [0] * len(texts)),
        "even split (gold count)": score(dialogues, even_split(counts)),
        "memskill": score(dialogues, lambda texts: labels_from_segments(texts, embedder, settings)),
    }
    for label, (pk_value, wd_value) in rows.items():
        print(f"{name:<22} {label:<24} Pk {pk_value:.3f}  WD {wd_value:.3f}")


def tune(
    embedder: Embedder, trials: int, seed: int, base: SegmentSettings, seam_weight: float
) -> SegmentSettings:
    """Random search, then coordinate passes; objective = TIAGE train+dev Pk + w * stitched Pk."""
    train = load_tiage("train") + load_tiage("dev")
    seams = stitched(load_tiage("train"), 200, seed)
    space: dict[str, list[object]] = {
        "window": [1, 2, 3, 4],
        "window_decay": [0.4, 0.6, 0.8, 1.0],
        "reply_weight": [0.3, 0.5, 0.8, 1.0],
        "embedding_weight": [0.4, 0.6, 0.7, 0.8, 0.9, 1.0],
        "relative_weight": [0.0, 0.25, 0.5, 1.0, 1.5],
        "threshold": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
        "cue_bonus": [0.0, 0.1, 0.2, 0.3, 0.5],
        "min_exchanges": [1, 2, 3, 4],
        "question_bonus": [0.0, 0.05, 0.1, 0.2, 0.3],
        "answer_penalty": [0.0, 0.1, 0.2, 0.4, 0.6],
        "closing_bonus": [0.0, 0.15, 0.3],
    }
    memo: dict[SegmentSettings, float] = {}

    def objective(settings: SegmentSettings) -> float:
        if settings not in memo:
            tiage_pk, _ = score(train, lambda texts: labels_from_segments(texts, embedder, settings))
            seam_pk, _ = score(seams, lambda texts: labels_from_segments(texts, embedder, settings))
            memo[settings] = tiage_pk + seam_weight * seam_pk
            print(f"TIAGE {tiage_pk:.3f} stitched {seam_pk:.3f} {memo[settings]:.3f}", flush=True)
        return memo[settings]

    rng = random.Random(seed)
    best = base
    for _ in range(trials):
        candidate = dataclasses.replace(base, **{key: rng.choice(values) for key, values in space.items()})
        if objective(candidate) < objective(best):
            best = candidate
            print("best so far:", candidate, flush=True)
    for _ in range(2):
        for key, values in space.items():
            for value in values:
                candidate = dataclasses.replace(best, **{key: value})
                if objective(candidate) < objective(best):
                    best = candidate
                    print("best so far:", candidate, flush=True)
    return best


def speed(embedder: Embedder, settings: SegmentSettings) -> None:
    texts = [texts for texts, _ in load_tiage("train")]
    conversations = [
        [Message(role="user" if i % 2 == 0 else "assistant", content=t) for i, t in enumerate((a + b)[:20])]
        for a, b in zip(texts[::2], texts[1::2])
    ]
    for conversation in conversations:  # warm the embedding cache so only segmentation is timed
        segment(conversation, embedder, settings)
    started = time.perf_counter()
    for conversation in conversations:
        segment(conversation, embedder, settings)
    elapsed = time.perf_counter() - started
    print(f"speed: {len(conversations) / elapsed:.0f} conversations of 20 messages per second")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tune", type=int, default=0, help="random-search trials on tuning data")
    parser.add_argument("--hashing", action="store_true", help="use HashingEmbedder instead")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seam-weight", type=float, default=1.0, help="weight of stitched Pk")
    parser.add_argument("--any-speaker", action="store_true", help="boundaries before any utterance")
    parser.add_argument("--tuning-only", action="store_true", help="skip the report-only test sets")
    arguments = parser.parse_args(argv)
    embedder: Embedder = HashingEmbedder() if arguments.hashing else OfflineEmbedder(cache_size=100_000)
    settings = SegmentSettings(any_speaker=arguments.any_speaker)
    if arguments.tune:
        settings = tune(embedder, arguments.tune, arguments.seed, settings, arguments.seam_weight)
        print("tuned:", dataclasses.asdict(settings))
    report("TIAGE train+dev", load_tiage("train") + load_tiage("dev"), embedder, settings)
    report("stitched TIAGE train", stitched(load_tiage("train"), 200, arguments.seed), embedder, settings)
    if not arguments.tuning_only:
        report("TIAGE test", load_tiage("test"), embedder, settings)
        report("DialSeg711", load_dialseg(), embedder, settings)
    speed(embedder, settings)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Tune and inspect the segmenter on the tuning splits; the reported numbers come from the benchmark.

    python scripts/eval_segment.py                 # tuning-split scores with the default settings
    python scripts/eval_segment.py --tune 300      # random search on TIAGE train+dev (+ stitched)
    python scripts/eval_segment.py --tune 300 --any-speaker   # the search behind PEER_SETTINGS
    python scripts/eval_segment.py --peer          # tuning-split scores with PEER_SETTINGS
    memskill bench quality --only segmentation     # the report: DialSeg711 and TIAGE test

Loaders and metrics live in `memskill.bench.segmentation` (Pk and WindowDiff with k = half the mean gold
segment length of each dialogue, at least 2, averaged over dialogues). Tuning uses only TIAGE train and
dev plus "stitched" dialogues built from TIAGE train (pieces of different dialogues concatenated; the
seams are the gold boundaries). TIAGE test and DialSeg711 are only reported, never tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

from memskill.bench.segmentation import (
    Dialogue,
    evaluate,
    even_split,
    load_tiage,
    memskill_segmenter,
    no_boundary,
)
from memskill.models import Message
from memskill.providers.embedders import Embedder, HashingEmbedder, OfflineEmbedder
from memskill.segment import PEER_SETTINGS, SegmentSettings, segment

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The shared data folder beside the repository (`--data` points elsewhere)."""
SPACE: dict[str, list[object]] = {
    "window": [1, 2, 3, 4],
    "window_decay": [0.4, 0.6, 0.8, 1.0],
    "reply_weight": [0.3, 0.5, 0.8, 1.0],
    "embedding_weight": [0.4, 0.6, 0.7, 0.8, 0.9, 1.0],
    "relative_weight": [0.0, 0.25, 0.5, 1.0, 1.5],
    "threshold": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7],
    "cue_bonus": [0.0, 0.1, 0.2, 0.3, 0.5],
    "min_exchanges": [1, 2, 3, 4],
    "question_bonus": [0.0, 0.05, 0.1, 0.2, 0.3],
    "answer_penalty": [0.0, 0.1, 0.2, 0.4, 0.6],
    "closing_bonus": [0.0, 0.15, 0.3],
}


def stitched(source: list[Dialogue], count: int, seed: int) -> list[Dialogue]:
    """Dialogues made of 3–5 even-length pieces (4–8 turns) of different source dialogues."""
    rng = random.Random(seed)
    made: list[Dialogue] = []
    for _ in range(count):
        texts: list[str] = []
        labels: list[int] = []
        for number, dialogue in enumerate(rng.sample(source, rng.randint(3, 5))):
            utterances = dialogue.utterances
            length = min(rng.choice([4, 6, 8]), len(utterances) // 2 * 2)
            start = rng.randrange(0, (len(utterances) - length) // 2 + 1) * 2
            texts += utterances[start : start + length]
            labels += [number] * length
        made.append(Dialogue(tuple(texts), tuple(labels)))
    return made


def report(name: str, dialogues: list[Dialogue], embedder: Embedder, settings: SegmentSettings) -> None:
    for label, predict in (
        ("no boundary", no_boundary),
        ("even split (gold count)", even_split),
        ("memskill", memskill_segmenter(embedder, settings)),
    ):
        metrics, _ = evaluate(dialogues, predict)
        print(f"{name:22} {label:24} " + "  ".join(f"{key} {value:.3f}" for key, value in metrics.items()))


def tune(
    train: list[Dialogue],
    seams: list[Dialogue],
    embedder: Embedder,
    trials: int,
    seed: int,
    base: SegmentSettings,
    seam_weight: float,
) -> SegmentSettings:
    """Random search, then coordinate passes; objective = TIAGE train+dev Pk + w * stitched Pk."""
    memo: dict[SegmentSettings, float] = {}

    def objective(settings: SegmentSettings) -> float:
        if settings not in memo:
            tiage_pk = evaluate(train, memskill_segmenter(embedder, settings))[0]["Pk"]
            seam_pk = evaluate(seams, memskill_segmenter(embedder, settings))[0]["Pk"]
            memo[settings] = tiage_pk + seam_weight * seam_pk
            print(f"TIAGE {tiage_pk:.3f} stitched {seam_pk:.3f} {memo[settings]:.3f}", flush=True)
        return memo[settings]

    rng = random.Random(seed)
    best = base
    for _ in range(trials):
        candidate = dataclasses.replace(base, **{key: rng.choice(values) for key, values in SPACE.items()})
        if objective(candidate) < objective(best):
            best = candidate
            print("best so far:", candidate, flush=True)
    for _ in range(2):
        for key, values in SPACE.items():
            for value in values:
                candidate = dataclasses.replace(best, **{key: value})
                if objective(candidate) < objective(best):
                    best = candidate
                    print("best so far:", candidate, flush=True)
    return best


def speed(source: list[Dialogue], embedder: Embedder, settings: SegmentSettings) -> None:
    texts = [dialogue.utterances for dialogue in source]
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--tune", type=int, default=0, help="random-search trials on tuning data")
    parser.add_argument("--hashing", action="store_true", help="use HashingEmbedder instead")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seam-weight", type=float, default=1.0, help="weight of stitched Pk")
    parser.add_argument("--any-speaker", action="store_true", help="boundaries before any utterance")
    parser.add_argument("--peer", action="store_true", help="start from PEER_SETTINGS, not the defaults")
    arguments = parser.parse_args(argv)
    embedder: Embedder = HashingEmbedder() if arguments.hashing else OfflineEmbedder(cache_size=100_000)
    settings = PEER_SETTINGS if arguments.peer else SegmentSettings(any_speaker=arguments.any_speaker)
    source = load_tiage(arguments.data, "train")
    train = source + load_tiage(arguments.data, "dev")
    seams = stitched(source, 200, arguments.seed)
    if arguments.tune:
        settings = tune(
            train, seams, embedder, arguments.tune, arguments.seed, settings, arguments.seam_weight
        )
        print("tuned:", dataclasses.asdict(settings))
    report("TIAGE train+dev", train, embedder, settings)
    report("stitched TIAGE train", seams, embedder, settings)
    speed(source, embedder, settings)


if __name__ == "__main__":
    main(sys.argv[1:])

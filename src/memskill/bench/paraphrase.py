"""The paraphrase workload: questions that ask for a stored memory in other words, and unrelated ones.

The set (`paraphrases.json`, written for memskill, both languages) pairs a thing a user said about
their life ("My older brother Tomasz just moved to Rotterdam…") with a later question that asks for it
in other words ("Which city did Tomasz relocate to?": at most one content word shared, a third share
none), and lists questions that no memory answers. It is split by topic: the `tune` topics were used to
calibrate `memskill.retrieve`'s relevance, the `test` topics (other kinds of subject) only measure it.

`plant` adds each memory as a one-message conversation through the real pipeline, into a user that
already holds other memories; `measure` asks every question at the default floor and reports the share
of paraphrased questions whose memory is among the first 10 results and the share of unrelated
questions answered with no memory at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from memskill.engine import Memory
from memskill.ingest import normalise_messages

RECALL_AT = 10


@dataclass(frozen=True)
class Pair:
    id: str
    language: str
    topic: str
    split: str
    memory: str
    question: str


@dataclass(frozen=True)
class Unrelated:
    id: str
    language: str
    split: str
    question: str


@lru_cache(maxsize=1)
def load() -> tuple[tuple[Pair, ...], tuple[Unrelated, ...]]:
    """The shipped set: its pairs and its unrelated questions."""
    raw = json.loads(resources.files("memskill.bench").joinpath("paraphrases.json").read_text("utf-8"))
    pairs = tuple(
        Pair(p["id"], p["lang"], p["topic"], p["split"], p["memory"], p["question"]) for p in raw["pairs"]
    )
    unrelated = tuple(Unrelated(u["id"], u["lang"], u["split"], u["question"]) for u in raw["unrelated"])
    return pairs, unrelated


def conversation_id(pair: Pair) -> str:
    return f"paraphrase-{pair.id}"


def plant(memory: Memory, user_id: str, pairs: Sequence[Pair]) -> dict[str, str]:
    """Add each pair's memory as its own conversation; returns message id → pair id."""
    owner: dict[str, str] = {}
    for pair in pairs:
        message = {"role": "user", "content": pair.memory}
        sent = normalise_messages([message], conversation_id(pair), user_id, memory.limits)
        owner[sent[0].id] = pair.id
        memory.add_message(
            user_id=user_id, conversation_id=conversation_id(pair), messages=[message], async_mode=False
        )
    return owner


def score(
    ask: Callable[[str], list[set[str]]], pairs: Sequence[Pair], unrelated: Sequence[Unrelated]
) -> dict[str, Any]:
    """Recall@10 of the paraphrased questions and the empty rate of the unrelated ones, for any system:
    `ask(question)` gives its hits, best first, each as the ids of the pairs whose memory it holds."""
    recalled = sum(1 for pair in pairs if any(pair.id in hit for hit in ask(pair.question)[:RECALL_AT]))
    empty = sum(1 for u in unrelated if not ask(u.question))
    return {
        "paraphrased": len(pairs),
        "unrelated": len(unrelated),
        "recall_at_floor": round(recalled / max(1, len(pairs)), 3),
        "unrelated_empty_rate": round(empty / max(1, len(unrelated)), 3),
    }


def score_splits(ask: Callable[[str], list[set[str]]]) -> dict[str, Any]:
    """`score` on each split of the set (`test` is the one that counts)."""
    pairs, unrelated = load()
    return {
        split: score(ask, [p for p in pairs if p.split == split], [u for u in unrelated if u.split == split])
        for split in ("tune", "test")
    }


def asker(memory: Memory, user_id: str, owner: dict[str, str]) -> Callable[[str], list[set[str]]]:
    """memskill's search at the default floor as `score` asks it (hits by relativity, memories and
    preferences, each traced to the pairs by its source messages)."""

    def ask(question: str) -> list[set[str]]:
        data = memory.search_memory(query=question, user_id=user_id, memory_limit_number=RECALL_AT)
        hits = [*data["memory_detail_list"], *data["preference_detail_list"]]
        found = sorted(hits, key=lambda m: -float(m["relativity"]))
        return [{owner[s] for s in hit.get("sources", []) if s in owner} for hit in found]

    return ask


def measure(
    memory: Memory,
    user_id: str,
    owner: dict[str, str],
    pairs: Sequence[Pair],
    unrelated: Sequence[Unrelated],
) -> dict[str, Any]:
    """`score` of memskill's search at the default floor."""
    return score(asker(memory, user_id, owner), pairs, unrelated)


def measure_splits(memory: Memory, user_id: str, owner: dict[str, str]) -> dict[str, Any]:
    """`score_splits` of memskill's search at the default floor."""
    return score_splits(asker(memory, user_id, owner))

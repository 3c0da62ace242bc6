"""What the stored vectors are made from, in one place: the pipeline writes them, `reembed` rebuilds them.

- a task record: `record_text` (title, goal, first requests and steps); a cluster's centroid is the
  mean of its records' vectors;
- a skill: `skill_vectors`, its cluster's centroid plus half its title and description;
- a memory item: `item_text`;
- a skill's keyword-search text: `skill_search_text` (its name, title, description, its tasks' requests,
  steps and preferences).

Task records are stored as plain dicts (`record_dict`, `record_from_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from memskill.generalise import as_title, generalise
from memskill.models import MemoryItem, SkillItem, TaskRecord
from memskill.providers.embedders import Embedder, normalise_rows


def record_text(record: TaskRecord) -> str:
    """The text a task record is embedded and clustered by."""
    return " ".join([record.title, record.goal, *record.requests[:3], *record.steps[:6]])


def centroid(vectors: np.ndarray) -> np.ndarray:
    """A cluster's centroid from its records' vectors: their mean direction, unit length."""
    return normalise_rows(np.asarray(vectors, dtype=np.float32).mean(axis=0, keepdims=True))[0]


def skill_vectors(
    centroids: Sequence[np.ndarray], described: Sequence[tuple[str, str]], embedder: Embedder
) -> np.ndarray:
    """Skills' search vectors: each one's cluster centroid plus half the embedding of its (title,
    description), scaled to unit length; one row per skill."""
    texts = [title + " " + description for title, description in described]
    return normalise_rows(np.stack(list(centroids)) + 0.5 * embedder.embed(texts))


def item_text(item: MemoryItem) -> str:
    """The text an item's vector is made from, as `consolidate` embeds it.

    A tool memory is embedded as it is indexed (`MemoryItem.search_text`: its tool's name, the requests
    it served, its rules, its last call), an episode with its task's title (the part of its key before
    the date); other memories by their text alone.
    """
    if item.kind == "tool":
        return item.search_text
    if item.payload.get("episode"):
        return item.key.rpartition(" · ")[0] + " " + item.text
    return item.text


def record_request(fields: dict[str, Any]) -> str:
    """What a stored task record asked for: its first request's words, else its title, generalised."""
    requests = fields.get("requests") or []
    return as_title(generalise(str(requests[0] if requests else fields.get("title", ""))))


def skill_search_text(
    name: str, title: str, description: str, items: Sequence[SkillItem], records: Sequence[Any]
) -> str:
    """What keyword search finds a skill by: its name, title, description, the requests of its tasks'
    records (`TaskRecordRow`s, the last ten), its steps and preferences."""
    ordered = sorted(records, key=lambda r: (r.create_time, r.id))
    requests = [record_request(r.record) for r in ordered][-10:]
    steps = [item.text for item in items if item.section in ("procedure", "preference")]
    return " ".join([name.replace("-", " "), title, description, *requests, *steps])


def record_dict(record: TaskRecord) -> dict[str, Any]:
    """A task record as the dict the stores keep."""
    return {
        "title": record.title,
        "goal": record.goal,
        "steps": list(record.steps),
        "corrections": list(record.corrections),
        "preferences": list(record.preferences),
        "requirements": list(record.requirements),
        "requests": list(record.requests),
        "shape": list(record.shape),
        "asked": list(record.asked),
        "example": record.example,
        "example_request": record.example_request,
        "tools": list(record.tools),
        "outcome": record.outcome,
        "language": record.language,
        "sources": list(record.sources),
        "asks": record.asks,
        "follow_ups": list(record.follow_ups),
        "fixes": list(record.fixes),
        "standing": list(record.standing),
        "ask": record.ask,
        "parts": list(record.parts),
        "occasional": list(record.occasional),
    }


def record_from_dict(fields: dict[str, object]) -> TaskRecord:
    """A stored task record back as a `TaskRecord` (missing fields empty)."""

    def strings(name: str) -> tuple[str, ...]:
        value = fields.get(name)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    return TaskRecord(
        title=str(fields.get("title", "")),
        goal=str(fields.get("goal", "")),
        steps=strings("steps"),
        corrections=strings("corrections"),
        preferences=strings("preferences"),
        tools=strings("tools"),
        outcome=str(fields.get("outcome", "")),
        language="zh" if fields.get("language") == "zh" else "en",
        sources=strings("sources"),
        requirements=strings("requirements"),
        occasional=strings("occasional"),
        requests=strings("requests"),
        shape=strings("shape"),
        asked=strings("asked"),
        example=str(fields.get("example", "")),
        example_request=str(fields.get("example_request", "")),
        asks=float(fields.get("asks", 1.0)),  # type: ignore[arg-type]
        follow_ups=strings("follow_ups"),
        fixes=strings("fixes"),
        parts=strings("parts"),
        standing=strings("standing"),
        ask=str(fields.get("ask", "")),
    )

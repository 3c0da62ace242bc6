"""Consolidate: store what a chunk yielded without piling up repeats or silently losing anything.

- **episode** memories of each task chunk: what the user said in it, a few consecutive messages per
  memory (a question kept with its answer), each citing exactly the messages it quotes and keyed by the
  task's title and the day; kept up to date while the task goes on;
- **facts** and **preferences** that restate a stored one (cosine ≥ `DUPLICATE_COSINE`) merge into it:
  more sources, a little more confidence;
- a preference that reverses or corrects a stored one on the same topic archives the old one with a
  `superseded_by` link; nothing is deleted;
- **tool lessons** merge into one memory per tool, with a running success rate and the latest lessons.

Every method adds the ids it touched to an `Outcome`, which becomes the job's `memory_views`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from memskill.models import (
    TOOL_REQUESTS_KEPT,
    Extraction,
    FactDraft,
    Job,
    MemoryItem,
    Message,
    PreferenceDraft,
    Scope,
    TaskChunk,
    TaskRecord,
    ToolLessonDraft,
    now_ms,
)
from memskill.providers.embedders import Embedder
from memskill.stores.base import Store
from memskill.text import content_tokens
from memskill.vectors import item_text

DUPLICATE_COSINE = 0.93
"""A new fact or preference this close to a stored one merges into it."""

CONTRADICTION_COSINE = 0.55
"""A preference on the same topic with opposite polarity this close to a stored one replaces it."""

_FEELING_WORDS = frozenset(
    "用户 喜欢 不喜欢 爱 不爱 爱吃 吃 不吃 讨厌 想 不想 要 不要 想要 避免 优先 比较 特别 很 真的"
    " 都 也 不 别 再 了 的"
    " user users like likes liked love loves enjoy enjoys prefer prefers hate hates dislike dislikes avoid"
    " avoids don doesn t not no never anymore really rather want wants".split()
)
"""Words that say how the user feels, not what about: left out when two preferences' objects are compared."""
SAME_OBJECT = 0.5
"""Two preferences are about one thing when more than this share of the shorter one's object words (its
content words without `_FEELING_WORDS`) are in the other."""


def same_object(a: str, b: str) -> bool:
    """Whether two preferences speak of the same thing ("用户喜欢吃辣" and "用户不吃辣": yes; "孩子爱吃番茄"
    and "孩子不爱吃胡萝卜": no, so the second does not reverse the first)."""
    left, right = ({t for t in content_tokens(x) if t not in _FEELING_WORDS} for x in (a, b))
    if not left or not right:
        return True  # nothing but feelings: the topic and the vectors decide
    return len(left & right) > SAME_OBJECT * min(len(left), len(right))


EPISODE_CHARS = 600
"""Longest text of one episode memory (a longer single message is cut)."""

EPISODE_MESSAGES = 3
"""User messages an episode memory holds before it closes (it stays open while its last one asks)."""
REQUEST_CHARS = 200
"""A request kept on a tool memory is cut to this many characters."""


def stable_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MONTHS = "January February March April May June July August September October November December".split()


def dated_key(title: str, moment_ms: int, language: str) -> str:
    """`title · 8 May 2023` (`title · 2023年5月8日` in Chinese): a key that says when it was said."""
    day = datetime.fromtimestamp(moment_ms / 1000, timezone.utc)
    month = _MONTHS[day.month - 1]
    when = f"{day.year}年{day.month}月{day.day}日" if language == "zh" else f"{day.day} {month} {day.year}"
    return f"{title} · {when}" if title else when


def asks(text: str) -> bool:
    """Whether a message ends by asking something (a trailing bracketed aside is ignored)."""
    tail = re.sub(r"(?:\s*[\[(（【][^\[\]()（）【】]*[\])）】])+\s*$", "", text).rstrip(" ~～.…!！:)）")
    return tail.endswith(("?", "？"))


def episode_parts(texts: Sequence[str], joiner_chars: int) -> list[list[int]]:
    """Consecutive groups of `texts` (indexes) of about `EPISODE_MESSAGES` and at most `EPISODE_CHARS`.

    A group that ends with a question stays open for the answer (within the character budget): a reply
    means little without what it answers. Groups are filled from the start and closed by their own
    content only, so appending texts never changes the earlier groups.
    """
    parts: list[list[int]] = []
    size = 0
    for index, text in enumerate(texts):
        length = min(len(text), EPISODE_CHARS)
        if parts:
            last = parts[-1]
            room = size + joiner_chars + length <= EPISODE_CHARS
            if room and (len(last) < EPISODE_MESSAGES or asks(texts[last[-1]])):
                last.append(index)
                size += joiner_chars + length
                continue
        parts.append([index])
        size = length
    return parts


def _episodes(chunk: TaskChunk, record: TaskRecord) -> list[tuple[str, list[Message]]]:
    """The chunk's user messages in episode parts (`episode_parts`), each as (its text, its messages)."""
    said = [m for m in chunk.messages if m.role == "user" and m.content.strip()]
    joiner = "；" if record.language == "zh" else " / "
    parts = episode_parts([" ".join(m.content.split()) for m in said], len(joiner))
    return [
        (
            joiner.join(_clip(" ".join(said[i].content.split()), EPISODE_CHARS) for i in indexes),
            [said[i] for i in indexes],
        )
        for indexes in parts
    ]


def _episode_text(record: TaskRecord, value: str) -> str:
    return record.title + " " + value


def fact_text(fact: FactDraft) -> str:
    return fact.value


def preference_text(draft: PreferenceDraft) -> str:
    return draft.text


def memory_texts(chunk: TaskChunk, extraction: Extraction) -> list[str]:
    """The texts `Consolidator` embeds for a chunk's episodes, facts and preferences, so that a job can
    embed them all in one call before its write transaction (the embedder's cache serves them after)."""
    record = extraction.record
    return [
        *(_episode_text(record, value) for value, _ in _episodes(chunk, record)),
        *map(fact_text, extraction.facts),
        *map(preference_text, extraction.preferences),
    ]


@dataclass
class Outcome:
    """Ids touched by a job (the `memory_views` of get/status)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": list(dict.fromkeys(self.added)),
            "updated": [i for i in dict.fromkeys(self.updated) if i not in self.added],
            "deleted": list(dict.fromkeys(self.deleted)),
        }


class Consolidator:
    """Writes extracted drafts into a store (inside the caller's transaction)."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def _similar(self, scope: Scope, kind: str, vector: np.ndarray, text: str) -> MemoryItem | None:
        hits = self.store.vector_search(scope, "items", kind, vector, 1)
        if hits and hits[0].score >= DUPLICATE_COSINE:
            return self.store.get_item(hits[0].id)
        return None

    @staticmethod
    def _new_item(job: Job, scope: Scope, **fields: Any) -> MemoryItem:
        """A memory item of this job's user, conversation, agent and app, created now."""
        moment = now_ms()
        return MemoryItem(
            user_id=job.user_id,
            conversation_id=job.conversation_id,
            agent_id=scope.agent_id,
            app_id=scope.app_id,
            create_time=moment,
            update_time=moment,
            **fields,
        )

    def episode(
        self,
        job: Job,
        scope: Scope,
        record_id: str,
        chunk: TaskChunk,
        record: TaskRecord,
        tags: tuple[str, ...],
        outcome: Outcome,
    ) -> None:
        """Long-term memories of a task chunk: what the user said, in their words (kept up to date).

        The user's messages are cut into parts of at most `EPISODE_MESSAGES` consecutive messages and
        `EPISODE_CHARS` characters; each part is one memory whose sources are exactly the messages it
        quotes, so a search that finds it points at those few turns, and no message is left unsearchable.
        Its key is the task's title and the day it was said (the first message's `chat_time`, else the
        day it was stored), so a search that names a date finds what was said that day.
        """
        base = "mem_" + record_id.removeprefix("rec_")
        moment = now_ms()
        parts = _episodes(chunk, record)
        for number, (value, said) in enumerate(parts):
            sources = tuple(message.id for message in said)
            item_id = base if number == 0 else f"{base}-{number}"
            existing = self.store.get_item(item_id)
            said_at = said[0].chat_time or (existing.create_time if existing else moment)
            key = dated_key(record.title, said_at, record.language)
            if existing is not None and (existing.text, existing.sources, existing.key) == (
                value,
                sources,
                key,
            ):
                continue
            vector = self.embedder.embed([_episode_text(record, value)])[0]
            if existing is not None:
                self.store.update_item(
                    replace(existing, key=key, text=value, sources=sources, update_time=moment),
                    vector,
                    self.embedder.id,
                )
                outcome.updated.append(item_id)
                continue
            item = self._new_item(
                job,
                scope,
                id=item_id,
                kind="fact",
                key=key,
                text=value,
                confidence=0.7,
                tags=tags,
                sources=sources,
                payload={"memory_type": "LongTermMemory", "episode": True, "part": number},
            )
            self.store.insert_item(item, vector, self.embedder.id)
            outcome.added.append(item_id)
        # A chunk re-read with fewer parts than before (its messages moved to another chunk): drop the rest.
        stale = []
        number = max(len(parts), 1)
        while self.store.get_item(f"{base}-{number}") is not None:
            stale.append(f"{base}-{number}")
            number += 1
        if not parts and self.store.get_item(base) is not None:
            stale.append(base)
        if stale:
            self.store.delete_items(stale)
            outcome.deleted.extend(stale)

    def _reinforce(self, duplicate: MemoryItem, sources: Sequence[str], outcome: Outcome) -> None:
        """Merge a restated memory into the stored one: more sources, a little more confidence."""
        merged = replace(
            duplicate,
            sources=tuple(dict.fromkeys([*duplicate.sources, *sources])),
            confidence=min(0.99, duplicate.confidence + 0.05),
            update_time=now_ms(),
        )
        self.store.update_item(merged)
        outcome.updated.append(duplicate.id)

    def fact(self, job: Job, scope: Scope, fact: FactDraft, tags: tuple[str, ...], outcome: Outcome) -> None:
        vector = self.embedder.embed([fact_text(fact)])[0]
        duplicate = self._similar(scope, "fact", vector, fact.value)
        if duplicate is not None:
            self._reinforce(duplicate, fact.sources, outcome)
            return
        item = self._new_item(
            job,
            scope,
            id=stable_id("mem_", job.user_id, fact.value, *fact.sources),
            kind="fact",
            key=fact.key,
            text=fact.value,
            confidence=fact.confidence,
            tags=tags,
            sources=fact.sources,
            payload={"memory_type": fact.memory_type},
        )
        if self.store.get_item(item.id) is None:
            self.store.insert_item(item, vector, self.embedder.id)
            outcome.added.append(item.id)

    def preference(
        self,
        job: Job,
        scope: Scope,
        draft: PreferenceDraft,
        cluster_id: str | None,
        tags: tuple[str, ...],
        outcome: Outcome,
    ) -> list[str]:
        """Store a preference; return the texts of the preferences it replaced."""
        vector = self.embedder.embed([preference_text(draft)])[0]
        moment = now_ms()
        duplicate = self._similar(scope, "preference", vector, draft.text)
        if duplicate is not None:
            self._reinforce(duplicate, draft.sources, outcome)
            return []
        item_id = stable_id("pref_", job.user_id, draft.text, *draft.sources)
        replaced: list[str] = []
        for old in self._contradicted(scope, draft, vector):
            self.store.update_item(
                replace(
                    old,
                    status="archived",
                    update_time=moment,
                    payload={**old.payload, "superseded_by": item_id},
                )
            )
            outcome.updated.append(old.id)
            replaced.append(old.text)
        item = self._new_item(
            job,
            scope,
            id=item_id,
            kind="preference",
            key=draft.topic,
            text=draft.text,
            confidence=0.9 if draft.preference_type == "explicit_preference" else 0.7,
            tags=tags,
            sources=draft.sources,
            payload={
                "preference_type": draft.preference_type,
                "reasoning": draft.reasoning,
                "topic": draft.topic,
                "polarity": draft.polarity,
                "is_correction": draft.is_correction,
                "cluster_id": cluster_id,
                "supersedes": [text for text in replaced],
            },
        )
        if self.store.get_item(item.id) is None:
            self.store.insert_item(item, vector, self.embedder.id)
            outcome.added.append(item.id)
        return replaced

    def _contradicted(self, scope: Scope, draft: PreferenceDraft, vector: np.ndarray) -> list[MemoryItem]:
        """Stored preferences on the same topic that the new one reverses or corrects."""
        same_topic = [p for p in self.store.list_items(scope, ["preference"]) if p.key == draft.topic]
        if not same_topic:
            return []
        vectors = self.store.vectors_of("items", [p.id for p in same_topic], int(vector.shape[0]))
        out = []
        for old in same_topic:
            old_vector = vectors.get(old.id)
            close = old_vector is not None and float(old_vector @ vector) >= CONTRADICTION_COSINE
            polarity = int(old.payload.get("polarity", 0) or 0)
            reverses = draft.polarity != 0 and polarity == -draft.polarity
            if close and (draft.is_correction or (reverses and same_object(old.text, draft.text))):
                out.append(old)
        return out

    def tool_lesson(
        self,
        job: Job,
        scope: Scope,
        lesson: ToolLessonDraft,
        tags: tuple[str, ...],
        outcome: Outcome,
        requests: Sequence[str] = (),
    ) -> str:
        """Merge a lesson into the tool's memory (one per tool); return the experience text.

        `requests` are what the user asked in the task that called the tool: the memory keeps the last
        few, and is indexed and embedded with them (`MemoryItem.search_text`)."""
        moment = now_ms()
        existing = next((t for t in self.store.list_items(scope, ["tool"]) if t.key == lesson.tool), None)
        usage = lesson.usage
        if existing is not None:
            stats = dict(existing.payload)
            calls = int(stats.get("calls", 1)) + 1
            rate = (float(stats.get("success_rate", 1.0)) * (calls - 1) + usage.success_rate) / calls
            learned = lesson.rules or (lesson.experience,)
            experiences = list(dict.fromkeys([*stats.get("experiences", []), *learned]))[-8:]
            errors = list(
                dict.fromkeys([*stats.get("errors", []), *([usage.error_type] if usage.error_type else [])])
            )
            text = lesson.value if len(lesson.value) >= 20 else existing.text
            merged = replace(
                existing,
                text=text,
                sources=tuple(dict.fromkeys([*existing.sources, *lesson.sources])),
                update_time=moment,
                payload={
                    **stats,
                    "calls": calls,
                    "success_rate": rate,
                    "experiences": experiences,
                    "errors": errors,
                    "requests": _served(stats.get("requests", []), requests),
                },
            )
            self.store.update_item(merged, self.embedder.embed([item_text(merged)])[0], self.embedder.id)
            outcome.updated.append(existing.id)
            return lesson.experience
        item = self._new_item(
            job,
            scope,
            id=stable_id("tool_", job.user_id, lesson.tool, *lesson.sources),
            kind="tool",
            key=lesson.tool,
            text=lesson.value,
            tags=tags,
            sources=lesson.sources,
            payload={
                "calls": 1,
                "success_rate": usage.success_rate,
                "experiences": list(lesson.rules or (lesson.experience,)),
                "errors": [usage.error_type] if usage.error_type else [],
                "requests": _served([], requests),
            },
        )
        if self.store.get_item(item.id) is None:
            self.store.insert_item(item, self.embedder.embed([item_text(item)])[0], self.embedder.id)
            outcome.added.append(item.id)
        return lesson.experience


def _served(kept: Sequence[str], requests: Sequence[str]) -> list[str]:
    """The requests a tool memory keeps: the last `TOOL_REQUESTS_KEPT` distinct ones, newest last."""
    new = [cut for cut in (" ".join(r.split())[:REQUEST_CHARS] for r in requests) if cut]
    return [*(r for r in kept if r not in new), *dict.fromkeys(new)][-TOOL_REQUESTS_KEPT:]

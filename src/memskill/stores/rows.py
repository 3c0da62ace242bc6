"""Row layouts: column lists and row → domain object conversions.

Lists and payloads are stored as JSON text and vectors as float32 bytes; any SQL backend that keeps
these columns reads its rows with these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from memskill.models import Job, MemoryItem, Message, Skill, SkillItem, SkillVersion, ToolCall, Usage


def owner_token(user_id: str) -> str:
    """A single FTS token that stands for the user, so MATCH can be scoped inside the index."""
    return "u" + hashlib.sha1(user_id.encode()).hexdigest()[:20]


def blob(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def message_from_row(row: Sequence[Any]) -> Message:
    calls = tuple(ToolCall(id=c[0], name=c[1], arguments=c[2]) for c in json.loads(row[4]))
    return Message(
        role=row[1], content=row[2], chat_time=row[3], tool_calls=calls, tool_call_id=row[5], id=row[0]
    )


MESSAGE_COLUMNS = "id, role, content, chat_time, tool_calls, tool_call_id"

JOB_COLUMNS = (
    "id, user_id, conversation_id, kind, status, attempts, error, result, create_time, update_time, payload, "
    "prompt_tokens, completion_tokens, llm_calls"
)


def job_from_row(row: Sequence[Any]) -> Job:
    result = json.loads(row[7] or "{}")
    return Job(
        id=row[0],
        user_id=row[1],
        conversation_id=row[2],
        kind=row[3],
        status=row[4],
        attempts=row[5],
        error=row[6],
        added=tuple(result.get("added", ())),
        updated=tuple(result.get("updated", ())),
        deleted=tuple(result.get("deleted", ())),
        create_time=row[8],
        update_time=row[9],
        report=result.get("llm", {}),
        usage=Usage(row[11], row[12], row[13]),
    )


ITEM_COLUMNS = (
    "id, user_id, kind, key, text, conversation_id, agent_id, app_id, status, confidence, tags, sources, "
    "payload, create_time, update_time"
)


def item_from_row(row: Sequence[Any]) -> MemoryItem:
    return MemoryItem(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        key=row[3],
        text=row[4],
        conversation_id=row[5],
        agent_id=row[6],
        app_id=row[7],
        status=row[8],
        confidence=row[9],
        tags=tuple(json.loads(row[10])),
        sources=tuple(json.loads(row[11])),
        payload=json.loads(row[12]),
        create_time=row[13],
        update_time=row[14],
    )


def item_values(item: MemoryItem) -> tuple[Any, ...]:
    """An item's columns in `ITEM_COLUMNS` order up to `payload`, ready to insert."""
    return (
        item.id,
        item.user_id,
        item.kind,
        item.key,
        item.text,
        item.conversation_id,
        item.agent_id,
        item.app_id,
        *item_changes(item)[2:-1],
    )


def item_changes(item: MemoryItem) -> tuple[Any, ...]:
    """The mutable columns an update rewrites: key, text, status, confidence, tags, sources, payload and
    update_time."""
    return (
        item.key,
        item.text,
        item.status,
        item.confidence,
        json_text(list(item.tags)),
        json.dumps(list(item.sources)),
        json_text(item.payload),
        item.update_time,
    )


def version_from_row(row: Sequence[Any]) -> SkillVersion:
    items = tuple(
        SkillItem(**{**item, "sources": tuple(item.get("sources", ()))}) for item in json.loads(row[4])
    )
    return SkillVersion(
        skill_id=row[0],
        version=row[1],
        name=row[2],
        description=row[3],
        items=items,
        markdown=row[5],
        note=row[6],
        create_time=row[7],
        author=row[8],
        held_out=tuple(json.loads(row[9])),
    )


VERSION_COLUMNS = "skill_id, version, name, description, items, markdown, note, create_time, author, held_out"

SKILL_COLUMNS = (
    "s.id, s.user_id, s.cluster_id, s.agent_id, s.app_id, s.status, s.skill_type, s.confidence, s.tags, "
    "s.conversation_ids, s.create_time, s.update_time, s.state, s.live_version, s.helpful, s.unhelpful, "
    "v.skill_id, v.version, v.name, v.description, v.items, v.markdown, v.note, v.create_time, v.author, "
    "v.held_out"
)


def skill_from_row(row: Sequence[Any]) -> Skill:
    return Skill(
        id=row[0],
        user_id=row[1],
        cluster_id=row[2],
        agent_id=row[3],
        app_id=row[4],
        status=row[5],
        skill_type=row[6],
        confidence=row[7],
        tags=tuple(json.loads(row[8])),
        conversation_ids=tuple(json.loads(row[9])),
        create_time=row[10],
        update_time=row[11],
        state=row[12],
        live_version=row[13],
        helpful=row[14],
        unhelpful=row[15],
        current=version_from_row(row[16:]),
    )


def version_values(version: SkillVersion) -> tuple[Any, ...]:
    """A version's columns in `VERSION_COLUMNS` order, ready to insert."""
    return (
        version.skill_id,
        version.version,
        version.name,
        version.description,
        json.dumps([item.__dict__ for item in version.items], ensure_ascii=False),
        version.markdown,
        version.note,
        version.create_time,
        version.author,
        json.dumps(list(version.held_out), ensure_ascii=False),
    )


SKILL_CHANGES = (
    "status, skill_type, version, confidence, tags, conversation_ids, search_text, vector, embedder, "
    "update_time, state, live_version, helpful, unhelpful"
)
"""The columns a save of a skill rewrites, in `skill_changes` order."""
SKILL_KEYS = "id, user_id, cluster_id, agent_id, app_id, create_time"
"""The columns a skill is created with and keeps, in `skill_keys` order."""


def skill_changes(skill: Skill, search_text: str, vector: Any, embedder_id: str | None) -> tuple[Any, ...]:
    """The `SKILL_CHANGES` values of a skill; `vector` already in the backend's column format."""
    return (
        skill.status,
        skill.skill_type,
        skill.current.version,
        skill.confidence,
        json_text(list(skill.tags)),
        json.dumps(list(skill.conversation_ids)),
        search_text,
        vector,
        embedder_id,
        skill.update_time,
        skill.state,
        skill.live_version,
        skill.helpful,
        skill.unhelpful,
    )


def skill_keys(skill: Skill) -> tuple[Any, ...]:
    """The `SKILL_KEYS` values of a skill."""
    return (skill.id, skill.user_id, skill.cluster_id, skill.agent_id, skill.app_id, skill.create_time)


def lifecycle_values(skill: Skill) -> tuple[Any, ...]:
    """state, status, live_version, helpful, unhelpful, update_time of a skill."""
    return (skill.state, skill.status, skill.live_version, skill.helpful, skill.unhelpful, skill.update_time)


def json_text(value: Any) -> str:
    """`value` as the JSON text a column holds (non-ASCII kept as is)."""
    return json.dumps(value, ensure_ascii=False)

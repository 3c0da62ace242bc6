"""Domain objects → the JSON shapes of the MemOS Cloud v1 API (DESIGN §2).

The engine returns these dicts so the HTTP server, the CLI and the Python client all speak one format.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from memskill.ingest import message_to_dict
from memskill.models import MemoryItem, Message, Skill, SkillVersion
from memskill.skillfile import SkillDocument, parse
from memskill.topics import public_topic


def _stored(item: MemoryItem, relativity: float | None) -> dict[str, Any]:
    """The fields every stored item's shape carries: times, conversation, status, score and sources."""
    return {
        "create_time": item.create_time,
        "update_time": item.update_time,
        "conversation_id": item.conversation_id,
        "status": item.status,
        "relativity": round(relativity, 4) if relativity is not None else None,
        "sources": list(item.sources),
    }


def memory(item: MemoryItem, relativity: float | None = None) -> dict[str, Any]:
    return {
        "id": item.id,
        "memory_key": item.key,
        "memory_value": item.text,
        "memory_type": item.payload.get("memory_type", "LongTermMemory"),
        **_stored(item, relativity),
        "confidence": round(item.confidence, 4),
        "tags": list(item.tags),
        "agent_id": item.agent_id,
        "app_id": item.app_id,
    }


def pending_message(message: Message, conversation_id: str, relativity: float) -> dict[str, Any]:
    """A raw message not yet processed, shown as a memory so it is searchable at once."""
    return {
        "id": message.id,
        "memory_key": "message",
        "memory_value": f"{message.role}: {message.content}",
        "memory_type": "LongTermMemory",
        "create_time": message.chat_time or 0,
        "update_time": message.chat_time or 0,
        "conversation_id": conversation_id,
        "status": "activated",
        "confidence": 0.5,
        "tags": ["unprocessed"],
        "relativity": round(relativity, 4),
        "sources": [message.id],
    }


def preference(item: MemoryItem, relativity: float | None = None) -> dict[str, Any]:
    return {
        "id": item.id,
        "preference_type": item.payload.get("preference_type", "explicit_preference"),
        "preference": item.text,
        "reasoning": item.payload.get("reasoning", ""),
        **_stored(item, relativity),
        "topic": public_topic(item.key),
        "tags": list(item.tags),
        "superseded_by": item.payload.get("superseded_by"),
    }


def tool_memory(item: MemoryItem, relativity: float | None = None) -> dict[str, Any]:
    experiences = [str(e) for e in item.payload.get("experiences", []) if e]
    errors = [str(e) for e in item.payload.get("errors", []) if e]
    return {
        "id": item.id,
        "tool_type": "ToolTrajectoryMemory",
        "tool_value": item.text,
        "experience": "\n".join(experiences),
        "tool_used_status": [
            {
                "used_tool": item.key,
                "error_type": "; ".join(errors),
                "success_rate": round(float(item.payload.get("success_rate", 1.0)), 4),
                "tool_experience": experiences[-1] if experiences else "",
            }
        ],
        **_stored(item, relativity),
    }


def item(memory_item: MemoryItem, relativity: float | None = None) -> dict[str, Any]:
    """Any memory item in the shape of its list."""
    shape = {"fact": memory, "preference": preference, "tool": tool_memory}[memory_item.kind]
    return {**shape(memory_item, relativity), "kind": memory_item.kind}


@lru_cache(maxsize=1024)
def _document(markdown: str) -> SkillDocument:
    return parse(markdown)


def skill_value(version: SkillVersion) -> dict[str, Any]:
    """The structured skill, read from its SKILL.md so both always say the same."""
    document = _document(version.markdown)

    def texts(section: str) -> list[str]:
        return [i.text for i in version.items if i.section == section]

    return {
        "name": version.name,
        "description": version.description,
        "procedure": "\n".join(f"{n}. {step}" for n, step in enumerate(document.procedure, start=1)),
        "experience": texts("experience"),
        "preference": texts("preference"),
        "examples": texts("example"),
        "script": {},
        "others": {
            "support": {i.text: i.support for i in version.items if i.support > 1},
        },
    }


def skill(
    value: Skill, relativity: float | None = None, url: str = "", versions: list[SkillVersion] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": value.id,
        "skill_value": skill_value(value.current),
        "skill_markdown": value.current.markdown,
        "skill_url": url,
        "skill_type": value.skill_type,
        "version": value.current.version,
        "create_time": value.create_time,
        "update_time": value.update_time,
        "conversation_id": value.conversation_ids[-1] if value.conversation_ids else "",
        "conversation_ids": list(value.conversation_ids),
        "status": value.status,
        "confidence": round(value.confidence, 4),
        "tags": list(value.tags),
        "relativity": round(relativity, 4) if relativity is not None else None,
        "state": value.state,
        "reliability": round(value.reliability, 4),
    }
    if versions is not None:
        out["versions"] = [
            {
                "version": v.version,
                "name": v.name,
                "description": v.description,
                "skill_markdown": v.markdown,
                "create_time": v.create_time,
                "note": v.note,
                "author": v.author,
                "held_out": list(v.held_out),
            }
            for v in versions
        ]
    return out


def message(value: Message, conversation_id: str) -> dict[str, Any]:
    return {
        **message_to_dict(value),
        "id": value.id,
        "chat_time": value.chat_time,
        "conversation_id": conversation_id,
    }

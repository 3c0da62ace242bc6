"""LLM prompts: one module per task, each beside the response schema it expects.

    segmentation.py    numbered messages → task segments with titles
    task_record.py     one task's messages → goal, steps, corrections, preferences, tools, outcome
    facts.py           one task's messages → facts about the user and their preferences
    tool_lessons.py    one task's tool calls and results → what failed and what fixed it
    skill_update.py    a new task's candidate items + the nearest bullets → a verdict on each
    feedback.py        a correction + a skill's bullets → preferences and item-level operations

Every prompt has Chinese and English instructions, a short schema (enums, few fields) and, per language,
a worked example: an input in the format of its module's `content(...)` and the reply to that input, so
that 7–14B models cope. The instructions say what every field means, because the JSON-mode and plain-text
fallbacks do not send the schema. The response types are pydantic models; `Prompt.schema()` is their JSON
schema in the strict form OpenAI's `json_schema` response format asks for.
"""

from __future__ import annotations

from typing import Any

from memskill.prompts.base import (
    MAX_MESSAGE_CHARS,
    Example,
    Language,
    Prompt,
    Reply,
    language_of,
    message_at,
    numbered,
    one_line,
    strict_schema,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Example",
    "Language",
    "Prompt",
    "Reply",
    "language_of",
    "message_at",
    "numbered",
    "one_line",
    "schemas",
    "strict_schema",
]


def schemas() -> dict[str, dict[str, Any]]:
    """Every prompt's schema by name (e.g. for a fake server to shape replies to JSON-mode requests)."""
    from memskill.prompts import facts, feedback, segmentation, skill_update, task_record, tool_lessons

    modules = (segmentation, task_record, facts, tool_lessons, skill_update, feedback)
    return {module.PROMPT.name: module.PROMPT.schema() for module in modules}

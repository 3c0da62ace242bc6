"""Skill update: a skill's bullets and a new task record → item-level operations, never a rewrite.

The model sees the bullets numbered and answers with operations on them: `add` a new bullet, `agree`
with one (the task confirms it), `edit` one (the task corrects it), `remove` one (the task shows it is
wrong). `apply_operations` applies them; bullets no operation names stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from memskill.models import SkillItem, TaskRecord
from memskill.prompts import Prompt, Reply, one_line

Section = Literal["procedure", "experience", "preference"]
SECTIONS: tuple[Section, ...] = ("procedure", "experience", "preference")


class Operation(Reply):
    op: Literal["add", "agree", "edit", "remove"]
    section: Section
    item: int = Field(description="number of the bullet to agree with, edit or remove; 0 for add")
    text: str = Field(description="the new bullet for add and edit; empty for agree and remove")


class SkillUpdate(Reply):
    description: str = Field(description="what the skill does and when to use it, one or two sentences")
    operations: list[Operation]


INSTRUCTIONS_EN = """You maintain a reusable skill: how one user wants one kind of task done.
You get the skill's numbered bullets and the record of a new task of this kind.
Answer with operations on the bullets:
add (a new step, tool lesson or preference the task teaches), agree (the task confirms bullet N), edit
(the task corrects bullet N: give the corrected text), remove (the task shows bullet N is wrong). Do not
restate bullets that need no change. Procedure bullets are short general instructions in order; write
"the destination", "the recipient" instead of one-off places, names, dates or amounts. Experience holds
tool lessons; preference holds this user's wishes. Use the user's language. The description says what
the skill does and when to use it."""
INSTRUCTIONS_ZH = """你维护一个可复用的技能：某位用户希望某类任务怎么做。
你会拿到技能的编号条目和一次同类新任务的记录。用对条目的操作来回答：
add（任务带来的新步骤、工具经验或偏好）、agree（任务印证了第 N 条）、
edit（任务纠正了第 N 条，给出改正后的文字）、remove（任务表明第 N 条是错的）。
不需要改的条目不要重复。procedure 是按顺序的简短通用指令；
用“目的地”“收件人”代替一次性的地名、人名、日期和金额。
experience 写工具经验，preference 写这位用户的偏好。用用户的语言。
description 说明技能做什么、什么时候用。"""

PROMPT = Prompt(
    name="memskill_skill_update",
    stage="skill_update",
    instructions={"en": INSTRUCTIONS_EN, "zh": INSTRUCTIONS_ZH},
    response=SkillUpdate,
    example={
        "description": "规划多日旅行路线：按地理顺序排行程、附天气与文化背景。用户要规划旅行时使用。",
        "operations": [
            {"op": "agree", "section": "procedure", "item": 1, "text": ""},
            {"op": "edit", "section": "preference", "item": 3, "text": "每天最多三个景点"},
            {"op": "add", "section": "experience", "item": 0, "text": "查天气时城市名用英文"},
        ],
    },
)


def bullets(items: Sequence[SkillItem]) -> str:
    listed = [item for item in items if item.section in SECTIONS]
    if not listed:
        return "(no bullets yet: this is a new skill)"
    return "\n".join(f"[{n}] {item.section}: {item.text}" for n, item in enumerate(listed, 1))


def content(
    title: str, description: str, items: Sequence[SkillItem], record: TaskRecord, lessons: Sequence[str]
) -> str:
    def block(label: str, texts: Sequence[str]) -> str:
        return f"{label}:\n" + ("\n".join(f"- {t}" for t in texts) if texts else "- (none)")

    return "\n".join(
        [
            f"Skill: {title}",
            f"Description: {description or '(none yet)'}",
            "Bullets:",
            bullets(items),
            "",
            "New task record:",
            f"goal: {record.goal}",
            block("steps", record.steps),
            block("corrections", record.corrections),
            block("preferences", record.preferences),
            block("tool lessons", lessons),
            f"outcome: {record.outcome or '(none)'}",
        ]
    )


def description_of(reply: SkillUpdate) -> str | None:
    """The reply's description when it fits SKILL.md (1–1024 characters, no angle brackets)."""
    text = one_line(reply.description, 1024)
    if not text or "<" in text or ">" in text:
        return None
    return text

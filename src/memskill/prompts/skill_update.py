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
from memskill.prompts import Example, Prompt, Reply, one_line

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


_ZH_ITEMS = (
    SkillItem("procedure", "先列出本周完成的工作"),
    SkillItem("procedure", "再写遇到的问题和下周计划"),
    SkillItem("preference", "周报控制在300字以内"),
    SkillItem("experience", "用 export_timesheet 导出工时时，日期写成 YYYY-MM-DD"),
)
_ZH_RECORD = TaskRecord(
    title="写本周周报",
    goal="根据本周的工作记录写一份周报",
    steps=("列出本周完成的工作", "写遇到的问题和下周计划", "每项工作后标注所用工时"),
    corrections=("周报控制在200字以内",),
    preferences=("周报要简短",),
    tools=(),
    outcome="一份约180字、分为完成工作、问题和下周计划三段的周报",
    language="zh",
    sources=(),
)
_EN_ITEMS = (
    SkillItem("procedure", "Start with the decisions that were made"),
    SkillItem("procedure", "List the action items, each with an owner and a due date"),
    SkillItem("preference", "Use bullet points, no long paragraphs"),
)
_EN_RECORD = TaskRecord(
    title="Summarise planning meeting notes",
    goal="Summarise the notes of the product planning meeting",
    steps=("Start with the decisions that were made", "List the action items with owner and due date"),
    corrections=(),
    preferences=(),
    tools=(),
    outcome="A summary with three decisions and five action items",
    language="en",
    sources=(),
)

INSTRUCTIONS_EN = """You maintain a reusable skill: how one user wants one kind of task done.
You get the skill's numbered bullets and the record of a new task of this kind.
Answer with operations on the bullets. op is add (a new step, tool lesson or preference the task
teaches), agree (the task confirms bullet N), edit (the task corrects bullet N) or remove (the task shows
bullet N is wrong); section is the bullet's section; item is N, or 0 for add; text is the new or
corrected bullet for add and edit, empty for agree and remove. Do not restate bullets that need no change.
Sections: procedure holds short general instructions in order (write "the destination", "the recipient"
instead of one-off places, names, dates or amounts); experience holds tool lessons; preference holds
this user's wishes. Use the user's language. description says what the skill does and when to use it,
in one or two sentences."""
INSTRUCTIONS_ZH = """你维护一个可复用的技能：某位用户希望某类任务怎么做。
你会拿到技能的编号条目和一次同类新任务的记录。用对条目的操作来回答：op 为
add（任务带来的新步骤、工具经验或偏好）、agree（任务印证了第 N 条）、
edit（任务纠正了第 N 条）或 remove（任务表明第 N 条是错的）；section 是条目所属的部分；
item 是 N，add 时为 0；text 是 add 和 edit 的新条目或改正后的文字，agree 和 remove 时留空。
不需要改的条目不要重复。procedure 是按顺序的简短通用指令，
用“目的地”“收件人”代替一次性的地名、人名、日期和金额；
experience 写工具经验，preference 写这位用户的偏好。用用户的语言。
description 用一两句话说明技能做什么、什么时候用。"""

PROMPT = Prompt(
    name="memskill_skill_update",
    stage="skill_update",
    instructions={"en": INSTRUCTIONS_EN, "zh": INSTRUCTIONS_ZH},
    response=SkillUpdate,
    examples={
        "zh": Example(
            content("周报撰写", "根据本周工作记录写周报。", _ZH_ITEMS, _ZH_RECORD, ()),
            {
                "description": "根据本周工作记录写简短的周报：完成的工作、问题、下周计划。"
                "用户要写周报时使用。",
                "operations": [
                    {"op": "agree", "section": "procedure", "item": 1, "text": ""},
                    {"op": "agree", "section": "procedure", "item": 2, "text": ""},
                    {"op": "edit", "section": "preference", "item": 3, "text": "周报控制在200字以内"},
                    {"op": "add", "section": "procedure", "item": 0, "text": "每项工作后标注所用工时"},
                ],
            },
        ),
        "en": Example(
            content(
                "Meeting notes summary",
                "Turns raw meeting notes into a short summary.",
                _EN_ITEMS,
                _EN_RECORD,
                (),
            ),
            {
                "description": "Turns raw meeting notes into a short summary: decisions first, then action "
                "items with owners and due dates. Use when the user shares meeting notes.",
                "operations": [
                    {"op": "agree", "section": "procedure", "item": 1, "text": ""},
                    {"op": "agree", "section": "procedure", "item": 2, "text": ""},
                ],
            },
        ),
    },
)


def description_of(reply: SkillUpdate) -> str | None:
    """The reply's description when it fits SKILL.md (1–1024 characters, no angle brackets)."""
    text = one_line(reply.description, 1024)
    if not text or "<" in text or ">" in text:
        return None
    return text

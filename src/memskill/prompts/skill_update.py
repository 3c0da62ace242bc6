"""Skill update: the algorithm's candidate items for a new task → the model's verdict on each.

The algorithm proposes what a new task adds to its skill (steps, preferences, lessons), each shown with
the skill's nearest existing bullet, their similarity and that bullet's support. The model judges each
candidate: `same` (it restates the nearest bullet), `refines` (a better wording of it: give the text),
`contradicts` (the task shows the nearest bullet is wrong), `new` (nothing like it yet) or `drop` (not
worth keeping: one-off, noise). A candidate without a verdict is merged as the algorithm decides, so
the model complements the algorithm and never replaces it (`synthesize.merge`). Feedback answers with
operations on numbered bullets (`Operation`), applied by `skill_items.apply_operations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from memskill.models import SkillItem
from memskill.prompts.base import Example, Prompt, Reply, one_line

Section = Literal["procedure", "experience", "preference"]
SECTIONS: tuple[Section, ...] = ("procedure", "experience", "preference")


class Operation(Reply):
    op: Literal["add", "agree", "edit", "remove"]
    section: Section
    item: int = Field(description="number of the bullet to agree with, edit or remove; 0 for add")
    text: str = Field(description="the new bullet for add and edit; empty for agree and remove")


class Verdict(Reply):
    candidate: int = Field(description="number of the candidate judged")
    verdict: Literal["same", "refines", "contradicts", "new", "drop"]
    text: str = Field(description="the better wording for refines; empty otherwise")


class SkillReview(Reply):
    """The model's answer to the skill-update prompt."""

    description: str = Field(description="what the skill does and when to use it, one or two sentences")
    verdicts: list[Verdict]


class SkillUpdate(Reply):
    """What a model changes in a skill: a description, operations on its bullets (feedback) and
    verdicts on the algorithm's candidates (a new task)."""

    description: str = Field(description="what the skill does and when to use it, one or two sentences")
    operations: list[Operation] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)


@dataclass(frozen=True)
class Candidate:
    """A candidate item as the model sees it, with the skill's nearest bullet of its section."""

    section: str
    text: str
    nearest: str = ""
    """The nearest existing bullet's text ("" when the section has none)."""
    similarity: float = 0.0
    support: int = 0
    """How many tasks support the nearest bullet."""


def bullets(items: Sequence[SkillItem]) -> str:
    listed = [item for item in items if item.section in SECTIONS]
    if not listed:
        return "(no bullets yet: this is a new skill)"
    return "\n".join(f"[{n}] {item.section}: {item.text}" for n, item in enumerate(listed, 1))


def content(title: str, description: str, items: Sequence[SkillItem], candidates: Sequence[Candidate]) -> str:
    lines = [
        f"Skill: {title}",
        f"Description: {description or '(none yet)'}",
        "Bullets:",
        bullets(items),
        "",
        "Candidates from the new task:",
    ]
    for number, candidate in enumerate(candidates, 1):
        nearest = (
            f'nearest bullet: "{candidate.nearest}" (similarity {candidate.similarity:.2f}, '
            f"support {candidate.support})"
            if candidate.nearest
            else "nearest bullet: none"
        )
        lines.append(f"[{number}] {candidate.section}: {candidate.text} — {nearest}")
    if not candidates:
        lines.append("(none)")
    return "\n".join(lines)


_ZH_ITEMS = (
    SkillItem("procedure", "先列出本周完成的工作"),
    SkillItem("procedure", "再写遇到的问题和下周计划"),
    SkillItem("preference", "周报控制在300字以内"),
    SkillItem("experience", "用 export_timesheet 导出工时时，日期写成 YYYY-MM-DD"),
)
_ZH_CANDIDATES = (
    Candidate("procedure", "列出本周完成的工作", "先列出本周完成的工作", 0.93, 2),
    Candidate("procedure", "每项工作后标注所用工时", "再写遇到的问题和下周计划", 0.31, 2),
    Candidate("preference", "周报控制在200字以内", "周报控制在300字以内", 0.88, 1),
    Candidate("preference", "这周三下午要交", "周报控制在300字以内", 0.22, 1),
)
_EN_ITEMS = (
    SkillItem("procedure", "Start with the decisions that were made"),
    SkillItem("procedure", "List the action items, each with an owner and a due date"),
    SkillItem("preference", "Use bullet points, no long paragraphs"),
)
_EN_CANDIDATES = (
    Candidate("procedure", "Start with the decisions", "Start with the decisions that were made", 0.91, 3),
    Candidate(
        "procedure",
        "Give each action item an owner",
        "List the action items, each with an owner and a due date",
        0.74,
        3,
    ),
    Candidate("preference", "Keep it to bullet points", "Use bullet points, no long paragraphs", 0.81, 2),
)

INSTRUCTIONS_EN = """You maintain a reusable skill: how one user wants one kind of task done.
You get the skill's numbered bullets and the candidate items a new task of this kind proposes, each with
the skill's nearest bullet, their similarity (0-1) and how many tasks support that bullet.
Give a verdict on each candidate: candidate is its number; verdict is same (it restates the nearest
bullet), refines (it says the nearest bullet better or more precisely: put the better wording in text),
contradicts (the task shows the nearest bullet is wrong; the candidate replaces it), new (nothing like
it yet: keep it) or drop (a one-off detail of this task, or noise: do not keep it); text is empty
except for refines. A candidate you leave out is merged as the algorithm decides. Steps are short
general instructions (write "the destination", "the recipient" instead of one-off places, names, dates
or amounts); use the user's language. description says what the skill does and when to use it, in one
or two sentences."""
INSTRUCTIONS_ZH = """你维护一个可复用的技能：某位用户希望某类任务怎么做。
你会拿到技能的编号条目，以及一次同类新任务提出的候选条目；每个候选附有技能里最接近的条目、
两者的相似度（0-1）和那条条目被多少次任务印证。对每个候选给出判断：candidate 是候选编号；
verdict 为 same（与最接近的条目说的是同一件事）、refines（把最接近的条目说得更好更准：
把更好的说法写在 text）、contradicts（任务表明最接近的条目是错的，由候选替换它）、
new（技能里还没有类似的：保留）或 drop（只属于这次任务的细节或噪声：不保留）；
除 refines 外 text 留空。没有判断的候选按算法的结果合并。步骤要简短通用，
用“目的地”“收件人”代替一次性的地名、人名、日期和金额；用用户的语言。
description 用一两句话说明技能做什么、什么时候用。"""

PROMPT = Prompt(
    name="memskill_skill_update",
    stage="skill_update",
    instructions={"en": INSTRUCTIONS_EN, "zh": INSTRUCTIONS_ZH},
    response=SkillReview,
    examples={
        "zh": Example(
            content("周报撰写", "根据本周工作记录写周报。", _ZH_ITEMS, _ZH_CANDIDATES),
            {
                "description": "根据本周工作记录写简短的周报：完成的工作、问题、下周计划。"
                "用户要写周报时使用。",
                "verdicts": [
                    {"candidate": 1, "verdict": "same", "text": ""},
                    {"candidate": 2, "verdict": "new", "text": ""},
                    {"candidate": 3, "verdict": "contradicts", "text": ""},
                    {"candidate": 4, "verdict": "drop", "text": ""},
                ],
            },
        ),
        "en": Example(
            content(
                "Meeting notes summary",
                "Turns raw meeting notes into a short summary.",
                _EN_ITEMS,
                _EN_CANDIDATES,
            ),
            {
                "description": "Turns raw meeting notes into a short summary: decisions first, then action "
                "items with owners and due dates. Use when the user shares meeting notes.",
                "verdicts": [
                    {"candidate": 1, "verdict": "same", "text": ""},
                    {
                        "candidate": 2,
                        "verdict": "refines",
                        "text": "List the action items, each with one owner and a due date",
                    },
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

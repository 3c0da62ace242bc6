"""Feedback: a user's correction and the matching skill's bullets → preferences and item-level operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from memskill.models import PreferenceDraft, SkillItem
from memskill.prompts import Prompt, Reply, one_line
from memskill.prompts.skill_update import Operation, SkillUpdate, bullets


class FeedbackPreference(Reply):
    text: str = Field(description="the preference as a standalone sentence")
    topic: str = Field(description="one or two words, e.g. length, pace, tone")
    polarity: Literal[-1, 0, 1] = Field(description="1 likes or wants, -1 dislikes or avoids, 0 instruction")


class FeedbackReply(Reply):
    preferences: list[FeedbackPreference]
    operations: list[Operation]


PROMPT = Prompt(
    name="memskill_feedback",
    stage="feedback",
    instructions={
        "en": """A user gave feedback on the assistant's work. Turn it into preferences (standalone sentences,
in the user's words and language) and, when a skill is shown, into operations on its numbered bullets:
add, agree, edit (give the corrected text) or remove. Change only what the feedback is about. Feedback
that asks for nothing lasting (thanks, a one-off remark) gets no preferences: answer an empty list
rather than invent one.""",
        "zh": """用户对助手的工作给出了反馈。把它写成偏好（独立成句，用用户的说法和语言）；如果给出了技能，
再写成对其编号条目的操作：add、agree、edit（给出改正后的文字）或 remove。只改反馈涉及的内容。
没有提出持久要求的反馈（道谢、一次性的评论）不写偏好：返回空列表，不要编造。""",
    },
    response=FeedbackReply,
    example={
        "preferences": [{"text": "周报控制在200字以内", "topic": "length", "polarity": 0}],
        "operations": [{"op": "edit", "section": "preference", "item": 2, "text": "周报控制在200字以内"}],
    },
)


def content(feedback: str, skill_title: str | None, items: Sequence[SkillItem]) -> str:
    skill = f"Skill: {skill_title}\nBullets:\n{bullets(items)}" if skill_title else "Skill: (none matches)"
    return f"Feedback: {feedback}\n\n{skill}"


def to_drafts(reply: FeedbackReply, sources: Sequence[str], quote: str) -> tuple[PreferenceDraft, ...]:
    return tuple(
        PreferenceDraft(
            text=one_line(p.text),
            preference_type="explicit_preference",
            reasoning=one_line(quote, 120),
            topic=one_line(p.topic, 40).lower() or "feedback",
            polarity=p.polarity,
            sources=tuple(sources),
            is_correction=True,
        )
        for p in reply.preferences
        if p.text.strip()
    )


def as_update(reply: FeedbackReply, description: str) -> SkillUpdate:
    """The operations as a skill update that keeps the skill's description."""
    return SkillUpdate(description=description, operations=reply.operations)

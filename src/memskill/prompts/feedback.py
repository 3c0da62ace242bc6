"""Feedback: a user's correction and the matching skill's bullets → preferences and item-level operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from memskill.models import PreferenceDraft, SkillItem
from memskill.prompts.base import Example, Prompt, Reply, one_line
from memskill.prompts.skill_update import Operation, SkillUpdate, bullets


class FeedbackPreference(Reply):
    text: str = Field(description="the preference as a standalone sentence")
    topic: str = Field(description="one or two words, e.g. length, pace, tone")
    polarity: Literal[-1, 0, 1] = Field(description="1 likes or wants, -1 dislikes or avoids, 0 instruction")


class FeedbackReply(Reply):
    preferences: list[FeedbackPreference]
    operations: list[Operation]


def content(feedback: str, skill_title: str | None, items: Sequence[SkillItem]) -> str:
    skill = f"Skill: {skill_title}\nBullets:\n{bullets(items)}" if skill_title else "Skill: (none matches)"
    return f"Feedback: {feedback}\n\n{skill}"


_ZH_ITEMS = (
    SkillItem("procedure", "先确认出行天数、人数和预算"),
    SkillItem("procedure", "按地理位置排路线，不走回头路"),
    SkillItem("preference", "每天尽早出发，避开人流"),
)
_EN_ITEMS = (
    SkillItem("procedure", "Ask for the dates, the budget and who is travelling"),
    SkillItem("procedure", "Group the sights by neighbourhood, one area per half day"),
    SkillItem("preference", "Leave the evenings free"),
)

PROMPT = Prompt(
    name="memskill_feedback",
    stage="feedback",
    instructions={
        "en": """A user gave feedback on the assistant's work.
Turn it into preferences and, when a skill is shown, into operations on its numbered bullets. Change
only what the feedback is about. Feedback that asks for nothing lasting (thanks, a one-off remark) gets
no preferences: answer an empty list rather than invent one. Without a skill, or when no bullet is
concerned, operations is an empty list.
Fields: preferences: text is the preference as a standalone sentence, in the user's words and language;
topic is one or two words (length, format, tone, pace…); polarity is 1 (likes or wants), -1 (dislikes or
avoids) or 0 (an instruction). operations: op is add, agree, edit or remove; section is the bullet's
section (procedure, experience or preference); item is the bullet's number, 0 for add; text is the new
or corrected bullet for add and edit, empty for agree and remove.""",
        "zh": """用户对助手的工作给出了反馈。把它写成偏好；如果给出了技能，再写成对其编号条目的操作。
只改反馈涉及的内容。没有提出持久要求的反馈（道谢、一次性的评论）不写偏好：返回空列表，不要编造。
没有技能、或没有条目受影响时，operations 为空列表。
字段：preferences 中 text 是独立成句的偏好，用用户的说法和语言；
topic 是一两个词（length、format、tone、pace 等）；polarity 为 1（喜欢或想要）、-1（不喜欢或避免）
或 0（一条指令）。operations 中 op 为 add、agree、edit 或 remove；
section 是条目所属的部分（procedure、experience 或 preference）；item 是条目编号，add 时为 0；
text 是 add 和 edit 的新条目或改正后的文字，agree 和 remove 时留空。""",
    },
    response=FeedbackReply,
    examples={
        "zh": Example(
            content("以后行程别再排早上7点前出发了，我起不来", "旅行行程规划", _ZH_ITEMS),
            {
                "preferences": [{"text": "行程不要安排早上7点前出发", "topic": "schedule", "polarity": -1}],
                "operations": [
                    {
                        "op": "edit",
                        "section": "preference",
                        "item": 3,
                        "text": "早上7点以后再出发，尽量避开人流",
                    }
                ],
            },
        ),
        "en": Example(
            content(
                "Thanks, looks good! Just for this trip, move the museum to Sunday.",
                "Weekend city trip planning",
                _EN_ITEMS,
            ),
            {"preferences": [], "operations": []},
        ),
    },
)


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

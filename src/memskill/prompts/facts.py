"""Facts and preferences: one task's messages → what the user says about themselves, how they like things."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from memskill.models import FactDraft, Message, PreferenceDraft
from memskill.prompts import Prompt, Reply, message_at, numbered, one_line


class FactReply(Reply):
    key: str = Field(description="a short title")
    value: str = Field(description="the fact in one sentence")
    kind: Literal["user", "event"] = Field(description="user: about the user; event: something that happened")
    message: int = Field(description="number of the user message that says it")


class PreferenceReply(Reply):
    text: str = Field(description="the preference as a standalone sentence")
    explicit: bool = Field(description="true when the user said it outright")
    topic: str = Field(description="one or two words, e.g. length, pace, tone, food")
    polarity: Literal[-1, 0, 1] = Field(description="1 likes or wants, -1 dislikes or avoids, 0 instruction")
    correction: bool = Field(description="true when it corrects what the assistant did")
    message: int = Field(description="number of the user message that shows it")


class FactsAndPreferences(Reply):
    facts: list[FactReply]
    preferences: list[PreferenceReply]


PROMPT = Prompt(
    name="memskill_facts",
    stage="facts",
    instructions={
        "en": """You read one task from a conversation and note what is worth remembering about the user.
Facts: lasting facts about the user (job, family, home, plans, possessions) and notable events, each from
one user message. Preferences: how the user likes things done — stated outright ("keep it under 200
words") or shown by a correction ("no, less formal"). Only what the user's own messages say; nothing
about the assistant; no greetings. Write in the user's language. Empty lists are fine.""",
        "zh": """你阅读对话中的一个任务，记下关于用户值得记住的内容。
facts：关于用户的长期事实（职业、家庭、住处、计划、物品）和值得记的事件，每条来自一条用户消息。
preferences：用户希望事情怎么做——直接说出的（“控制在200字以内”）或通过纠正表现出的（“不对，别那么正式”）。
只写用户自己消息里说的；不写助手的内容；不写寒暄。用用户的语言。没有就给空列表。""",
    },
    response=FactsAndPreferences,
    example={
        "facts": [{"key": "职业", "value": "用户是一名中学老师", "kind": "user", "message": 1}],
        "preferences": [
            {
                "text": "周报控制在200字以内",
                "explicit": True,
                "topic": "length",
                "polarity": 0,
                "correction": True,
                "message": 5,
            }
        ],
    },
)


def content(messages: Sequence[Message]) -> str:
    return f"Task messages:\n{numbered(messages)}"


def to_drafts(
    reply: FactsAndPreferences, messages: Sequence[Message]
) -> tuple[tuple[FactDraft, ...], tuple[PreferenceDraft, ...]]:
    facts = []
    for fact in reply.facts:
        if not fact.value.strip():
            continue
        source = message_at(messages, fact.message)
        memory_type: Literal["LongTermMemory", "UserMemory"] = (
            "UserMemory" if fact.kind == "user" else "LongTermMemory"
        )
        facts.append(
            FactDraft(
                one_line(fact.key, 60) or one_line(fact.value, 60),
                one_line(fact.value),
                memory_type,
                (source.id,),
            )
        )
    preferences = []
    for preference in reply.preferences:
        if not preference.text.strip():
            continue
        source = message_at(messages, preference.message)
        preferences.append(
            PreferenceDraft(
                text=one_line(preference.text),
                preference_type="explicit_preference" if preference.explicit else "implicit_preference",
                reasoning=one_line(source.content, 120),
                topic=one_line(preference.topic, 40).lower() or "general",
                polarity=preference.polarity,
                sources=(source.id,),
                is_correction=preference.correction,
            )
        )
    return tuple(facts), tuple(preferences)

"""Facts and preferences: one task's messages → what the user says about themselves, how they like things."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from memskill.models import FactDraft, Message, PreferenceDraft
from memskill.prompts.base import Example, Prompt, Reply, message_at, numbered, one_line


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


def content(messages: Sequence[Message]) -> str:
    return f"Task messages:\n{numbered(messages)}"


_EXAMPLE_ZH = (
    Message("user", "下个月我要带爸妈去青岛玩三天，我爸腿脚不太方便，帮我排一下行程"),
    Message(
        "assistant", "第一天：栈桥、八大关、小鱼山；第二天：崂山一日游；第三天：啤酒博物馆、台东步行街。"
    ),
    Message("user", "崂山太累了，换个轻松点的。另外我们全家都不吃辣"),
    Message("assistant", "好的，第二天改为坐船游海湾、下午去奥帆中心；推荐的餐厅都有不辣的菜。"),
    Message("user", "可以，谢谢"),
)
_EXAMPLE_EN = (
    Message(
        "user",
        "My car was rear-ended last Tuesday and I need to email my insurer. "
        "I work night shifts as a nurse, so they should call me after 2 pm.",
    ),
    Message(
        "assistant", "Subject: Claim notification. Dear Sir or Madam, I am writing to formally notify you …"
    ),
    Message(
        "user", "No need for the formal stuff, keep it plain and short. Put the key details in bullet points."
    ),
    Message(
        "assistant",
        "Subject: New claim, rear-end collision on Tuesday. - Date: … - Best time to call: after 2 pm",
    ),
    Message("user", "great"),
)

PROMPT = Prompt(
    name="memskill_facts",
    stage="facts",
    instructions={
        "en": """You read one task from a conversation and note what is worth remembering about the user.
Only what the user's own messages say; nothing about the assistant; no greetings. Write in the user's
language. Empty lists are fine.
facts: lasting facts about the user (job, family, home, plans, possessions) and notable events. key is a
short title; value is the fact in one sentence; kind is "user" (about the user) or "event" (something
that happened); message is the number of the user message that says it.
preferences: how the user likes things done, stated outright ("keep it under 200 words") or shown by a
correction ("no, less formal"). text is the preference as a standalone sentence; explicit is true when
the user said it outright, false when you infer it; topic is one or two words (length, format, tone,
pace, food…); polarity is 1 (likes or wants), -1 (dislikes or avoids) or 0 (an instruction); correction
is true when it corrects what the assistant did; message is the number of the user message that shows it.""",
        "zh": """你阅读对话中的一个任务，记下关于用户值得记住的内容。
只写用户自己消息里说的；不写助手的内容；不写寒暄。用用户的语言。没有就给空列表。
facts：关于用户的长期事实（职业、家庭、住处、计划、物品）和值得记的事件。key 是简短标题；
value 用一句话写事实；kind 为 "user"（关于用户本人）或 "event"（发生过的事）；message 是说出它的用户消息编号。
preferences：用户希望事情怎么做——直接说出的（“控制在200字以内”）或通过纠正表现出的（“不对，别那么正式”）。
text 是独立成句的偏好；explicit 为 true 表示用户明说，false 表示由你推断；topic 是一两个词（length、format、
tone、pace、food 等）；polarity 为 1（喜欢或想要）、-1（不喜欢或避免）或 0（一条指令）；correction 为 true
表示它纠正了助手的做法；message 是体现它的用户消息编号。""",
    },
    response=FactsAndPreferences,
    examples={
        "zh": Example(
            content(_EXAMPLE_ZH),
            {
                "facts": [
                    {"key": "家人", "value": "用户的父亲腿脚不太方便", "kind": "user", "message": 1},
                    {
                        "key": "出行计划",
                        "value": "用户下个月要带父母去青岛玩三天",
                        "kind": "user",
                        "message": 1,
                    },
                ],
                "preferences": [
                    {
                        "text": "行程要轻松，避免爬山这类太累的项目",
                        "explicit": True,
                        "topic": "pace",
                        "polarity": -1,
                        "correction": True,
                        "message": 3,
                    },
                    {
                        "text": "全家都不吃辣",
                        "explicit": True,
                        "topic": "food",
                        "polarity": -1,
                        "correction": False,
                        "message": 3,
                    },
                    {
                        "text": "带父母出行时少安排需要走很多路的景点",
                        "explicit": False,
                        "topic": "pace",
                        "polarity": -1,
                        "correction": False,
                        "message": 1,
                    },
                ],
            },
        ),
        "en": Example(
            content(_EXAMPLE_EN),
            {
                "facts": [
                    {
                        "key": "Job",
                        "value": "The user is a nurse who works night shifts",
                        "kind": "user",
                        "message": 1,
                    },
                    {
                        "key": "Car accident",
                        "value": "The user's car was rear-ended last Tuesday",
                        "kind": "event",
                        "message": 1,
                    },
                ],
                "preferences": [
                    {
                        "text": "Prefers plain, short emails to formal ones",
                        "explicit": True,
                        "topic": "tone",
                        "polarity": 1,
                        "correction": True,
                        "message": 3,
                    },
                    {
                        "text": "Put the key details of an email in bullet points",
                        "explicit": True,
                        "topic": "format",
                        "polarity": 0,
                        "correction": True,
                        "message": 3,
                    },
                    {
                        "text": "Calls should come after 2 pm, because the user works night shifts",
                        "explicit": True,
                        "topic": "schedule",
                        "polarity": 0,
                        "correction": False,
                        "message": 1,
                    },
                ],
            },
        ),
    },
)


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

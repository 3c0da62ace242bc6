"""Task record: one task's messages → goal, generalised steps, corrections, preferences, tools, outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from memskill.models import TaskChunk, TaskRecord
from memskill.prompts import Prompt, Reply, numbered, one_line


class TaskRecordReply(Reply):
    title: str = Field(min_length=1)
    goal: str = Field(description="what the user wanted, in one sentence")
    steps: list[str] = Field(description="how the task should be done, generalised")
    corrections: list[str] = Field(description="what the user corrected, as instructions")
    preferences: list[str] = Field(description="how this user likes this kind of task done")
    tools: list[str] = Field(description="names of tools that were called")
    outcome: str = Field(description="what was delivered or decided")
    language: Literal["zh", "en"]


PROMPT = Prompt(
    name="memskill_task_record",
    stage="task_record",
    instructions={
        "en": """You write the record of one task from a conversation between a user and an assistant.
Steps say how to do this kind of task next time, as short instructions in order; replace one-off details
(places, dates, names, amounts) with general words ("the destination", "the recipient"). Corrections are
what the user asked to change, written as instructions. Preferences are how this user wants such tasks
done. Use the user's language; leave a list empty when the conversation says nothing about it.""",
        "zh": """你为对话中的一个任务写任务记录。
steps 写下次做这类任务的做法：简短的指令，按顺序；把一次性的细节（地名、日期、人名、金额）换成通用说法
（“目的地”“收件人”）。corrections 是用户要求修改的地方，写成指令。preferences 是这位用户希望这类任务怎么做。
使用用户的语言；对话没有提到的列表留空。""",
    },
    response=TaskRecordReply,
    example={
        "title": "云南旅行规划",
        "goal": "规划一次五天的云南旅行",
        "steps": ["先确认出行天数和预算", "按地理顺序排路线，不走回头路", "每天附上天气和穿衣建议"],
        "corrections": ["每天的行程不要超过三个景点"],
        "preferences": ["喜欢人文景点", "不走回头路"],
        "tools": ["get_weather"],
        "outcome": "给出了五天的路线和住宿建议",
        "language": "zh",
    },
)


def content(chunk: TaskChunk) -> str:
    return f"Task messages:\n{numbered(chunk.messages)}"


def to_record(reply: TaskRecordReply, chunk: TaskChunk) -> TaskRecord:
    def clean(texts: list[str], limit: int = 12) -> tuple[str, ...]:
        return tuple(dict.fromkeys(one_line(t) for t in texts if t.strip()))[:limit]

    if not reply.goal.strip() and not reply.steps:
        raise ValueError("goal and steps are both empty: say what the user wanted and how it was done")
    return TaskRecord(
        title=one_line(reply.title, 80),
        goal=one_line(reply.goal),
        steps=clean(reply.steps),
        corrections=clean(reply.corrections),
        preferences=clean(reply.preferences),
        tools=clean(reply.tools),
        outcome=one_line(reply.outcome),
        language=reply.language,
        sources=tuple(m.id for m in chunk.messages),
    )

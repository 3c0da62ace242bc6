"""Task record: one task's messages → goal, generalised steps, corrections, preferences, tools, outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from memskill.models import Message, TaskChunk, TaskRecord, ToolCall
from memskill.prompts.base import Example, Prompt, Reply, numbered, one_line


class TaskRecordReply(Reply):
    title: str = Field(min_length=1)
    goal: str = Field(description="what the user wanted, in one sentence")
    steps: list[str] = Field(description="how the task should be done, generalised")
    corrections: list[str] = Field(description="what the user corrected, as instructions")
    preferences: list[str] = Field(description="how this user likes this kind of task done")
    tools: list[str] = Field(description="names of tools that were called")
    outcome: str = Field(description="what was delivered or decided")
    language: Literal["zh", "en"]


def content(chunk: TaskChunk) -> str:
    return f"Task messages:\n{numbered(chunk.messages)}"


_EXAMPLE_ZH = (
    Message("user", "帮我查下明天杭州的天气，再排一条西湖一日步行路线"),
    Message(
        "assistant",
        "",
        tool_calls=(ToolCall("c1", "get_weather", '{"city": "Hangzhou", "day": "tomorrow"}'),),
    ),
    Message("tool", '{"condition": "小雨", "high": 18, "low": 12}', tool_call_id="c1"),
    Message(
        "assistant", "明天小雨，12–18°C。路线：断桥 → 白堤 → 孤山 → 苏堤全程 → 雷峰塔 → 南山路，约14公里。"
    ),
    Message("user", "太长了，我膝盖不好，全程控制在8公里以内，中间多安排几个能坐下歇脚的地方"),
    Message(
        "assistant",
        "调整后：断桥 → 白堤 → 孤山（午饭）→ 坐船到三潭印月 → 回岸，约6公里，"
        "沿途有三处茶室可歇脚。记得带伞。",
    ),
    Message("user", "可以，就这样"),
)
_EXAMPLE_EN = (
    Message(
        "user",
        "Write a cover letter for a junior data analyst job at a logistics firm. "
        "I did two years of customer support and I know SQL and Excel.",
    ),
    Message("assistant", "Dear Hiring Manager, I am writing to express my sincere interest in … (420 words)"),
    Message(
        "user",
        "Too long and too stiff. Under 200 words, and address it to Ms. Patel "
        "instead of Dear Hiring Manager.",
    ),
    Message("assistant", "Dear Ms. Patel, two years in customer support taught me … (180 words)"),
    Message("user", "Perfect, thanks."),
)

PROMPT = Prompt(
    name="memskill_task_record",
    stage="task_record",
    instructions={
        "en": """You write the record of one task from a conversation between a user and an assistant.
Fields: title names the task in a few words; goal is what the user wanted, in one sentence; steps say how
to do this kind of task next time, as short instructions in order, with one-off details (places, dates,
names, amounts) replaced by general words ("the destination", "the recipient"); corrections are what the
user asked to change, written as instructions; preferences are how this user wants such tasks done; tools
are the names of the tools that were called; outcome is what was delivered or decided; language is "zh"
or "en", the language the user writes in.
Write in the user's language; leave a list empty when the conversation says nothing about it.""",
        "zh": """你为对话中的一个任务写任务记录。
字段：title 用几个词概括任务；goal 用一句话写用户想要什么；steps 写下次做这类任务的做法：简短的指令，按顺序，
把一次性的细节（地名、日期、人名、金额）换成通用说法（“目的地”“收件人”）；corrections 是用户要求修改的地方，
写成指令；preferences 是这位用户希望这类任务怎么做；tools 是被调用的工具名；outcome 是最终交付或决定了什么；
language 是用户使用的语言，"zh" 或 "en"。
使用用户的语言；对话没有提到的列表留空。""",
    },
    response=TaskRecordReply,
    examples={
        "zh": Example(
            content(TaskChunk("example", "西湖步行路线", _EXAMPLE_ZH)),
            {
                "title": "西湖一日步行路线",
                "goal": "根据明天的天气规划一条西湖一日步行路线",
                "steps": [
                    "先查目的地当天的天气",
                    "按位置把景点串成不走回头路的路线",
                    "控制总步行距离，沿途安排歇脚的地方",
                    "附上天气提醒",
                ],
                "corrections": ["全程步行控制在8公里以内", "中间多安排能坐下歇脚的地方"],
                "preferences": ["膝盖不好，步行路线不要太长", "路线上要有能坐下休息的地方"],
                "tools": ["get_weather"],
                "outcome": "给出约6公里、带三处歇脚茶室的西湖步行路线，并提醒带伞",
                "language": "zh",
            },
        ),
        "en": Example(
            content(TaskChunk("example", "Cover letter", _EXAMPLE_EN)),
            {
                "title": "Cover letter for a data analyst job",
                "goal": "Write a cover letter for a junior data analyst job",
                "steps": [
                    "Use the user's background and the role applied for",
                    "Link the user's experience to what the role needs",
                    "Keep it short and address the hiring manager by name",
                ],
                "corrections": [
                    "Keep the letter under 200 words",
                    'Address the hiring manager by name instead of "Dear Hiring Manager"',
                ],
                "preferences": ["Prefers short cover letters that are not stiff"],
                "tools": [],
                "outcome": "A cover letter of about 180 words addressed to the hiring manager by name",
                "language": "en",
            },
        ),
    },
)


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

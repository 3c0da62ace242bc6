"""Tool lessons: one task's tool calls and results → which tool, what went wrong, what fixed it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from memskill.models import Message, ToolLessonDraft, ToolUsage
from memskill.prompts import Prompt, Reply, message_at, numbered, one_line


class LessonReply(Reply):
    tool: str = Field(description="the tool's name as called")
    what_happened: str = Field(description="the call, its arguments and result, briefly")
    lesson: str = Field(description="what to do next time: what failed and what fixed it, or what worked")
    error_type: str = Field(description="a short error kind like timeout or invalid_argument; empty if none")
    message: int = Field(description="number of the tool result message the lesson is about")


class ToolLessons(Reply):
    lessons: list[LessonReply]


PROMPT = Prompt(
    name="memskill_tool_lessons",
    stage="tool_lessons",
    instructions={
        "en": """You read the tool calls and tool results of one task and write lessons for using each tool.
A lesson says what to do next time: which argument or format failed and what fixed it, or what worked
when nothing failed. One lesson per tool that was called. Write in the user's language.""",
        "zh": """你阅读一个任务中的工具调用和结果，为每个工具写使用经验。
经验说明下次该怎么做：哪个参数或格式出错了、怎样改好了；没有出错时写有效的用法。每个被调用的工具一条。用用户的语言。""",
    },
    response=ToolLessons,
    example={
        "lessons": [
            {
                "tool": "get_weather",
                "what_happened": "get_weather(city=大理) 报错，改为 city=Dali 后成功",
                "lesson": "城市名要用拼音或英文，中文名会报 invalid_city",
                "error_type": "invalid_argument",
                "message": 4,
            }
        ]
    },
)


def content(messages: Sequence[Message]) -> str:
    return f"Task messages:\n{numbered(messages)}"


def to_drafts(
    reply: ToolLessons, messages: Sequence[Message], measured: Sequence[ToolLessonDraft]
) -> tuple[ToolLessonDraft, ...]:
    """Lessons with the success rates measured from the calls themselves (`measured`, per tool)."""
    called = {call.name for m in messages for call in m.tool_calls}
    usage_of = {lesson.tool: lesson.usage for lesson in measured}
    drafts = []
    for lesson in reply.lessons:
        if lesson.tool not in called:
            raise ValueError(
                f"tool {lesson.tool!r} was not called; use a name from: {', '.join(sorted(called))}"
            )
        source = message_at(messages, lesson.message, ("tool", "assistant"))
        measured_usage = usage_of.get(lesson.tool)
        usage = ToolUsage(
            used_tool=lesson.tool,
            error_type=one_line(lesson.error_type, 40),
            success_rate=measured_usage.success_rate
            if measured_usage
            else (0.0 if lesson.error_type else 1.0),
            tool_experience=one_line(lesson.lesson),
        )
        drafts.append(
            ToolLessonDraft(
                lesson.tool, one_line(lesson.what_happened), one_line(lesson.lesson), usage, (source.id,)
            )
        )
    return tuple(drafts)

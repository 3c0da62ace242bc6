"""Tool lessons: one task's tool calls and results → which tool, what went wrong, what fixed it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from memskill.models import Message, ToolCall, ToolLessonDraft, ToolUsage
from memskill.prompts.base import Example, Prompt, Reply, message_at, numbered, one_line


class LessonReply(Reply):
    tool: str = Field(description="the tool's name as called")
    what_happened: str = Field(description="the call, its arguments and result, briefly")
    lesson: str = Field(description="what to do next time: what failed and what fixed it, or what worked")
    error_type: str = Field(description="a short error kind like timeout or invalid_argument; empty if none")
    message: int = Field(description="number of the tool result message the lesson is about")


class ToolLessons(Reply):
    lessons: list[LessonReply]


def content(messages: Sequence[Message]) -> str:
    return f"Task messages:\n{numbered(messages)}"


def _call(call_id: str, name: str, arguments: str) -> Message:
    return Message("assistant", "", tool_calls=(ToolCall(call_id, name, arguments),))


def _result(call_id: str, text: str) -> Message:
    return Message("tool", text, tool_call_id=call_id)


_EXAMPLE_ZH = (
    Message("user", "把这周五下午3点和设计组的评审会加到我日历上，一个小时"),
    _call("c1", "create_event", '{"title": "设计评审", "start": "周五 15:00", "minutes": 60}'),
    _result("c1", '{"error": "invalid_argument", "detail": "start must be ISO 8601"}'),
    _call("c2", "create_event", '{"title": "设计评审", "start": "2024-06-14T15:00:00+08:00", "minutes": 60}'),
    _result("c2", '{"ok": true, "event_id": "evt_81"}'),
    Message("assistant", "已添加：周五 15:00–16:00 设计评审。"),
)
_EXAMPLE_EN = (
    Message("user", "Add my Berlin hotel bill to my expense report: 250 euros, in dollars please."),
    _call("c1", "convert_currency", '{"amount": 250, "from": "EUR", "to": "USD"}'),
    _result("c1", '{"amount": 271.5, "currency": "USD"}'),
    _call("c2", "add_expense", '{"amount": 271.5, "currency": "USD"}'),
    _result("c2", '{"error": "missing_field", "field": "category"}'),
    _call("c3", "add_expense", '{"amount": 271.5, "currency": "USD", "category": "lodging"}'),
    _result("c3", '{"ok": true, "id": "exp_2207"}'),
    Message("assistant", "Added the hotel bill: 271.50 USD (250 EUR), under lodging."),
)

PROMPT = Prompt(
    name="memskill_tool_lessons",
    stage="tool_lessons",
    instructions={
        "en": """You read the tool calls and tool results of one task and write lessons for using each tool.
One lesson per tool that was called. Write in the user's language.
Fields: tool is the tool's name as called; what_happened is the call, its arguments and result, briefly;
lesson says what to do next time: which argument or format failed and what fixed it, or what worked when
nothing failed; error_type is a short error kind such as timeout or invalid_argument, empty when nothing
failed; message is the number of the tool result the lesson is about.""",
        "zh": """你阅读一个任务中的工具调用和结果，为每个工具写使用经验。每个被调用的工具一条。用用户的语言。
字段：tool 是调用时的工具名；what_happened 简述调用、参数和结果；
lesson 说明下次该怎么做：哪个参数或格式出错了、怎样改好了，没有出错时写有效的用法；
error_type 是简短的错误类型，如 timeout、invalid_argument，没有出错时留空；
message 是这条经验所针对的工具结果的消息编号。""",
    },
    response=ToolLessons,
    examples={
        "zh": Example(
            content(_EXAMPLE_ZH),
            {
                "lessons": [
                    {
                        "tool": "create_event",
                        "what_happened": "start 写成“周五 15:00”返回 invalid_argument，"
                        "改成 ISO 8601 时间后创建成功",
                        "lesson": "start 要用带时区的 ISO 8601 时间（如 2024-06-14T15:00:00+08:00），"
                        "不能写自然语言",
                        "error_type": "invalid_argument",
                        "message": 3,
                    }
                ]
            },
        ),
        "en": Example(
            content(_EXAMPLE_EN),
            {
                "lessons": [
                    {
                        "tool": "convert_currency",
                        "what_happened": "convert_currency(amount=250, from=EUR, to=USD) returned 271.5 USD",
                        "lesson": "Pass ISO currency codes (EUR, USD) as from and to; this worked first time",
                        "error_type": "",
                        "message": 3,
                    },
                    {
                        "tool": "add_expense",
                        "what_happened": "add_expense without a category failed with missing_field; "
                        "adding category=lodging fixed it",
                        "lesson": "add_expense requires a category: always pass one (lodging for hotels)",
                        "error_type": "missing_field",
                        "message": 5,
                    },
                ]
            },
        ),
    },
)


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

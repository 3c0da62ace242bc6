"""Segmentation: numbered messages → contiguous task segments with short titles."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from memskill.models import Message, Segment
from memskill.prompts.base import Example, Prompt, Reply, numbered


class SegmentReply(Reply):
    start: int = Field(ge=1, description="number of the segment's first message")
    end: int = Field(ge=1, description="number of the segment's last message")
    title: str = Field(description="what the user wanted in this segment, a few words")


class Segments(Reply):
    segments: list[SegmentReply] = Field(min_length=1)


def content(messages: Sequence[Message]) -> str:
    return f"Messages 1–{len(messages)}:\n{numbered(messages)}"


_EXAMPLE_ZH = (
    Message("user", "帮我给房东发条微信，说从下个月起房租想改到每月5号交"),
    Message("assistant", "王先生您好，想跟您商量一下：从下个月起，房租能否改为每月5号交？谢谢！"),
    Message("user", "语气再客气一点"),
    Message(
        "assistant", "王先生您好，打扰了。想和您商量下，从下个月起房租改到每月5号交，您看方便吗？非常感谢！"
    ),
    Message("user", "好的。另外，周末请四个朋友来家里吃饭，做什么菜比较好？"),
    Message("assistant", "四菜一汤就够：可乐鸡翅、番茄炒蛋、蒜蓉西兰花、红烧豆腐，再加一个紫菜蛋花汤。"),
)
_EXAMPLE_EN = (
    Message("user", "How many grams is 3/4 cup of butter?"),
    Message("assistant", "3/4 cup of butter is about 170 g."),
    Message("user", "Thanks! And 2 cups of flour?"),
    Message("assistant", "About 250 g of all-purpose flour."),
    Message("user", "Another thing: write a short birthday message for my sister, she turns 30 on Friday."),
    Message("assistant", "Happy 30th, sis! Here's to a decade even better than the last one. Love you!"),
)

PROMPT = Prompt(
    name="memskill_segments",
    stage="segment",
    instructions={
        "en": """You split a conversation between a user and an assistant into tasks.
A task is one thing the user wants done (plan a trip, write an email, fix a bug). A new task starts when
the user asks for something unrelated, often after cues like "by the way" or "another thing"; follow-up
questions, corrections and thanks stay in the task they belong to.
Give every message to exactly one segment: segments are contiguous, in order, start at 1, end at the last
message, and never overlap.
Fields: segments lists the tasks in order; start and end are the numbers of a segment's first and last
message; title says in a few words what the user wanted, in the user's language.""",
        "zh": """你把用户与助手的一段对话切分成若干任务。
一个任务是用户想完成的一件事（规划行程、写邮件、修 bug）。用户提出无关的新请求时开始新任务，常见提示词如
“另外”“顺便问下”“换个话题”；追问、纠正和道谢都属于它们所在的任务。
每条消息必须恰好属于一个片段：片段连续、按顺序、从 1 开始、到最后一条消息结束、互不重叠。
字段：segments 按顺序列出各任务；start 和 end 是片段第一条和最后一条消息的编号；
title 用几个词说明用户想做什么，用用户的语言。""",
    },
    response=Segments,
    examples={
        "zh": Example(
            content(_EXAMPLE_ZH),
            {
                "segments": [
                    {"start": 1, "end": 4, "title": "给房东发微信改交租日"},
                    {"start": 5, "end": 6, "title": "周末请客的菜单"},
                ]
            },
        ),
        "en": Example(
            content(_EXAMPLE_EN),
            {
                "segments": [
                    {"start": 1, "end": 4, "title": "Baking unit conversions"},
                    {"start": 5, "end": 6, "title": "Birthday message for sister"},
                ]
            },
        ),
    },
)


def check(reply: Segments, count: int) -> list[Segment]:
    """The segments as 0-based spans; raises ValueError (the repair message) unless they tile 1..count."""
    parts = sorted(reply.segments, key=lambda s: s.start)
    expected = 1
    for part in parts:
        if part.start != expected:
            problem = "overlap" if part.start < expected else "leave a gap"
            raise ValueError(
                f"segments {problem} at message {min(part.start, expected)}: each segment must start right "
                f"after the previous one ends, the first at 1"
            )
        if part.end < part.start:
            raise ValueError(f"segment {part.start}–{part.end} ends before it starts")
        expected = part.end + 1
    if expected != count + 1:
        raise ValueError(f"the last segment must end at message {count}, not {expected - 1}")
    return [Segment(p.start - 1, p.end - 1, " ".join(p.title.split()) or "task") for p in parts]

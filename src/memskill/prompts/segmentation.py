"""Segmentation: numbered messages → contiguous task segments with short titles."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from memskill.models import Message, Segment
from memskill.prompts import Prompt, Reply, numbered


class SegmentReply(Reply):
    start: int = Field(ge=1, description="number of the segment's first message")
    end: int = Field(ge=1, description="number of the segment's last message")
    title: str = Field(description="what the user wanted in this segment, a few words")


class Segments(Reply):
    segments: list[SegmentReply] = Field(min_length=1)


PROMPT = Prompt(
    name="memskill_segments",
    stage="segment",
    instructions={
        "en": """You split a conversation between a user and an assistant into tasks.
A task is one thing the user wants done (plan a trip, write an email, fix a bug). A new task starts when
the user asks for something unrelated, often after cues like "by the way" or "another thing"; follow-up
questions, corrections and thanks stay in the task they belong to.
Give every message to exactly one segment: segments are contiguous, in order, start at 1, end at the last
message, and never overlap. Titles are short and in the user's language.""",
        "zh": """你把用户与助手的一段对话切分成若干任务。
一个任务是用户想完成的一件事（规划行程、写邮件、修 bug）。用户提出无关的新请求时开始新任务，常见提示词如
“另外”“顺便问下”“换个话题”；追问、纠正和道谢都属于它们所在的任务。
每条消息必须恰好属于一个片段：片段连续、按顺序、从 1 开始、到最后一条消息结束、互不重叠。
标题简短，用用户的语言。""",
    },
    response=Segments,
    example={
        "segments": [
            {"start": 1, "end": 6, "title": "云南行程规划"},
            {"start": 7, "end": 9, "title": "写请假邮件"},
        ]
    },
)


def content(messages: Sequence[Message]) -> str:
    return f"Messages 1–{len(messages)}:\n{numbered(messages)}"


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

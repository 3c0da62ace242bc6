"""The task record of a chunk, and `extract`, which runs every extractor on a chunk."""

from __future__ import annotations

import re
from collections.abc import Sequence

from memskill.extract.facts import _ACKNOWLEDGEMENT, extract_facts
from memskill.extract.preferences import _ZH_HYPOTHETICAL, _clause_hit, _clauses, extract_preferences
from memskill.extract.text import (
    _CJK,
    _CODE_BLOCK,
    _any,
    _clean_en,
    _clean_zh,
    _normalise_en,
    _short,
    _text_units,
    detect_language,
    split_sentences,
)
from memskill.extract.tools import extract_tool_lessons
from memskill.generalise import generalise
from memskill.models import (
    Extraction,
    FactDraft,
    Message,
    PreferenceDraft,
    TaskChunk,
    TaskRecord,
)

# ================================================================ task record

_ZH_REQUEST = re.compile(
    r"^(?:请|麻烦)|帮我|给我|替我|帮忙|^(?:能不能|可以|能否|能)帮"
    r"|^我(?:想|要|需要|打算)?" + _any("规划|安排|订|预订|查|找|了解|写|做|整理")
    + "|^" + _any(r"""规划|安排|推荐|查询?|查找|查看|预订|订|列出|列|写|整理|总结|翻译|生成|
    设计|制定|计算|比较|介绍|看看|找|做|给出|提供""")
)  # fmt: skip
_EN_REQUEST = re.compile(
    "^"
    + _any(r"""please |can you |could you |would you |will you |help me |i need you to |
    i want you to |i would like you to |let us |i need (?:a|an|some|to)\b|
    i want (?:a|an|some|to)\b|i would like (?:a|an|some|to)\b""")
    + "|^"
    + _any(r"""plan|book|find|search|look up|check|write|make|create|give|list|show|tell|explain|
    summari[sz]e|translate|recommend|suggest|compare|draft|generate|build|fix|convert|add|remove|
    update|calculate|estimate|design|organi[sz]e|prepare|send|schedule|arrange|rewrite|describe|
    help|review|run|test|debug|refactor|analy[sz]e|pull|query|proofread|edit""")
    + r"\b"
)
_PROCEDURAL = re.compile(r"^先|^然后|^再|^最后|^接着|^(?:first|then|after that|finally|next)\b", re.I)
_ZH_STEP_VERBS = (("查一下", "查询"), ("查查", "查询"), ("看一下", "查看"), ("找一下", "查找"))
_STEP_KINDS = frozenset({"prohibit", "standing", "wish", "procedure", "require"})
_EN_ASKING = re.compile(
    r"^(?:can you|could you|would you|will you|i need you to|i want you to|i would like you to|"
    r"i'd like you to)\s+",
    re.IGNORECASE,
)


def _step_text(sentence: str) -> str:
    """A request as a short imperative step ("帮我查一下天气吗？" → "查询天气")."""
    if not _CJK.search(sentence):
        return _short(_clean_en(_EN_ASKING.sub("", _clean_en(sentence)).rstrip("?")), 120)
    text = re.sub(r"^(?:你|我想请你|我想让你|能不能|可以|能否|能)", "", _clean_zh(sentence))
    for spoken, written in _ZH_STEP_VERBS:
        text = text.replace(spoken, written)
    text = re.sub(r"(?<=[\u4e00-\u9fff])一下(?=[\u4e00-\u9fff])", "", text)
    return _short(re.sub(r"[?？吗呢]+$", "", text), 120)


def _is_step(clause: str) -> bool:
    if _CJK.search(clause):
        cleaned = _clean_zh(clause)
        request = bool(_ZH_REQUEST.search(cleaned)) and not _ZH_HYPOTHETICAL.search(cleaned)
    else:
        cleaned = _normalise_en(_clean_en(clause))
        request = bool(_EN_REQUEST.search(cleaned))
    if not cleaned or _ACKNOWLEDGEMENT.match(cleaned):
        return False
    return request or bool(_PROCEDURAL.search(cleaned))


def _user_steps(users: Sequence[Message]) -> list[str]:
    """The user's requests and instructions in order, generalised, without repeats."""
    steps: list[str] = []
    seen: set[str] = set()
    for message in users:
        for clause in (c for sentence in _text_units(message.content) for c in _clauses(sentence)):
            hit = _clause_hit(clause)
            if hit is not None and hit.kind in _STEP_KINDS:
                text = _step_text(hit.text)
            elif hit is None and _is_step(clause):
                text = _step_text(clause)
            else:
                continue
            step = generalise(text)
            key = re.sub(r"\W+", "", step.lower())
            if len(key) >= 2 and key not in seen:
                seen.add(key)
                steps.append(step)
    return steps[:12]


def _first_sentence(text: str) -> str:
    """The opening sentence of a request, pasted code and material left out."""
    sentences = split_sentences(_CODE_BLOCK.sub(" ", text))
    return sentences[0] if sentences else text


def _substantive(message: Message) -> bool:
    text = message.content.strip()
    greeting = re.match(r"^(?:你好|您好|hi|hello|hey|在吗)[\s!！。.,，~]*$", text, re.IGNORECASE)
    if not text or greeting or _ACKNOWLEDGEMENT.match(text):
        return False
    return len(_CJK.findall(text)) >= 4 or len(re.findall(r"[A-Za-z]+", text)) >= 3


def _title(goal: str, fallback: str) -> str:
    sentences = split_sentences(goal)
    if not sentences:
        return _short(fallback or "task", 40)
    first = sentences[0]
    text = _step_text(first) if _CJK.search(first) else _clean_en(first).rstrip("?")
    return _short(text or first, 40)


def _outcome(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "assistant" and message.content.strip():
            sentences = split_sentences(_CODE_BLOCK.sub(" ", message.content))
            if sentences:
                return _short(sentences[0], 120)
    lessons = extract_tool_lessons(messages)
    if not lessons:
        return ""
    failed = [lesson.tool for lesson in lessons if lesson.usage.success_rate < 1.0]
    return f"tool calls ended with failures: {', '.join(failed)}" if failed else "tool calls succeeded"


def build_task_record(
    chunk: TaskChunk, preferences: Sequence[PreferenceDraft], facts: Sequence[FactDraft]
) -> TaskRecord:
    """What the chunk's task was, how the user wanted it done, and how it ended.

    `facts` stay out of the record on purpose: they are concrete, while a record feeds skills.
    """
    del facts
    users = [message for message in chunk.messages if message.role == "user"]
    first = next((m for m in users if _substantive(m)), users[0] if users else None)
    goal = _short(first.content, 500) if first is not None else chunk.title
    steps = _user_steps(users) or (
        [generalise(_step_text(_first_sentence(goal)))] if first is not None else []
    )
    tools = dict.fromkeys(
        call.name for message in chunk.messages if message.role == "assistant"
        for call in message.tool_calls
    )  # fmt: skip
    language = detect_language(" ".join(message.content for message in users) or chunk.title)
    return TaskRecord(
        title=_title(goal, chunk.title),
        goal=goal,
        steps=tuple(steps),
        corrections=tuple(
            dict.fromkeys(generalise(p.text, keep_amounts=True) for p in preferences if p.is_correction)
        ),
        preferences=tuple(dict.fromkeys(generalise(p.text, keep_amounts=True) for p in preferences)),
        tools=tuple(tools),
        outcome=_outcome(chunk.messages),
        language=language,
        sources=tuple(message.id for message in chunk.messages if message.id),
    )


def extract(chunk: TaskChunk) -> Extraction:
    """Everything one task chunk yields: its record, facts, preferences and tool lessons."""
    preferences = extract_preferences(chunk.messages)
    facts = extract_facts(chunk.messages)
    return Extraction(
        record=build_task_record(chunk, preferences, facts),
        facts=tuple(facts),
        preferences=tuple(preferences),
        tool_lessons=tuple(extract_tool_lessons(chunk.messages)),
    )

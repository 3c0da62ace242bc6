"""Tool lessons: calls joined to results, failures and the change that fixed them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from memskill.extract.prose import any_of, detect_language, shorten
from memskill.models import (
    Message,
    ToolLessonDraft,
    ToolUsage,
)

# ================================================================ tool lessons

_ERROR_WORDS = re.compile(
    r"\b"
    + any_of(r"""error|errors|failed|failure|fail|exception|invalid|not found|timeout|timed out|
    unauthori[sz]ed|forbidden|denied|traceback|refused|unavailable|rate limit(?:ed)?|
    too many requests|bad request""")
    + r"\b|错误|失败|超时|异常|无效|未找到|找不到|不存在|拒绝访问|无权限",
    re.IGNORECASE,
)
_STATUS_CODE = re.compile(r"(?:^|\b(?:http|status|code|error)\D{0,12})\b(4\d\d|5\d\d)\b", re.I)
_ERROR_TYPES = (
    ("timeout", r"timeout|timed out|超时|\b504\b"),
    ("rate_limited", r"rate limit|too many requests|\b429\b"),
    ("unauthorized", r"unauthori[sz]ed|forbidden|denied|api key|\b40[13]\b|无权限|拒绝访问"),
    ("not_found", r"not found|no such|unknown|does not exist|\b404\b|未找到|找不到|不存在"),
    ("invalid_argument", r"invalid|bad request|missing|required|\b400\b|\b422\b|参数|无效"),
    ("server_error", r"\b50[0-3]\b|internal|unavailable"),
)


@dataclass(frozen=True)
class _Call:
    """One tool call joined with its result."""

    tool: str
    arguments: str
    result: str | None
    error: str | None
    """A short quotation of the error; None when the call succeeded or has no result."""
    message_ids: tuple[str, ...]


def _error_of(result: str) -> str | None:
    """A short description of the error when `result` reads like a failure, else None."""
    stripped = result.strip()
    try:
        parsed = json.loads(stripped) if stripped[:1] in "{[" else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "errors", "error_message", "exception"):
            value = parsed.get(key)
            if value:
                detail = value.get("message", value) if isinstance(value, dict) else value
                return shorten(str(detail), 80)
        status = str(parsed.get("status", "")).lower()
        if parsed.get("success") is False or status in {"error", "failed", "fail"}:
            return shorten(str(parsed.get("message") or parsed.get("msg") or "failed"), 80)
        return None
    if parsed is not None:
        return None
    head = stripped[:300]
    if _ERROR_WORDS.search(_COUNTS.sub(" ", head)) or _STATUS_CODE.search(head):
        return shorten(head.splitlines()[0], 80)
    return None


_COUNTS = re.compile(
    r"\b\d+\s*(?:failed|failures?|errors?)\b|\b(?:failed|failures?|errors?)\s*[:=]\s*\d+|\d+\s*(?:个)?(?:失败|错误)",
    re.IGNORECASE,
)
"""Counts a result reports ("46 passed, 4 failed", "sessions failed: 4/50", "0 errors"): the call worked
and says how the things it ran went."""


def _error_type(error: str) -> str:
    return next((name for name, pattern in _ERROR_TYPES if re.search(pattern, error, re.I)), "error")


def _arguments(raw: str) -> dict[str, object] | None:
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _render_arguments(raw: str, only: Iterable[str] | None = None) -> str:
    parsed = _arguments(raw)
    if parsed is None:
        return shorten(raw, 80)
    keys = list(only) if only is not None else list(parsed)
    rendered = ", ".join(f"{key}={json.dumps(parsed.get(key), ensure_ascii=False)}" for key in keys)
    return shorten(rendered.replace('"', "'"), 100)


def _calls(messages: Sequence[Message]) -> list[_Call]:
    results = {m.tool_call_id: m for m in messages if m.role == "tool" and m.tool_call_id}
    calls: list[_Call] = []
    for message in messages:
        for call in message.tool_calls if message.role == "assistant" else ():
            answer = results.get(call.id)
            error = _error_of(answer.content) if answer is not None else None
            ids = tuple(i for i in (message.id, answer.id if answer else "") if i)
            result = answer.content if answer is not None else None
            calls.append(_Call(call.name, call.arguments, result, error, ids))
    return calls


_TOKEN = re.compile(r"[A-Za-z_][\w.$]*|[\u4e00-\u9fff]+|\d[\w.:-]*")
"""Identifiers (dotted names kept whole), runs of Chinese characters and numbers: the units a long
argument (a query, code, a path list) is compared in."""
LONG_VALUE = 40
"""An argument longer than this is not quoted whole in a lesson; what the fix changed in it is."""
MAX_SWAP = 2
"""At most this many new tokens in the place of the one the error named, for "use B instead of A"."""
SAME_CALL = 0.6
"""Below this token similarity the working call was rewritten, not patched: no replacement is named."""


def _value_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _names(token: str, error: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", error, re.IGNORECASE) is not None


def _swap(before: str, after: str, error: str) -> tuple[str, str] | None:
    """In a long argument, the token the error names and what the working call put in its place
    ("DATE_TRUNC" → "strftime"; "" when nothing clearly did, e.g. the call was rewritten), or None when
    the error names no token the fix dropped."""
    first, second = _TOKEN.findall(before), _TOKEN.findall(after)
    kept, had = set(second), set(first)
    named = [token for token in dict.fromkeys(first) if token not in kept and _names(token, error)]
    if not named:
        return None
    matcher = SequenceMatcher(None, first, second, autojunk=False)
    if matcher.ratio() < SAME_CALL:
        return named[0], ""
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and named[0] in first[i1:i2]:
            new = [token for token in dict.fromkeys(second[j1:j2]) if token not in had and len(token) > 1]
            if 0 < len(new) <= MAX_SWAP:
                return named[0], " ".join(new)
            break
    return named[0], ""


def _long_change(key: str, before: object, after: object, error: str, tool: str, chinese: bool) -> str | None:
    """A rule for one long argument the fix changed: the token the error named and its replacement."""
    first, second = _value_text(before), _value_text(after)
    if max(len(first), len(second)) <= LONG_VALUE:
        return None
    swap = _swap(first, second, error)
    if swap is None:
        return None
    dropped, added = swap
    if chinese:
        use = f"用 `{added}`，不要用 `{dropped}`" if added else f"不要用 `{dropped}`"
        return f"{tool} 的 {key} 里{use}（报错：{error}）"
    use = f"use `{added}` instead of `{dropped}`" if added else f"do not use `{dropped}`"
    return f"{tool}: in {key}, {use} (that failed: '{error}')"


_TYPES = {
    list: ("a list", "列表"),
    dict: ("an object", "对象"),
    str: ("a string", "字符串"),
    bool: ("true or false", "布尔值"),
    int: ("a number", "数字"),
    float: ("a number", "数字"),
}
"""How a rule names the JSON type of an argument, in English and Chinese."""


def _type_change(key: str, before: object, after: object, error: str, tool: str, chinese: bool) -> str | None:
    """A rule for one argument the fix passed as another JSON type ("materials" as a list, not one
    string of names): the type is the lesson, with a short example of the value that worked."""
    was, now = _TYPES.get(type(before)), _TYPES.get(type(after))
    if was is None or now is None or was == now:
        return None  # (a missing argument or null has no type here; an int for a float is one type)
    example = shorten(json.dumps(after[:2] if isinstance(after, list) else after, ensure_ascii=False), 60)
    if isinstance(after, list) and len(after) > 2:
        example = example[:-1] + ", …]"
    example = example.replace('"', "'")
    if chinese:
        return f"{tool} 的 {key} 要传{now[1]}（如 {example}），不要传{was[1]}（报错：{error}）"
    return f"{tool}: pass {key} as {now[0]} (e.g. {example}), not as {was[0]} (that failed: '{error}')"


def _fixed(failed: _Call, fix: _Call, tool: str, chinese: bool) -> str | None:
    """A failure and the later call that worked as a rule (what to pass, not what), None when the
    arguments did not change. A long argument (a query, code) is not quoted: the rule names the token
    the error named and what replaced it, when one changed argument says it."""
    first, second = _arguments(failed.arguments), _arguments(fix.arguments)
    if first is None or second is None:
        return None
    changed = [key for key in dict.fromkeys((*first, *second)) if first.get(key) != second.get(key)]
    if not changed:
        return None
    if len(changed) == 1:
        key = changed[0]
        rule = _type_change(key, first.get(key), second.get(key), failed.error or "", tool, chinese)
        if rule is not None:
            return rule
        rule = _long_change(key, first.get(key, ""), second.get(key, ""), failed.error or "", tool, chinese)
        if rule is not None:
            return rule
    before = _render_arguments(failed.arguments, changed)
    after = _render_arguments(fix.arguments, changed)
    if chinese:
        return f"{tool} 要用 {after}，不要用 {before}（报错：{failed.error}）"
    return f"{tool}: pass {after}, not {before} (that failed: '{failed.error}')"


def _rules(tool: str, calls: list[_Call], chinese: bool) -> list[str]:
    """One rule per failed call that a later call of the tool fixed, with what changed."""
    answered = [call for call in calls if call.result is not None]
    rules: list[str] = []
    for index, failed in enumerate(answered):
        fix = next((call for call in answered[index + 1 :] if call.error is None), None)
        rule = _fixed(failed, fix, tool, chinese) if failed.error is not None and fix is not None else None
        if rule:
            rules.append(rule)
    return list(dict.fromkeys(rules))


def _lesson(tool: str, calls: list[_Call], chinese: bool) -> tuple[str, str]:
    """(experience, error type) for one tool's calls, in order: what worked, as a rule when a failure was
    fixed ("get_weather 的 city 用 'Chengdu'，不要用 '成都市'（报错：city not found）")."""
    answered = [call for call in calls if call.result is not None]
    failures = [call for call in answered if call.error is not None]
    if not answered:
        if chinese:
            return f"{tool} 调用了 {len(calls)} 次，没有拿到结果", ""
        return f"{tool} was called {len(calls)} time(s) without a recorded result", ""
    if not failures:
        example = _render_arguments(answered[0].arguments)
        if chinese:
            return f"{tool} 调用成功（{len(answered)}/{len(answered)} 次），例如 {example}", ""
        return f"{tool} succeeded ({len(answered)}/{len(answered)} calls), e.g. with {example}", ""
    failed = failures[0]
    error_type = _error_type(failures[-1].error or "")
    later = answered[answered.index(failed) + 1 :]
    fix = next((call for call in later if call.error is None), None)
    if fix is None:
        arguments = _render_arguments(failed.arguments)
        if chinese:
            return f"{tool} 用 {arguments} 会失败（报错：{failed.error}），需要换参数或换工具", error_type
        return f"{tool} fails with {arguments} ('{failed.error}'); try other arguments", error_type
    rule = _fixed(failed, fix, tool, chinese)
    if rule is None:
        if chinese:
            return f"{tool} 偶尔失败（报错：{failed.error}），原样重试一次即可", error_type
        return f"{tool} can fail once ('{failed.error}'); retrying the same call works", error_type
    return rule, error_type


def _call_summary(call: _Call) -> str:
    if call.result is None:
        outcome = "no result"
    elif call.error is not None:
        outcome = f"error: {call.error}"
    else:
        outcome = re.sub(r"\s+", " ", call.result.strip())
    return shorten(f"{call.tool}({_render_arguments(call.arguments)}) → {shorten(outcome, 90)}", 200)


def extract_tool_lessons(messages: Sequence[Message]) -> list[ToolLessonDraft]:
    """One lesson per tool used in `messages`: how its calls fared and what fixed a failure."""
    by_tool: dict[str, list[_Call]] = {}
    for call in _calls(messages):
        by_tool.setdefault(call.tool, []).append(call)
    chinese = detect_language(" ".join(m.content for m in messages if m.role == "user")) == "zh"
    lessons: list[ToolLessonDraft] = []
    for tool, calls in by_tool.items():
        experience, error_type = _lesson(tool, calls, chinese)
        answered = [call for call in calls if call.result is not None]
        successes = sum(call.error is None for call in answered)
        rate = round(successes / len(answered), 3) if answered else 0.0
        usage = ToolUsage(tool, error_type, rate, experience)
        value = "; ".join(_call_summary(call) for call in calls[:5])
        sources = tuple(dict.fromkeys(source for call in calls for source in call.message_ids))
        rules = tuple(_rules(tool, calls, chinese))
        lessons.append(ToolLessonDraft(tool, value, experience, usage, sources, rules))
    return lessons


def tool_steps(messages: Sequence[Message], chinese: bool) -> dict[str, list[str]]:
    """Each tool the assistant called, as a step ("调用 get_weather（参数：city、days）"), under the id of
    the user message it answered, in call order; the arguments are those of the calls that worked (a
    tool asked first for a month, then for a month and a category, takes both), else of the last call."""
    calls = _calls(messages)
    after: dict[str, list[str]] = {}
    seen: set[str] = set()
    last_user = ""
    for message in messages:
        if message.role == "user":
            last_user = message.id
        for call in message.tool_calls if message.role == "assistant" else ():
            if call.name in seen:
                continue
            seen.add(call.name)
            mine = [c for c in calls if c.tool == call.name]
            good = [c for c in mine if c.result is not None and c.error is None] or mine[-1:]
            keys = list(dict.fromkeys(key for c in good for key in _arguments(c.arguments) or {}))
            if chinese:
                text = CALL_STEP["zh"].format(tool=call.name) + (
                    f"（参数：{'、'.join(keys)}）" if keys else ""
                )
            else:
                text = CALL_STEP["en"].format(tool=call.name) + (
                    f" (arguments: {', '.join(keys)})" if keys else ""
                )
            after.setdefault(last_user, []).append(text)
    return after


CALL_STEP = {"zh": "调用 {tool}", "en": "Call {tool}"}
"""How a step that calls a tool opens (`tool_steps`)."""
_CALL_STEP = re.compile(r"^(?:调用 |Call )([\w.-]+)")


def called_tool(step: str) -> str | None:
    """The tool a procedure step calls (`tool_steps`), or None for any other step."""
    match = _CALL_STEP.match(step)
    return match.group(1) if match else None

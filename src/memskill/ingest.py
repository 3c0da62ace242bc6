"""Ingest: validate raw OpenAI-style messages and give each a stable content id.

The id hashes the conversation, role, content, time and tool fields, plus how many identical messages came
before it in the same call, so a client that resends the same call stores nothing new while two identical
"ok" messages in one call are both kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from memskill.config import Limits
from memskill.errors import IdTooLong, InvalidRequest, MissingField, PayloadTooLarge
from memskill.models import Message, ToolCall

ROLES = ("user", "assistant", "system", "tool")
LATEST_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last moment a `chat_time` may name."""


def _encodable(text: str, where: str) -> str:
    """`text` if it can be stored as UTF-8 (no unpaired surrogates), else a clear error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{where}: the text holds an unpaired surrogate; send valid UTF-8.") from None
    return text


def check_id(name: str, value: object, limits: Limits, required: bool = True) -> str | None:
    """Validate an id-like field: a non-empty string of at most `limits.max_id_chars` characters."""
    if value is None or value == "":
        if required:
            raise MissingField(f"`{name}` is required: pass a non-empty string.")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a string, got {type(value).__name__}.")
    if len(value) > limits.max_id_chars:
        raise IdTooLong(f"`{name}` is {len(value)} characters; ids may be at most {limits.max_id_chars}.")
    return _encodable(value, f"`{name}`")


def content_text(content: object, where: str) -> str:
    """Plain text from `content`: a string, or a list of `{type: "text", text}` parts (others skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise InvalidRequest(f"{where}: a text part needs a string `text`.")
                parts.append(text)
            elif not isinstance(part, Mapping):
                raise InvalidRequest(f"{where}: content parts must be objects like {{type: 'text', text}}.")
        return "\n".join(parts)
    raise InvalidRequest(f"{where}: `content` must be a string or a list of text parts.")


def _chat_time(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{where}: `chat_time` must be a millisecond epoch or an ISO date string.")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidRequest(f"{where}: `chat_time` must be a finite number.")
        number = int(value)
        number = number * 1000 if 0 < number < 10_000_000_000 else number  # seconds → ms
        if not 0 <= number <= LATEST_MS:
            raise InvalidRequest(
                f"{where}: `chat_time` {value!r} is outside 1970–9999; "
                "send epoch milliseconds or an ISO date."
            )
        return number
    if isinstance(value, str):
        from datetime import datetime, timezone

        text = value.strip().replace("Z", "+00:00")
        for parse in (datetime.fromisoformat,):
            try:
                moment = parse(text)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return int(moment.timestamp() * 1000)
        if text.isdigit():
            return _chat_time(int(text), where)
        raise InvalidRequest(f"{where}: `chat_time` {value!r} is not an ISO date or epoch.")
    raise InvalidRequest(f"{where}: `chat_time` must be a number or a string.")


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}: `tool_calls` must be a list.")
    calls: list[ToolCall] = []
    for index, call in enumerate(value):
        if not isinstance(call, Mapping):
            raise InvalidRequest(f"{where}: tool_calls[{index}] must be an object.")
        function = call.get("function") if isinstance(call.get("function"), Mapping) else call
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}: tool_calls[{index}] needs `function.name`.")
        arguments = function.get("arguments", "") if isinstance(function, Mapping) else ""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        call_id = call.get("id") or f"call_{index}"
        calls.append(
            ToolCall(
                id=_encodable(str(call_id), where),
                name=_encodable(name, where),
                arguments=_encodable(arguments, where),
            )
        )
    return tuple(calls)


def normalise_messages(raw: object, conversation_id: str, user_id: str, limits: Limits) -> list[Message]:
    """Validate `raw` (the request's `messages`) and return messages with stable ids."""
    if raw is None:
        raise MissingField("`messages` is required: a list of {role, content} objects.")
    if not isinstance(raw, list):
        raise InvalidRequest("`messages` must be a list of {role, content} objects.")
    if not raw:
        raise InvalidRequest("`messages` is empty: send at least one message.")
    if len(raw) > limits.max_messages_per_call:
        raise PayloadTooLarge(
            f"{len(raw)} messages in one call; the limit is {limits.max_messages_per_call}. "
            "Split the conversation into several calls."
        )
    messages: list[Message] = []
    occurrences: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidRequest(f"{where} must be an object with `role` and `content`.")
        role = item.get("role")
        if role is None:
            raise MissingField(f"{where}: `role` is required ({', '.join(ROLES)}).")
        if role not in ROLES:
            raise InvalidRequest(f"{where}: role {role!r} is not one of {', '.join(ROLES)}.")
        content = _encodable(content_text(item.get("content"), where), where)
        if len(content) > limits.max_message_chars:
            raise PayloadTooLarge(
                f"{where} has {len(content)} characters; the limit is {limits.max_message_chars}."
            )
        calls = _tool_calls(item.get("tool_calls"), where)
        tool_call_id = item.get("tool_call_id")
        if tool_call_id is not None and not isinstance(tool_call_id, str):
            raise InvalidRequest(f"{where}: `tool_call_id` must be a string.")
        if tool_call_id is not None:
            _encodable(tool_call_id, where)
        if not content.strip() and not calls:
            raise InvalidRequest(f"{where} has no content and no tool_calls; drop it or fill it.")
        chat_time = _chat_time(item.get("chat_time"), where)
        fingerprint = json.dumps(
            [
                user_id,
                conversation_id,
                role,
                content,
                chat_time,
                tool_call_id,
                [(c.id, c.name, c.arguments) for c in calls],
            ],
            ensure_ascii=False,
        )
        seen = occurrences.get(fingerprint, 0)
        occurrences[fingerprint] = seen + 1
        digest = hashlib.sha256(f"{fingerprint}#{seen}".encode()).hexdigest()[:24]
        messages.append(
            Message(
                role=role,
                content=content,
                chat_time=chat_time,
                tool_calls=calls,
                tool_call_id=tool_call_id,
                id=f"msg_{digest}",
            )
        )
    return messages


def message_to_dict(message: Message) -> dict[str, Any]:
    """The OpenAI-style dict of a stored message (for get/message and exports)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out

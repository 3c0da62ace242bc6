"""Request bodies of the HTTP API (DESIGN §2), as pydantic models for validation and the OpenAPI docs.

They mirror the engine's keyword arguments; unknown fields are ignored so that clients written for
MemOS Cloud may send extras. Types are strict, as in the engine: `"5"` is not a number, `0` is not
`false`. The engine checks values again (it is also used without HTTP). The MCP tools validate their
arguments with the same models, and `describe_validation` words a failure the same way for both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from memskill.errors import IdTooLong, InvalidRequest, MemskillError, MissingField

Id = Field(default=None, max_length=100)
Role = Literal["user", "assistant", "system", "tool"]


def unusable_value(body: Any) -> str | None:
    """What is wrong with `body` if it holds values Python's JSON parser lets through but that are not
    JSON text and cannot be stored: unpaired UTF-16 surrogates (`"\\ud800"`), NaN and Infinity."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:  # a loop, not recursion: bodies may nest as deep as the parser allows
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return f"`{where or 'body'}` is {value}, which is not a JSON number: send a finite number."
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return (
                    f"`{where or 'body'}` holds an unpaired UTF-16 surrogate (such as \\ud800): "
                    "send valid Unicode text."
                )
        if isinstance(value, dict):
            stack.extend((f"{where}.{key}".lstrip("."), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}.{index}".lstrip("."), item) for index, item in enumerate(value))
    return None


def describe_validation(problems: Sequence[Mapping[str, Any]]) -> MemskillError:
    """The first validation problem (pydantic's `errors()`) as a `MemskillError` whose message names the
    field."""
    if not problems:
        return InvalidRequest("the request body is not valid.")
    first = problems[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or "body"
    kind = first.get("type", "")
    if kind == "json_invalid":
        return InvalidRequest(f"the body is not valid JSON ({first.get('msg', '')}): send a JSON object.")
    if kind == "missing" or (kind == "string_too_short" and first.get("input") == ""):
        return MissingField(f"`{field}` is required: pass a non-empty value.")
    if kind == "string_too_long" and location and location[-1].endswith("_id"):
        return IdTooLong(f"`{field}` is longer than 100 characters; ids may be at most 100.")
    if kind == "literal_error" and location and location[-1] == "role":
        return InvalidRequest(f"`{field}` must be one of user, assistant, system, tool.")
    if kind == "unusable_value":
        return InvalidRequest(first.get("msg", "the body holds a value that cannot be stored."))
    if kind in ("model_attributes_type", "dict_type") and not location:
        return InvalidRequest("the body must be a JSON object.")
    return InvalidRequest(f"`{field}`: {first.get('msg', 'invalid value')}.")


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    @model_validator(mode="before")
    @classmethod
    def storable(cls, body: Any) -> Any:
        problem = unusable_value(body)
        if problem:
            raise PydanticCustomError("unusable_value", problem)
        return body

    def arguments(self) -> dict[str, Any]:
        """The fields the client sent, as engine keyword arguments."""
        return self.model_dump(exclude_unset=True)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str = "text"
    text: str | None = None


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    name: str
    arguments: str | dict[str, Any] | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str | None = None
    type: str = "function"
    function: ToolFunction


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    role: Role
    content: str | list[TextPart] | None = None
    chat_time: int | float | str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class AddMessage(Request):
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    messages: list[MessageIn] = Field(min_length=1)
    agent_id: str | None = Id
    app_id: str | None = Id
    tags: list[str] | None = None
    info: dict[str, Any] | None = None
    async_mode: bool | None = None

    def arguments(self) -> dict[str, Any]:
        out = super().arguments()
        out["messages"] = [m.model_dump(exclude_unset=True) for m in self.messages]
        return out


class SearchMemory(Request):
    query: str = Field(min_length=1)
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str | None = Id
    agent_id: str | None = Id
    app_id: str | None = Id
    filter: dict[str, Any] | None = None
    memory_limit_number: int | None = Field(default=None, ge=0, le=25)
    include_preference: bool | None = None
    preference_limit_number: int | None = Field(default=None, ge=0, le=25)
    include_tool_memory: bool | None = None
    tool_memory_limit_number: int | None = Field(default=None, ge=0, le=25)
    include_skill: bool | None = None
    skill_limit_number: int | None = Field(default=None, ge=0, le=25)
    relativity: float | None = Field(default=None, ge=0, le=1)
    include_candidates: bool | None = None
    """Extension: candidate skills too, after the active ones, marked by their `state`."""


class GetStatus(Request):
    task_id: str = Field(min_length=1, max_length=100)


class GetMessage(Request):
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    message_limit_number: int | None = Field(default=None, ge=1, le=50)
    agent_id: str | None = Id
    app_id: str | None = Id


class GetMemory(Request):
    user_id: str = Field(min_length=1, max_length=100)
    page: int | None = Field(default=None, ge=1, le=1_000_000)
    size: int | None = Field(default=None, ge=1, le=50)
    filter: dict[str, Any] | None = None
    include_preference: bool | None = None
    include_tool_memory: bool | None = None
    include_skill: bool | None = None
    agent_id: str | None = Id
    app_id: str | None = Id


class UpdateMemory(Request):
    memory_id: str = Field(min_length=1, max_length=100)
    content: str | None = None
    status: Literal["activated", "archived"] | None = None
    user_id: str | None = Id


class DeleteMemory(Request):
    memory_ids: list[str] | None = None
    user_id: str | None = Id
    filter: dict[str, Any] | None = None


class AddFeedback(Request):
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    feedback_content: str = Field(min_length=1)
    agent_id: str | None = Id
    app_id: str | None = Id
    async_mode: bool | None = None
    skill_id: str | None = Id
    """Extension: the skill the feedback is about (default: the conversation's latest task's skill)."""


class GetSkill(Request):
    user_id: str = Field(min_length=1, max_length=100)
    skill_id: str | None = Id
    include_versions: bool | None = None
    agent_id: str | None = Id
    app_id: str | None = Id


class DeleteSkill(Request):
    skill_id: str = Field(min_length=1, max_length=100)
    user_id: str | None = Id


class Reply(BaseModel):
    """Every reply: `code` 0 and `data` on success; a 5-digit `code` and a `message` saying what to fix."""

    code: int
    message: str
    data: Any = None

"""Request bodies of the HTTP API (DESIGN §2), as pydantic models for validation and the OpenAPI docs.

They mirror the engine's keyword arguments; unknown fields are ignored so that clients written for
MemOS Cloud may send extras. The engine checks values again (it is also used without HTTP).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Field(default=None, max_length=100)
Role = Literal["user", "assistant", "system", "tool"]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def arguments(self) -> dict[str, Any]:
        """The fields the client sent, as engine keyword arguments."""
        return self.model_dump(exclude_unset=True)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str | None = None


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str | dict[str, Any] | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: str = "function"
    function: ToolFunction


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Role
    content: str | list[TextPart] | None = None
    chat_time: int | float | str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class AddMessage(Request):
    user_id: str = Field(max_length=100)
    conversation_id: str = Field(max_length=100)
    messages: list[MessageIn]
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
    query: str
    user_id: str = Field(max_length=100)
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


class GetStatus(Request):
    task_id: str = Field(max_length=100)


class GetMessage(Request):
    user_id: str = Field(max_length=100)
    conversation_id: str = Field(max_length=100)
    message_limit_number: int | None = Field(default=None, ge=1, le=50)
    agent_id: str | None = Id
    app_id: str | None = Id


class GetMemory(Request):
    user_id: str = Field(max_length=100)
    page: int | None = Field(default=None, ge=1, le=1_000_000)
    size: int | None = Field(default=None, ge=1, le=50)
    filter: dict[str, Any] | None = None
    include_preference: bool | None = None
    include_tool_memory: bool | None = None
    include_skill: bool | None = None
    agent_id: str | None = Id
    app_id: str | None = Id


class UpdateMemory(Request):
    memory_id: str = Field(max_length=100)
    content: str | None = None
    status: Literal["activated", "archived"] | None = None
    user_id: str | None = Id


class DeleteMemory(Request):
    memory_ids: list[str] | None = None
    user_id: str | None = Id
    filter: dict[str, Any] | None = None


class AddFeedback(Request):
    user_id: str = Field(max_length=100)
    conversation_id: str = Field(max_length=100)
    feedback_content: str
    agent_id: str | None = Id
    app_id: str | None = Id
    async_mode: bool | None = None


class GetSkill(Request):
    user_id: str = Field(max_length=100)
    skill_id: str | None = Id
    include_versions: bool | None = None
    agent_id: str | None = Id
    app_id: str | None = Id


class DeleteSkill(Request):
    skill_id: str = Field(max_length=100)
    user_id: str | None = Id


class Reply(BaseModel):
    """Every reply: `code` 0 and `data` on success; a 5-digit `code` and a `message` saying what to fix."""

    code: int
    message: str
    data: Any = None

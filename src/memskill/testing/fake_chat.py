"""`FakeChat`: the fake model answered in process, as a `ChatModel` the engine takes directly.

    from memskill import Memory
    from memskill.prompts import schemas
    from memskill.testing import FakeChat, Fault

    chat = FakeChat({"memskill_segments": [Fault("not_json"), {"segments": []}]}, schemas=schemas())
    with Memory(chat=chat) as memory:
        ...                                   # the stages ask `chat` instead of an endpoint
    assert chat.requests[0].task == "memskill_segments"

It serves the same scripts as `FakeOpenAI` (`script.py`) without HTTP, for tests of what the stages do
with an answer. A `Fault` whose failure has a reply ("not_json", "fenced", "empty") answers with that
reply; the others raise the `UpstreamError` the HTTP client would raise after its retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from memskill.errors import UpstreamError
from memskill.models import Usage
from memskill.providers.chat import ChatReply
from memskill.testing.faults import NOT_JSON_TEXT, Fault, tokens_of
from memskill.testing.schema import schema_instance
from memskill.testing.script import RecordedRequest, Scripted, ScriptEntry


class FakeChat(Scripted):
    """A deterministic in-process chat model; `requests` records every call, `usage` what they counted."""

    def __init__(
        self,
        script: Mapping[str, ScriptEntry] | None = None,
        *,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        model: str = "fake-chat",
    ) -> None:
        super().__init__(script, schemas)
        self.id = f"{model}@in-process"
        self.requests: list[RecordedRequest] = []
        self.usage = Usage()

    def complete(
        self, messages: Sequence[Mapping[str, str]], schema_name: str, schema: Mapping[str, Any]
    ) -> ChatReply:
        body = {
            "messages": [dict(m) for m in messages],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema},
            },
        }
        request = RecordedRequest("in-process", {}, body, schema_name)
        with self._lock:
            self.requests.append(request)
        reply = self._scripted(request)
        if isinstance(reply, Fault):
            content = self._faulty(reply, schema)
        else:
            content = self._content(reply, request, body)
        asked = sum(len(str(m.get("content", ""))) for m in messages)
        usage = Usage(tokens_of(asked), tokens_of(len(content)), 1)
        with self._lock:
            self.usage = self.usage + usage
        return ChatReply(content, usage, "json_schema")

    @staticmethod
    def _faulty(fault: Fault, schema: Mapping[str, Any]) -> str:
        if fault.kind == "empty":
            return ""
        if fault.kind == "not_json":
            return NOT_JSON_TEXT
        if fault.kind == "fenced":
            instance = json.dumps(schema_instance(schema), ensure_ascii=False)
            return f"Here is the answer:\n```json\n{instance}\n```\nHope it helps."
        retryable = fault.kind not in ("reject_json_schema", "reject_response_format", "reject_temperature")
        raise UpstreamError(f"the fake chat model failed with {fault.kind!r}", retryable=retryable)

"""What both fakes answer a chat request with: scripts per task (`Scripted`), and the request as it was
recorded.

Where a reply's content comes from, in order:
1. `script[task]` (or `script["*"]`): a list of replies served in order (the last one repeats) or a
   callable `(RecordedRequest) -> reply`. A reply is a `str` (sent verbatim), a `dict` or `list`
   (sent as JSON), a `Fault` (that fault for this request only) or, from a callable, None (go on to 2).
2. `schema_instance(...)` of the request's own JSON schema, else of the registry schema of its task.
3. `"{}"`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memskill.testing.faults import Fault, request_schema
from memskill.testing.schema import schema_instance


@dataclass
class RecordedRequest:
    """One request the fake received, recorded before it was answered (rejected ones included)."""

    path: str
    """The URL path, without the query string (`/v1/chat/completions`)."""
    headers: dict[str, str]
    """Request headers, names in lower case."""
    body: Any
    """The parsed JSON body, or None when there was none or it was not JSON."""
    task: str | None
    """For chat requests, the task the request is for (see the module docstring); else None."""
    method: str = "POST"


Reply = str | dict[str, Any] | list[Any] | Fault
"""What a script serves for one chat request."""
ScriptEntry = Sequence[Reply] | Callable[[RecordedRequest], Reply | None]
"""A list of replies served in order (the last repeats), or a function of the request."""


class Scripted:
    """Scripted replies per task, served in order, shared by `FakeOpenAI` and `FakeChat`."""

    def __init__(
        self,
        script: Mapping[str, ScriptEntry] | None = None,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.schemas: dict[str, Mapping[str, Any]] = dict(schemas or {})
        """Task name → JSON schema: identifies tasks and shapes replies to requests without a schema."""
        self._script: dict[str, ScriptEntry] = {}
        self._positions: dict[str, int] = {}
        self.script = script or {}

    @property
    def script(self) -> dict[str, ScriptEntry]:
        """Task name (or "*") → replies; setting it starts every list from its first reply."""
        return self._script

    @script.setter
    def script(self, script: Mapping[str, ScriptEntry]) -> None:
        for key, entry in script.items():
            if not callable(entry) and (isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence)):
                raise TypeError(f"script[{key!r}] must be a list of replies or a function of the request")
        with self._lock:
            self._script = dict(script)
            self._positions = {}

    def _scripted(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            key = request.task if request.task in self._script else "*"
            entry = self._script.get(key)
            if entry is None:
                return None
            if not callable(entry):
                if not entry:
                    return None
                position = self._positions.get(key, 0)
                self._positions[key] = position + 1
                return entry[min(position, len(entry) - 1)]
        return entry(request)

    def _content(self, reply: Reply | None, request: RecordedRequest, body: Mapping[str, Any]) -> str:
        """The content of a chat reply: the scripted reply as text, else a minimal instance of the
        request's schema (or of its task's in `schemas`), else "{}"."""
        if isinstance(reply, str):
            return reply
        if isinstance(reply, (dict, list)):
            return json.dumps(reply, ensure_ascii=False)
        if reply is not None:
            raise TypeError(
                f"a scripted reply must be a str, dict, list or Fault, not {type(reply).__name__}"
            )
        spec = request_schema(body)
        schema = spec.get("schema") if spec is not None else None
        if not isinstance(schema, Mapping) and request.task is not None:
            schema = self.schemas.get(request.task)
        if isinstance(schema, Mapping):
            return json.dumps(schema_instance(schema), ensure_ascii=False)
        return "{}"

"""`Client`: the HTTP API with the engine's method names, for memskill or MemOS Cloud.

    client = Client("http://127.0.0.1:8000/api/openmem/v1", api_key)
    client.add_message(user_id="u1", conversation_id="c1", messages=[...])
    client.search_memory(query="…", user_id="u1", include_skill=True)

Each method sends one request and returns the reply's `data`; an error reply raises the matching
`MemskillError` subclass with the server's message. Standard library only. Requests are retried on
connection failures, 429 and 5xx (adding the same messages twice stores them once, so this is safe).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from memskill.errors import InternalError, InvalidRequest, error_for

DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/openmem/v1"


class Client:
    """The memory API over HTTP; every method returns the reply's `data` or raises a `MemskillError`."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str = "",
        *,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    # -- transport --------------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Authorization": f"Token {self.api_key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.base_url + path, data, headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return self._unwrap(response.status, response.read())
            except urllib.error.HTTPError as reply:
                with reply:
                    status, payload = reply.code, reply.read()
                if (status == 429 or status >= 500) and attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                return self._unwrap(status, payload)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as failure:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise InternalError(
                    f"cannot reach {self.base_url}: {failure}; is the server running at that address?"
                ) from failure
        raise AssertionError("unreachable")

    @staticmethod
    def _unwrap(status: int, payload: bytes) -> Any:
        try:
            reply = json.loads(payload)
        except ValueError:
            raise InternalError(f"HTTP {status} with a body that is not JSON: {payload[:200]!r}") from None
        if not isinstance(reply, dict):
            raise InternalError(f"HTTP {status} with an unexpected body: {payload[:200]!r}")
        code = reply.get("code", 0 if status < 400 else 50000)
        if status >= 400 or code != 0:
            raise error_for(int(code), status, str(reply.get("message", "")))
        return reply.get("data")

    def _post(self, path: str, **fields: Any) -> Any:
        return self._send("POST", path, {k: v for k, v in fields.items() if v is not None})

    # -- the API ----------------------------------------------------------------------------------

    def add_message(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/add/message", **fields))

    def search_memory(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/search/memory", **fields))

    def get_status(self, *, task_id: str) -> dict[str, Any]:
        return dict(self._post("/get/status", task_id=task_id))

    def get_message(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/get/message", **fields))

    def get_memory(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/get/memory", **fields))

    def get_memory_by_id(self, memory_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        query = "?" + urllib.parse.urlencode({"user_id": user_id}) if user_id else ""
        return dict(self._send("GET", "/get/memory/" + urllib.parse.quote(memory_id, safe="") + query))

    def update_memory(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/update/memory", **fields))

    def delete_memory(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/delete/memory", **fields))

    def add_feedback(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/add/feedback", **fields))

    def get_skill(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/get/skill", **fields))

    def delete_skill(self, **fields: Any) -> dict[str, Any]:
        return dict(self._post("/delete/skill", **fields))

    # -- helpers ----------------------------------------------------------------------------------

    def wait(self, task_id: str, timeout: float = 120.0, interval: float = 0.2) -> dict[str, Any]:
        """Poll `get/status` until the task is no longer running (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(task_id=task_id)
            if status.get("status") != "running" or time.monotonic() > deadline:
                return status
            time.sleep(interval)

    def download_skill(self, skill_url: str, format: str = "zip") -> bytes:
        """The zip (or, with format="md", the SKILL.md) behind a `skill_url`; no key needed."""
        if format not in ("zip", "md"):
            raise InvalidRequest(f"`format` must be 'zip' or 'md', not {format!r}.")
        url = skill_url + (("&" if "?" in skill_url else "?") + "format=md" if format == "md" else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as reply:
            with reply:
                self._unwrap(reply.code, reply.read())  # raises the error the server described
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError) as failure:
            where = urllib.parse.urlsplit(skill_url).netloc or skill_url
            raise InternalError(
                f"cannot download the skill from {where}: {failure}; is the server running at that address?"
            ) from failure

"""Request limits that sit in front of the routes: body size (413) and requests per key (429).

A refusal is the API's envelope, except on the MCP endpoint, where it is a JSON-RPC error with the same
code and message: an MCP client shows that to the agent, and would only say "error" for anything else.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from memskill.errors import MemskillError, PayloadTooLarge, RateLimited

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MCP_PATH = "/mcp"
"""Where `memskill serve` answers MCP clients (streamable HTTP)."""


def envelope(code: int, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "data": None}, ensure_ascii=False).encode()


def refusal(path: str, error: MemskillError) -> bytes:
    """The body of a response that refuses a request at `path` before any route runs."""
    if path != MCP_PATH and not path.startswith(MCP_PATH + "/"):
        return envelope(error.code, str(error))
    reply = {"jsonrpc": "2.0", "id": None, "error": {"code": error.code, "message": str(error)}}
    return json.dumps(reply, ensure_ascii=False).encode()


class BodyLimit:
    """ASGI middleware: reads at most `max_bytes` of a request body, answering 413 beyond that.

    The body is read in full before the app runs, so an oversized request is refused before any of it
    is stored, whether or not it declared a Content-Length.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"the request body is over {self.max_bytes} bytes: send fewer or shorter messages per call."
        )
        payload = refusal(scope["path"], error)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class RateLimiter:
    """A token bucket per key: `per_minute` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str, now: float | None = None) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = (1.0 - tokens) / rate
                raise RateLimited(
                    f"more than {self.per_minute} requests a minute with this key: retry in {wait:.1f} s."
                )
            self._buckets[key_id] = (tokens - 1.0, now)

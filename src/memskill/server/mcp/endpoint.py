"""The `/mcp` route of `memskill serve`: MCP over streamable HTTP, started when the first client comes.

Importing the MCP SDK takes about half a second, which would push the server's cold start past its
target, so this module does not import it: the first MCP request imports it and builds the MCP server (in
a worker thread), then runs the SDK's session manager in a task group that the application's lifespan
holds open, and every later request goes straight to that manager.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from memskill.errors import InternalError
from memskill.server.limits import Receive, Scope, Send, refusal

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from memskill.engine import Memory
    from memskill.server.links import Signer


class HttpEndpoint:
    """An ASGI app answering MCP with the tools over `memory` (see `adapter.McpAdapter`); `running` must
    wrap the application's lifetime (its lifespan), and may do so several times, as a test client does."""

    def __init__(
        self,
        memory: Memory,
        default_user: str | None,
        signer: Signer,
        public_url: str | None,
        max_body_bytes: int,
    ) -> None:
        self.memory = memory
        self.default_user = default_user
        self.signer = signer
        self.public_url = public_url
        self.max_body_bytes = max_body_bytes
        self._group: TaskGroup | None = None
        self._starting: anyio.Lock | None = None
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            self._group, self._starting, self._manager = group, anyio.Lock(), None
            try:
                yield
            finally:
                self._group = self._starting = self._manager = None
                group.cancel_scope.cancel()  # ends the session manager and the requests it serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = await self._started()
        if manager is None:
            error = InternalError("the MCP endpoint is not running (the server is starting or stopping).")
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": refusal(scope["path"], error)})
            return
        await manager.handle_request(scope, receive, send)

    async def _started(self) -> StreamableHTTPSessionManager | None:
        """The running session manager, started by the first request; None outside the lifespan."""
        group, starting = self._group, self._starting
        if group is None or starting is None:
            return None
        async with starting:
            if self._manager is None:
                manager = await anyio.to_thread.run_sync(self._build)
                await group.start(_serve, manager)
                self._manager = manager
        return self._manager

    def _build(self) -> StreamableHTTPSessionManager:
        from memskill.server.mcp.adapter import McpAdapter, session_manager

        adapter = McpAdapter(self.memory, self.default_user, self.signer, self.public_url)
        return session_manager(adapter.server(), self.max_body_bytes)


async def _serve(manager: StreamableHTTPSessionManager, *, task_status: TaskStatus[Any]) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()

"""Run a real `memskill serve` process for end-to-end tests.

    with running_server(tmp_dir, {"MEMSKILL_API_KEY": "k"}) as server:
        requests.post(server.api + "/search/memory", ...)

The processes are those of `memskill.testing.processes` (free loopback port, own data directory, stderr
shown if the process dies before it is ready, stopped on leaving the block); this module adds the API base
and small JSON helpers.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memskill.testing.processes import free_port, serve_process, server_env, worker_process

__all__ = [
    "API_PREFIX",
    "Server",
    "free_port",
    "get",
    "post",
    "running_server",
    "running_worker",
    "server_env",
    "wait_for_tasks",
]

API_PREFIX = "/api/openmem/v1"


@dataclass(frozen=True)
class Server:
    """A running server: where to reach it and how to read what it printed."""

    root: str
    """`http://127.0.0.1:<port>`."""
    api: str
    """The API base, `<root>/api/openmem/v1`."""
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(
    data_dir: Path, env: dict[str, str], extra: Sequence[str] = (), with_stdout: bool = False
) -> Iterator[Server]:
    """Start `python -m memskill.cli serve [extra…]` on a free port with `env`; stop it on leaving.
    `with_stdout`: the process's stdout (where uvicorn writes its access log) goes to the stderr file."""
    with serve_process(data_dir, env, extra, with_stdout=with_stdout) as served:
        yield Server(served.root, served.root + API_PREFIX, served.process, served.stderr_path)


running_worker = worker_process


def post(api: str, path: str, body: Any, key: str | None) -> tuple[int, dict[str, Any]]:
    """POST `body` as JSON with `Authorization: Token <key>` (none if `key` is None): (status, reply)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Token {key}"
    request = urllib.request.Request(api + path, data, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as reply:
        with reply:
            return reply.code, json.loads(reply.read())


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """A plain GET without any headers of ours: (status, headers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as reply:
        with reply:
            return reply.code, dict(reply.headers), reply.read()


def wait_for_tasks(api: str, key: str, task_ids: list[str], timeout: float = 60.0) -> None:
    """Poll `get/status` until every task has completed; fail on a failed task or on timeout."""
    deadline = time.monotonic() + timeout
    pending = list(dict.fromkeys(task_ids))
    while pending:
        status, reply = post(api, "/get/status", {"task_id": pending[0]}, key)
        assert status == 200 and reply["code"] == 0, reply
        state = reply["data"]["status"]
        assert state != "failed", reply
        if state == "completed":
            pending.pop(0)
            continue
        assert time.monotonic() < deadline, f"task {pending[0]} still {state} after {timeout} s"
        time.sleep(0.05)

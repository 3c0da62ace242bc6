"""Run a real `memskill serve` process for end-to-end tests.

    with running_server(tmp_dir, {"MEMSKILL_API_KEY": "k"}) as server:
        requests.post(server.api + "/search/memory", ...)

The process gets a free loopback port and its own data directory; its stderr goes to a file that is
shown if it dies before answering `/healthz`. Leaving the block stops it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_PREFIX = "/api/openmem/v1"
START_TIMEOUT_S = 60.0


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(**overrides: str) -> dict[str, str]:
    """The current environment without any `MEMSKILL_*` settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSKILL_")}
    env.update(overrides)
    return env


def _healthy(root: str) -> bool:
    try:
        with urllib.request.urlopen(root + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def running_server(
    data_dir: Path, env: dict[str, str], extra: Sequence[str] = (), with_stdout: bool = False
) -> Iterator[Server]:
    """Start `python -m memskill.cli serve [extra…]` on a free port with `env`; stop it on leaving.
    `with_stdout`: the process's stdout (where uvicorn writes its access log) goes to the stderr file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    stderr_path = data_dir.parent / f"serve-{port}.stderr"
    command = [
        sys.executable,
        "-m",
        "memskill.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    with stderr_path.open("wb") as stderr:
        stdout = stderr if with_stdout else subprocess.DEVNULL
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
    server = Server(root, root + API_PREFIX, process, stderr_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(root):
            if process.poll() is not None:
                raise RuntimeError(
                    f"memskill serve exited with {process.returncode} before answering /healthz:\n"
                    + server.stderr()
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"memskill serve did not answer /healthz within {START_TIMEOUT_S:.0f} s:\n"
                    + server.stderr()
                )
            time.sleep(0.1)
        yield server
    finally:
        _stop(process)


@contextmanager
def running_worker(data_dir: Path, env: dict[str, str], concurrency: int = 2) -> Iterator[Path]:
    """Start `python -m memskill.cli worker`; yield the path of its stderr log; stop it on leaving."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"worker-{os.getpid()}-{time.monotonic_ns()}.stderr"
    command = [sys.executable, "-m", "memskill.cli", "worker", "--concurrency", str(concurrency)]
    command += ["--data-dir", str(data_dir)]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "memskill worker:" not in stderr_path.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "memskill worker did not start:\n" + stderr_path.read_text(errors="replace")
                )
            time.sleep(0.1)
        yield stderr_path
    finally:
        _stop(process)


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

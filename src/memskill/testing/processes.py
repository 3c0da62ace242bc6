"""Run real `memskill serve` and `memskill worker` processes: for end-to-end tests and `memskill bench perf`.

    with serve_process(data_dir, server_env(MEMSKILL_API_KEY="k")) as served:
        urllib.request.urlopen(served.root + "/healthz")

Each process runs as `python -m memskill.cli …`, a server on a free loopback port with its own data
directory. Its stderr goes to a file beside the data directory, shown when the process dies (or does not
answer) before it is ready. Leaving the block stops it: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

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

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Served:
    """A running `memskill serve`."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    started: float
    """`time.perf_counter()` just before the process was started."""

    @property
    def root(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

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


def healthy(root: str) -> bool:
    """Whether `<root>/healthz` answers 200 now."""
    try:
        with urllib.request.urlopen(root + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `timeout_s`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@contextmanager
def serve_process(
    data_dir: Path,
    env: dict[str, str],
    extra: Sequence[str] = (),
    timeout_s: float = START_TIMEOUT_S,
    with_stdout: bool = False,
) -> Iterator[Served]:
    """Start `memskill serve [extra…]` with `env` and wait until it answers `/healthz`.

    `with_stdout`: the process's stdout (where uvicorn writes its access log) goes to the stderr file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    stderr_path = data_dir.parent / f"serve-{port}.stderr"
    command = [sys.executable, "-m", "memskill.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), *extra]
    with stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        stdout = stderr if with_stdout else subprocess.DEVNULL
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
    served = Served(process, port, stderr_path, started)
    try:
        deadline = time.monotonic() + timeout_s
        while not healthy(served.root):
            if process.poll() is not None:
                raise RuntimeError(
                    f"memskill serve exited with {process.returncode} before answering /healthz:\n"
                    + served.stderr()
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"memskill serve did not answer /healthz within {timeout_s:.0f} s:\n" + served.stderr()
                )
            time.sleep(0.01)
        yield served
    finally:
        stop(process)


@contextmanager
def worker_process(data_dir: Path, env: dict[str, str], concurrency: int = 2) -> Iterator[Path]:
    """Start `memskill worker`; yield the path of its stderr log once it says it runs; stop it on leaving."""
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
        stop(process)

"""The measurements of `memskill bench perf` that run a real `memskill serve`, and the install size.

Servers run as `python -m memskill.cli serve` on a free loopback port with their own data directory, an API
key of their own and no rate limit. The server sends no timing header, so latency is client wall time over
one kept-alive connection, until the last byte of the reply.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memskill.testing.processes import serve_process, server_env

API = "/api/openmem/v1"
HTTP_CLIENTS = 4
"""Clients sending at once when requests/s is measured."""


def summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """Count, percentiles and mean of latencies in milliseconds."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        return {"n": 0}
    return {
        "n": int(values.size),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p90_ms": round(float(np.percentile(values, 90)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "max_ms": round(float(values.max()), 3),
    }


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- HTTP ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A `memskill serve` process on loopback."""

    process: subprocess.Popen[bytes]
    port: int
    key: str
    started: float
    """`time.perf_counter()` just before the process was started."""
    stderr_path: Path

    def client(self) -> Client:
        return Client(self.port, self.key)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory now and at its peak, from /proc (empty where /proc is missing)."""
        status = Path(f"/proc/{self.process.pid}/status")
        if not status.exists():
            return {}
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return {
            name: round(int(fields[key].split()[0]) / 1024, 1)
            for name, key in (("rss_mb", "VmRSS"), ("peak_rss_mb", "VmHWM"))
            if key in fields
        }


class Client:
    """JSON over one kept-alive loopback connection."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Token {key}"}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """(status, reply, milliseconds until the last byte of the reply arrived)."""
        data = json.dumps(body, ensure_ascii=False).encode()
        started = time.perf_counter()
        self.connection.request("POST", API + path, data, self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        elapsed = elapsed_ms(started)
        return response.status, json.loads(raw), elapsed

    def close(self) -> None:
        self.connection.close()


@contextmanager
def serve(data_dir: Path, embedder: str, workers: int | None, timeout_s: float = 120.0) -> Iterator[Server]:
    """Start `memskill serve` with `embedder` (and `--workers` unless None), wait for /healthz; stop it
    on leaving (SIGTERM, then SIGKILL)."""
    key = "perf-" + secrets.token_hex(8)
    env = server_env(MEMSKILL_API_KEY=key, MEMSKILL_RATE_LIMIT="0", MEMSKILL_EMBEDDER=embedder)
    extra = [] if workers is None else ["--workers", str(workers)]
    with serve_process(data_dir, env, extra, timeout_s=timeout_s) as served:
        yield Server(served.process, served.port, key, served.started, served.stderr_path)


def _check(status: int, reply: dict[str, Any]) -> None:
    if status != 200 or reply.get("code") != 0:
        raise RuntimeError(f"the server answered {status}: {reply}")


def measure_add_http(
    folder: Path, embedder: str, workers: int, bodies: Sequence[dict[str, Any]], warm_up: int
) -> dict[str, Any]:
    """add/message over HTTP: the first half of `bodies` one by one (latency, after `warm_up` unmeasured),
    the second half from `HTTP_CLIENTS` clients at once (requests/s)."""
    half = len(bodies) // 2
    with serve(folder, embedder, workers) as server:
        client = server.client()
        samples = []
        first = 0.0
        for number, body in enumerate(bodies[:half]):
            status, reply, elapsed = client.post("/add/message", body)
            _check(status, reply)
            if number == 0:
                first = elapsed
            if number >= warm_up:
                samples.append(elapsed)
        client.close()
        rest = bodies[half:]
        errors: list[str] = []

        def send(share: Sequence[dict[str, Any]]) -> None:
            own = server.client()
            try:
                for body in share:
                    status, reply, _ = own.post("/add/message", body)
                    if status != 200 or reply.get("code") != 0:
                        errors.append(f"{status} {reply}")
            finally:
                own.close()

        threads = [threading.Thread(target=send, args=(rest[n::HTTP_CLIENTS],)) for n in range(HTTP_CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} add/message calls failed, e.g. {errors[0]}")
    return {
        **summary(samples),
        "workers": workers,
        "first_request_ms": round(first, 1),
        "sequential_requests_per_s": round(len(samples) / max(sum(samples) / 1000, 1e-9), 1),
        "requests_per_s": round(len(rest) / seconds, 1),
        "clients": HTTP_CLIENTS,
    }


def measure_search_http(
    folder: Path, embedder: str, bodies: Sequence[dict[str, Any]], warm_up: int
) -> dict[str, Any]:
    """search/memory over HTTP (no worker), measured after `warm_up` calls; then the server's memory."""
    with serve(folder, embedder, 0) as server:
        client = server.client()
        samples = []
        for number, body in enumerate(bodies):
            status, reply, elapsed = client.post("/search/memory", body)
            _check(status, reply)
            if number >= warm_up:
                samples.append(elapsed)
        client.close()
        memory = server.rss_mb()
    return {**summary(samples), **memory}


def measure_cold_start(folder: Path, embedder: str, body: dict[str, Any]) -> dict[str, float]:
    """Process start → /healthz 200, and → the first search answered (`memskill serve` as shipped, with
    its default worker)."""
    with serve(folder, embedder, None) as server:
        healthy = elapsed_ms(server.started)
        client = server.client()
        status, reply, _ = client.post("/search/memory", body)
        _check(status, reply)
        first = elapsed_ms(server.started)
        client.close()
    return {"healthz_ms": round(healthy, 1), "first_search_ms": round(first, 1)}


# -- install size ---------------------------------------------------------------------------------------


def _disk_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_blocks * 512
    return total / 2**20


def measure_install_size(folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Disk use of a virtualenv holding `pip install .` minus that of an empty one, in MiB."""
    repository = Path(__file__).resolve().parents[3]  # src/memskill/bench/ → the checkout
    if not (repository / "pyproject.toml").is_file():
        return {"skipped": "not run from a source checkout (no pyproject.toml above the package)"}
    empty = folder / "venv-empty"
    subprocess.run([sys.executable, "-m", "venv", str(empty)], check=True)
    reused = repository / ".ci" / "venv-demo"
    if (reused / "bin" / "memskill").exists():
        full, note, seconds = reused, "reused .ci/venv-demo", 0.0
    else:
        full = folder / "venv-full"
        log("install size: pip install . into a fresh virtualenv (about a minute)…")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(full)], check=True)
        pip = [
            str(full / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(repository),
        ]
        installed = subprocess.run(pip, capture_output=True, text=True)
        if installed.returncode != 0:
            raise RuntimeError(f"pip install . failed ({installed.returncode}):\n{installed.stderr[-4000:]}")
        note, seconds = "fresh virtualenv", time.perf_counter() - started
    empty_mb, full_mb = _disk_mb(empty), _disk_mb(full)
    return {
        "install_size_mb": round(full_mb - empty_mb, 1),
        "venv_mb": round(full_mb, 1),
        "empty_venv_mb": round(empty_mb, 1),
        "install_seconds": round(seconds, 1),
        "how": note,
    }

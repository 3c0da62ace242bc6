"""`memskill bench crash`: SIGKILL the API and worker processes under load, then check that nothing
acknowledged was lost and that every job ran exactly once in effect (DESIGN §6).

    report = run_crash(Path("/tmp/crash"), kills=100, seed=1, progress=no_progress)
    print(format_report(report))

One `memskill serve --workers 0` and one `memskill worker --concurrency 2` share a store (SQLite in
`data_dir`, or the PostgreSQL database `database_url` names). Client threads send `add/message` calls
(small conversations in Chinese and English, every message distinct) and retry refused ones as a client
would; a 200 reply is the acknowledgement. Meanwhile the API process, the worker or both are killed with
SIGKILL at random moments and started again on the same port and store. After the last kill, with a short
job lease (`MEMSKILL_LEASE_MS`) so that jobs of a killed worker are soon taken over, the store is checked:

- every acknowledged message is stored exactly once, and no message is stored twice;
- every acknowledged task exists and has completed; no job failed or was left running;
- no job's writes were applied twice: no two activated memories of a user with the same text, one skill
  per task cluster, skill versions numbered 1..n without gaps; a resent call gets its first task id;
  and running every stored job once more, in order, on a fresh store without crashes gives the same
  memories (with the same confidence: a preference confirmed twice by one message would differ) and
  the same skills.

POSIX only (SIGKILL, process sessions).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from memskill.bench.crash_checks import CrashReport, _drain, _settings, _verify
from memskill.bench.crash_load import (
    API_KEY,
    CLIENTS,
    KILL_INTERVAL_S,
    LEASE_MS,
    REQUEST_TIMEOUT_S,
    USERS_PER_CLIENT,
    WAIT_READY_SHARE,
    Client,
    _free_port,
    _processes,
)
from memskill.bench.report import Progress
from memskill.errors import InvalidRequest


def format_report(report: CrashReport) -> str:
    """The report as a two-column table, then the problems found (if any)."""
    rows = [
        ("store", f"{report.backend} (seed {report.seed}, lease {report.lease_ms} ms)"),
        ("kills", report.kills),
        ("  processes killed (server / worker)", f"{report.server_kills} / {report.worker_kills}"),
        ("requests sent", report.requests),
        ("acknowledged (200)", report.acknowledged),
        ("refused (connection error / 5xx)", report.refused),
        ("calls given up (of them stored)", f"{report.abandoned} ({report.abandoned_stored})"),
        ("acknowledged calls resent", report.resent),
        ("messages acknowledged", report.messages_acknowledged),
        ("  of them stored exactly once", report.messages_stored),
        ("messages in the store", report.messages_in_store),
        ("duplicate messages", report.duplicate_messages),
        (
            "jobs completed / failed / running",
            f"{report.jobs_completed} / {report.jobs_failed} / {report.jobs_running}",
        ),
        ("jobs taken over after a kill", report.jobs_taken_over),
        ("memories / skills", f"{report.memories} / {report.skills}"),
        ("duplicate memories", report.duplicate_memories),
        ("skills with bad versions", report.skill_problems),
        ("differences from a replay without kills", report.replay_differences),
        ("time (drain)", f"{report.seconds:.1f} s ({report.drain_seconds:.1f} s)"),
        ("result", "ok" if report.ok else f"FAILED: {len(report.problems)} problem(s)"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    return "\n".join(lines + [f"  - {problem}" for problem in report.problems[:20]])


# -- processes --------------------------------------------------------------------------------------


def run_crash(
    data_dir: Path,
    kills: int,
    seed: int,
    progress: Progress,
    database_url: str | None = None,
    *,
    lease_ms: int = LEASE_MS,
    clients: int = CLIENTS,
    seconds: float = 0.0,
) -> CrashReport:
    """Kill the API and worker processes `kills` times under load, then check the store (module doc).

    The load lasts at least `seconds` (with `kills=0`: the same load without crashes, for comparison).
    """
    data_dir = Path(data_dir).expanduser()
    if database_url is None and (data_dir / "memskill.db").exists():
        raise InvalidRequest(f"{data_dir} already holds a store; the crash bench needs an empty directory.")
    started = time.monotonic()
    rng = random.Random(seed)
    report = CrashReport(
        backend="postgresql" if database_url else "sqlite", seed=seed, lease_ms=lease_ms, kills=kills
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEMSKILL_")}
    env.update(
        MEMSKILL_API_KEY=API_KEY,
        MEMSKILL_EMBEDDER="hashing",
        MEMSKILL_RATE_LIMIT="0",
        MEMSKILL_LEASE_MS=str(lease_ms),
    )
    if database_url:
        env["MEMSKILL_DATABASE_URL"] = database_url
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/openmem/v1"
    server, worker = _processes(data_dir, port, env)
    stop = threading.Event()
    users = [f"user-{index:02d}" for index in range(clients * USERS_PER_CLIENT)]
    senders = [
        Client(
            api, users[index * USERS_PER_CLIENT : (index + 1) * USERS_PER_CLIENT], seed * 100 + index, stop
        )
        for index in range(clients)
    ]
    try:
        for process in (server, worker):
            process.start()
            process.wait_ready()
        for sender in senders:
            sender.start()
        load_started = time.monotonic()
        for number in range(1, kills + 1):
            time.sleep(rng.uniform(*KILL_INTERVAL_S))
            roll = rng.random()
            targets = [server] if roll < 0.45 else [worker] if roll < 0.9 else [server, worker]
            for process in targets:
                process.kill()
                process.start()
            report.server_kills += server in targets
            report.worker_kills += worker in targets
            progress("kills", number, kills)
            if rng.random() < WAIT_READY_SHARE or number == kills:
                for process in targets:
                    process.wait_ready()
        # Some load on the restarted processes before the clients stop.
        time.sleep(max(1.0, seconds - (time.monotonic() - load_started)))
        stop.set()
        for sender in senders:
            sender.join(REQUEST_TIMEOUT_S + 5)
        load_ended = time.monotonic()
        _drain(_settings(data_dir, database_url))
        report.drain_seconds = time.monotonic() - load_ended
    finally:
        stop.set()
        for process in (server, worker):
            process.stop()
    for process in (server, worker):
        report.problems += process.died
    for sender in senders:
        report.requests += sender.requests
        report.refused += sender.refused
        report.resent += sender.resent
        report.problems += sender.problems
    acknowledged = {call: task for sender in senders for call, task in sender.acknowledged.items()}
    abandoned = [call for sender in senders for call in sender.abandoned]
    _verify(report, _settings(data_dir, database_url), acknowledged, abandoned, data_dir / "replay")
    report.seconds = time.monotonic() - started
    return report


def run_from_cli(args: Any, out: TextIO, err: TextIO) -> int:
    """`memskill bench crash`: print the report as a table; exit with 1 if an invariant failed."""
    from memskill.bench.quality import write_json

    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    temporary = not args.data_dir
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else Path(tempfile.mkdtemp(prefix="crash-"))
    err.write(f"killing the server and the worker {args.kills} times (seed {seed}) on {data_dir}…\n")

    def progress(label: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            err.write(f"{label} {done}/{total}\n")
            err.flush()

    try:
        report = run_crash(data_dir, args.kills, seed, progress, args.database_url, seconds=args.seconds)
    except RuntimeError as error:  # a process that would not start: its log says why
        err.write(f"error: {error}\nthe store and the logs are kept in {data_dir}\n")
        return 1
    out.write(format_report(report) + "\n")
    if args.json:
        write_json(report.as_dict(), Path(args.json))
        err.write(f"raw results written to {args.json}\n")
    if not report.ok:
        err.write(f"the store and the processes' logs are kept in {data_dir} (crash-logs/)\n")
    elif temporary:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if report.ok else 1

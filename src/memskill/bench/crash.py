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

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from memskill.bench.report import Progress
from memskill.config import Settings
from memskill.errors import InvalidRequest
from memskill.models import Scope

API_KEY = "crash-bench-key"
LEASE_MS = 2_000
"""The job lease the processes run with: a killed worker's job is taken over this long after its claim."""
CLIENTS = 4
USERS_PER_CLIENT = 3
KILL_INTERVAL_S = (0.2, 1.5)
PAUSE_S = (0.02, 0.12)
"""A client's pause between two calls."""
RETRY_SHARE = 0.8
"""How often a client sends a refused call again (else it gives up on it)."""
RESEND_SHARE = 0.08
"""How often a client sends an acknowledged call again, as after a reply that timed out on its side."""
WAIT_READY_SHARE = 0.85
"""How often the next kill waits until the restarted process is ready (else it may hit its start-up)."""
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 300.0

TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "帮我规划{city}{days}天的行程，我不喜欢太赶。",
        (
            "第{day}天想去{place}，怎么安排比较好？",
            "每天最多两个景点，别安排{activity}。",
            "晚上想吃当地小吃，有推荐吗？",
        ),
        ("好的：上午去{place}，下午留给休息。", "明白，不安排{activity}。", "可以去夜市，离酒店步行十分钟。"),
    ),
    (
        "给我写一份{project}项目的周报，本周完成了接口联调。",
        (
            "再加上下周计划：压测和上线评审。",
            "以后周报控制在{chars}字以内，用要点。",
            "风险部分写一下第三方接口不稳定。",
        ),
        (
            "本周完成：接口联调、缺陷修复；下周计划：压测、评审。",
            "已压缩到{chars}字以内，分三点。",
            "已补充风险与应对措施。",
        ),
    ),
    (
        "Write a short email to the {city} office asking for a meeting next week.",
        (
            "Make it more formal and mention the {project} budget.",
            "Keep it under {words} words, please.",
            "Add a line thanking them for the last call.",
        ),
        (
            "Dear colleagues, could we meet next week to review the plan?",
            "Here is a version under {words} words.",
            "Updated, with thanks for the last call.",
        ),
    ),
    (
        "Plan dinners for the week, we are in {city} with two kids.",
        (
            "Please avoid {food}, my daughter is allergic.",
            "I prefer {dish} on {weekday}s.",
            "Something quick on weekdays, under 30 minutes.",
        ),
        (
            "Done: no {food} anywhere in the plan.",
            "{weekday}: {dish} with rice and greens.",
            "Swapped the stew for a 20-minute stir-fry.",
        ),
    ),
    (
        "帮我审一下{project}的代码，主要看异常处理。",
        ("第{day}处的 try/except 是不是太宽了？", "以后评审请{review}。", "再看看日志里有没有泄露用户信息。"),
        (
            "建议只捕获 ValueError，并记录原始错误。",
            "好的，以后评审会{review}。",
            "有一处把手机号写进了日志，建议脱敏。",
        ),
    ),
)
"""(opening request, later requests, replies to them): later turns pick a request and its reply. Several
requests state preferences with a varying part, so that many of a user's preferences are new: a job
run twice would confirm its new preference a second time and leave it with a higher confidence."""
FIELDS: dict[str, tuple[str, ...]] = {
    "city": ("成都", "Paris", "大理", "Oslo", "杭州", "Lima", "西安", "Kyoto"),
    "place": ("宽窄巷子", "the old harbour", "洱海", "the museum quarter", "西湖", "the night market"),
    "project": ("支付网关", "billing", "推荐系统", "mobile app", "数据平台"),
    "activity": ("购物", "爬山", "早起的活动", "长途车程", "夜游", "博物馆"),
    "chars": ("150", "200", "250", "300", "400"),
    "words": ("60", "80", "100", "120", "150", "200"),
    "food": ("peanuts", "shellfish", "sesame", "mushrooms", "eggs"),
    "dish": ("salmon", "tofu", "dumplings", "lentil soup", "grilled chicken"),
    "weekday": ("Monday", "Wednesday", "Friday", "Sunday"),
    "review": ("先列问题再给修改建议", "用表格列出问题", "标出严重级别", "附上修改后的代码"),
    "days": ("2", "3", "4", "5"),
    "day": ("1", "2", "3", "4", "5"),
}


@dataclass
class CrashReport:
    """What a crash run did and what the store held afterwards; `problems` lists every broken invariant."""

    backend: str = "sqlite"
    seed: int = 0
    lease_ms: int = LEASE_MS
    kills: int = 0
    """Moments at which the server, the worker or both were killed."""
    server_kills: int = 0
    worker_kills: int = 0
    requests: int = 0
    """HTTP calls made, retries included."""
    acknowledged: int = 0
    """`add/message` calls that got a 200 reply."""
    refused: int = 0
    """Attempts that got a connection error or a 5xx reply (not acknowledged)."""
    abandoned: int = 0
    """Calls a client gave up on after refusals."""
    abandoned_stored: int = 0
    """Of those, calls stored anyway (the process died after storing, before replying): allowed."""
    resent: int = 0
    """Acknowledged calls sent again; each must get its first task id back."""
    messages_acknowledged: int = 0
    messages_stored: int = 0
    """Acknowledged messages found in the store exactly once."""
    messages_in_store: int = 0
    duplicate_messages: int = 0
    jobs: int = 0
    jobs_completed: int = 0
    jobs_failed: int = 0
    jobs_running: int = 0
    jobs_taken_over: int = 0
    """Jobs claimed more than once: their worker was killed and another took them over."""
    memories: int = 0
    skills: int = 0
    duplicate_memories: int = 0
    skill_problems: int = 0
    """Skills sharing a task cluster, or whose versions are not numbered 1..n."""
    replay_differences: int = 0
    """Memories or skills that differ from running every stored job once, in order, without crashes:
    what a job run twice (or half) would leave."""
    seconds: float = 0.0
    drain_seconds: float = 0.0
    """From the end of the load until no job was running."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


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


class Supervised:
    """A `memskill` child process that is killed with SIGKILL and started again with the same command."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path, port: int | None):
        self.name = name
        self.command = command
        self.env = env
        self.log = log
        self.port = port
        """The API port (`ready` asks `/healthz`); None for the worker (`ready` reads its log)."""
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.died: list[str] = []
        """Exits nobody asked for, with the end of the log."""

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C on the bench reaches the bench only
            )

    def _output(self, limit: int = 4000) -> str:
        """What this start of the process printed (its last `limit` characters)."""
        with self.log.open("rb") as file:
            file.seek(self._log_offset)
            return file.read().decode("utf-8", errors="replace")[-limit:]

    def ready(self) -> bool:
        if self.port is None:
            return "memskill worker:" in self._output()
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):
            return False

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self._output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} was not ready after {START_TIMEOUT_S:.0f} s:\n{self._output()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the process (noting it if it had already exited on its own) and reap it."""
        assert self.process is not None
        if self.process.poll() is not None:
            self.died.append(
                f"{self.name} exited on its own with {self.process.returncode}: {self._output()}"
            )
        else:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 10 s."""
        if self.process is None or self.process.poll() is not None:
            if self.process is not None and self.process.returncode != -signal.SIGKILL:
                self.died.append(
                    f"{self.name} exited on its own with {self.process.returncode}: {self._output()}"
                )
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _processes(data_dir: Path, port: int, env: dict[str, str]) -> tuple[Supervised, Supervised]:
    base = [sys.executable, "-m", "memskill.cli"]
    where = ["--data-dir", str(data_dir), "--log-level", "warning"]
    logs = data_dir / "crash-logs"
    server = Supervised(
        "memskill serve",
        [*base, "serve", "--workers", "0", "--port", str(port), *where],
        env,
        logs / "serve.log",
        port,
    )
    worker = Supervised(
        "memskill worker", [*base, "worker", "--concurrency", "2", *where], env, logs / "worker.log", None
    )
    return server, worker


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- clients ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One `add/message` request body."""

    user_id: str
    conversation_id: str
    messages: tuple[tuple[str, str], ...]
    """(role, content) pairs."""

    def body(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "messages": [{"role": role, "content": content} for role, content in self.messages],
            "async_mode": True,
        }


class Conversations:
    """Small conversations of a few users, each call the next turn(s) of one; every message is distinct."""

    def __init__(self, users: list[str], rng: random.Random) -> None:
        self.rng = rng
        self.users = users
        self.state: dict[str, tuple[int, int, int, int]] = {}
        """user → (conversation number, topic, turns sent, turns planned)."""

    def next_call(self) -> Call:
        rng = self.rng
        user = rng.choice(self.users)
        number, topic, sent, planned = self.state.get(user, (0, 0, 0, 0))
        if sent >= planned:
            number, topic, sent, planned = number + 1, rng.randrange(len(TOPICS)), 0, rng.randint(2, 6)
        opening, asks, replies = TOPICS[topic]
        fields = {name: rng.choice(values) for name, values in FIELDS.items()}
        messages: list[tuple[str, str]] = []
        for turn in range(sent, sent + (2 if rng.random() < 0.25 else 1)):
            index = rng.randrange(len(asks))
            ask = opening if turn == 0 else asks[index]
            mark = f"(#{number}.{turn + 1})"  # distinct across the user's conversations
            messages.append(("user", f"{ask.format(**fields)} {mark}"))
            messages.append(("assistant", f"{replies[index].format(**fields)} {mark}"))
        self.state[user] = (number, topic, sent + len(messages) // 2, planned)
        return Call(user, f"conv-{number:03d}", tuple(messages))


def _post(api: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Token {API_KEY}"}
    request = urllib.request.Request(api + "/add/message", data, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as reply:
        with reply:
            try:
                return reply.code, json.loads(reply.read())
            except (ValueError, OSError, http.client.HTTPException):
                return reply.code, {}


class Client(threading.Thread):
    """Sends calls until stopped: a refused call is resent (mostly) or given up; some acknowledged ones
    are resent too. Records every acknowledged call with its task id."""

    def __init__(self, api: str, users: list[str], seed: int, stop: threading.Event) -> None:
        super().__init__(name=f"crash-client-{seed}", daemon=True)
        self.api = api
        self.rng = random.Random(seed)
        self.conversations = Conversations(users, self.rng)
        self.stop_event = stop
        self.acknowledged: dict[Call, str] = {}
        self.abandoned: list[Call] = []
        self.requests = 0
        self.refused = 0
        self.resent = 0
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            if self.acknowledged and self.rng.random() < RESEND_SHARE:
                call = self.rng.choice(list(self.acknowledged))
                task_id = self._send(call)
                if task_id is not None:
                    self.resent += 1
                    if task_id != self.acknowledged[call]:
                        self.problems.append(
                            f"a resent call of {call.user_id}/{call.conversation_id} got task {task_id}, "
                            f"not its first task {self.acknowledged[call]}"
                        )
            else:
                self._deliver(self.conversations.next_call())
            self.stop_event.wait(self.rng.uniform(*PAUSE_S))

    def _deliver(self, call: Call) -> None:
        while True:
            task_id = self._send(call)
            if task_id is not None:
                self.acknowledged[call] = task_id
                return
            if self.stop_event.is_set() or self.rng.random() > RETRY_SHARE:
                self.abandoned.append(call)
                return
            time.sleep(self.rng.uniform(0.05, 0.3))

    def _send(self, call: Call) -> str | None:
        """The task id of a 200 reply; None when refused (connection error or 5xx)."""
        self.requests += 1
        try:
            status, reply = _post(self.api, call.body())
        except (OSError, http.client.HTTPException, ValueError):
            self.refused += 1
            return None
        if status == 200 and reply.get("code") == 0:
            return str(reply["data"]["task_id"])
        if status >= 500:
            self.refused += 1
            return None
        self.problems.append(f"unexpected reply {status} to add/message: {reply.get('message')}")
        return None


# -- the run ----------------------------------------------------------------------------------------


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


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, embedder="hashing", workers=0, database_url=database_url)


def _drain(settings: Settings) -> None:
    """Wait until no job is running (a killed worker's jobs are taken over when their lease ends)."""
    from memskill.stores import open_store

    store = open_store(settings)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while store.count_jobs("running") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        store.close()


def _verify(
    report: CrashReport,
    settings: Settings,
    acknowledged: dict[Call, str],
    abandoned: list[Call],
    replay: Path,
) -> None:
    """Fill the store's side of `report` and list every broken invariant in `report.problems`; `replay` is
    a scratch directory for a store the jobs are run again in."""
    from memskill.engine import Memory

    problems = report.problems
    with Memory(settings=settings, start_workers=False) as memory:
        store = memory.store
        stored: Counter[tuple[str, str, str, str]] = Counter()
        for user in store.user_ids():
            for conversation in store.conversation_ids(user):
                for message in store.conversation_messages(user, conversation, limit=1_000_000):
                    stored[(user, conversation, message.role, message.content)] += 1
        report.messages_in_store = sum(stored.values())
        duplicates = {key: count for key, count in stored.items() if count > 1}
        report.duplicate_messages = sum(count - 1 for count in duplicates.values())
        for key, count in list(duplicates.items())[:5]:
            problems.append(f"message stored {count} times: {key}")

        report.acknowledged = len(acknowledged)
        for call in acknowledged:
            for role, content in call.messages:
                report.messages_acknowledged += 1
                count = stored[(call.user_id, call.conversation_id, role, content)]
                report.messages_stored += count == 1
                if count == 0:
                    problems.append(
                        f"acknowledged message lost: {call.user_id}/{call.conversation_id} {content!r}"
                    )
        report.abandoned = len(abandoned)
        report.abandoned_stored = sum(
            all(
                stored[(call.user_id, call.conversation_id, role, content)] for role, content in call.messages
            )
            for call in abandoned
        )

        jobs = {job.id: job for job in store.list_jobs(limit=10_000_000)}
        report.jobs = len(jobs)
        statuses = Counter(job.status for job in jobs.values())
        report.jobs_completed = statuses["completed"]
        report.jobs_failed = statuses["failed"]
        report.jobs_running = statuses["running"]
        report.jobs_taken_over = sum(job.attempts > 1 for job in jobs.values())
        for job in jobs.values():
            if job.status != "completed":
                problems.append(f"job {job.id} is {job.status} after {job.attempts} attempt(s): {job.error}")
        for call, task_id in acknowledged.items():
            if task_id not in jobs:
                problems.append(
                    f"acknowledged task {task_id} ({call.user_id}/{call.conversation_id}) not stored"
                )

        for user in store.user_ids():
            scope = Scope(user)
            items = store.list_items(scope, ["fact", "preference", "tool"])
            report.memories += len(items)
            texts = Counter((item.kind, item.text) for item in items)
            for (kind, text), count in texts.items():
                if count > 1:
                    report.duplicate_memories += count - 1
                    problems.append(f"{user}: {count} activated {kind} memories {text!r}")
            skills = store.list_skills(scope)
            report.skills += len(skills)
            clusters = Counter(skill.cluster_id for skill in skills)
            for cluster, count in clusters.items():
                if count > 1:
                    report.skill_problems += count - 1
                    problems.append(f"{user}: {count} skills for task cluster {cluster}")
            for skill in skills:
                numbers = [version.version for version in store.skill_versions(skill.id)]
                if numbers != list(range(1, len(numbers) + 1)) or numbers[-1:] != [skill.current.version]:
                    report.skill_problems += 1
                    problems.append(
                        f"{user}: skill {skill.id} has versions {numbers}, current {skill.current.version}"
                    )

        shutil.rmtree(replay, ignore_errors=True)
        differences = _replay_differences(store, replay)
        report.replay_differences = len(differences)
        problems += differences


def _timeless(markdown: str) -> str:
    """A SKILL.md without what depends on when it was written (its id is derived from a time, its date)."""
    markdown = re.sub(r"skill_[0-9a-f]+", "skill_…", markdown)
    return re.sub(r"updated_at: '?[0-9-]+'?", "updated_at: …", markdown)


def _state(store: Any, user: str) -> tuple[Counter[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What a user's jobs produced, without ids or times: memories and skills."""
    scope = Scope(user)
    items = Counter(
        (item.kind, item.text, item.status, round(item.confidence, 6), tuple(sorted(item.sources)))
        for item in store.list_items(scope, ["fact", "preference", "tool"], ("activated", "archived"))
    )
    skills = sorted(
        (skill.current.name, skill.current.version, _timeless(skill.current.markdown), skill.conversation_ids)
        for skill in store.list_skills(scope)
    )
    return items, skills


def _replay_differences(store: Any, scratch: Path) -> list[str]:
    """Run every stored job once more, in the order the workers must have run them (per user, oldest first),
    on a fresh store without crashes; list the memories and skills that differ from the stored ones."""
    from memskill.engine import Memory
    from memskill.ingest import message_to_dict

    differences: list[str] = []
    jobs = sorted(store.list_jobs(limit=10_000_000), key=lambda job: (job.create_time, job.id))
    with Memory(settings=_settings(scratch, None), start_workers=False) as replay:
        for job in jobs:
            payload = store.job_payload(job.id)
            messages = store.messages_by_ids(payload.get("message_ids", []))
            reply = replay.add_message(
                user_id=job.user_id,
                conversation_id=job.conversation_id,
                messages=[
                    {**message_to_dict(m), **({"chat_time": m.chat_time} if m.chat_time is not None else {})}
                    for m in messages
                ],
                tags=payload.get("tags") or None,
                async_mode=False,
            )
            if reply["task_id"] != job.id:
                differences.append(f"job {job.id} replayed as {reply['task_id']}: its messages differ")
        for user in store.user_ids():
            crashed_items, crashed_skills = _state(store, user)
            replayed_items, replayed_skills = _state(replay.store, user)
            for entry in crashed_items - replayed_items:
                differences.append(f"{user}: memory {entry[:4]} is stored, but a replay has none like it")
            for entry in replayed_items - crashed_items:
                differences.append(f"{user}: memory {entry[:4]} is in a replay, but not stored")
            for skill in set(crashed_skills) ^ set(replayed_skills):
                side = "stored" if skill in crashed_skills else "replayed"
                differences.append(
                    f"{user}: skill {skill[0]} v{skill[1]} ({side}) differs from its other copy"
                )
    return differences


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

"""The load `memskill bench crash` puts on the processes it kills: its settings, the conversations
clients send, the supervised API and worker processes, and the client threads that retry as a client
would."""

from __future__ import annotations

import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

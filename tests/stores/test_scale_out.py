"""Several processes on one store: two `memskill serve --workers 0` and two `memskill worker`.

Conversations from many users are sent concurrently through both API processes, some of them twice (a
client retrying); afterwards every message is stored once, every job is completed once, and every user's
skills are consistent (one skill per task cluster, versions numbered 1..n without gaps), with no error
reply on the way. On PostgreSQL (when `MEMSKILL_TEST_DATABASE_URL` is set) with 500 conversations from
50 users; on SQLite (several processes on one file) with a smaller load.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import post, running_server, running_worker, server_env

from memskill import Memory, Settings
from memskill.models import Scope

KEY = "scale-out-key"
TOPICS = [
    ("帮我规划{city}三天的行程，我不喜欢太赶", "第一天……第二天……第三天……", "每天最多两个景点，别安排购物"),
    ("Write a short email to {city} office asking for a meeting", "Dear team, …", "Keep it under 100 words"),
    ("给我写一份{city}项目的周报", "本周完成了……", "周报控制在200字以内，用要点"),
    ("Plan dinners for the week, we are in {city}", "Monday: …", "No spicy food, we have kids"),
]
CITIES = ["成都", "Paris", "大理", "Oslo", "杭州", "Lima", "西安", "Kyoto", "Porto", "Hanoi"]


def conversation(user: int, index: int) -> list[dict[str, str]]:
    ask, answer, correction = TOPICS[(user + index) % len(TOPICS)]
    city = CITIES[(user * 7 + index) % len(CITIES)]
    return [
        {"role": "user", "content": ask.format(city=city) + f" (#{user}-{index})"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": correction},
        {"role": "assistant", "content": "OK / 好的"},
    ]


@contextmanager
def cluster(tmp_path: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """Two API processes without workers and two worker processes on one store: the API bases."""
    with ExitStack() as stack:
        apis = [
            stack.enter_context(running_server(tmp_path / "data", env, ["--workers", "0"])).api
            for _ in range(2)
        ]
        for _ in range(2):
            stack.enter_context(running_worker(tmp_path / "data", env, concurrency=2))
        yield apis


def run_load(apis: list[str], users: int, per_user: int, retries: float) -> tuple[list[str], Counter[int]]:
    """Send every conversation once (some twice) through alternating API processes: task ids, statuses."""
    calls = [(u, i) for u in range(users) for i in range(per_user)]
    calls += random.Random(7).sample(calls, int(len(calls) * retries))  # client retries
    random.Random(11).shuffle(calls)
    statuses: Counter[int] = Counter()

    def send(number: int, call: tuple[int, int]) -> str:
        user, index = call
        body = {
            "user_id": f"user-{user:03d}",
            "conversation_id": f"conv-{index:02d}",
            "messages": conversation(user, index),
            "async_mode": True,
        }
        status, reply = post(apis[number % len(apis)], "/add/message", body, KEY)
        statuses[status] += 1
        assert status == 200, reply
        return str(reply["data"]["task_id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        task_ids = list(pool.map(send, range(len(calls)), calls))
    return task_ids, statuses


def wait_for_jobs(api: str, task_ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    pending = set(task_ids)
    done: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for task_id in list(pending):
            status, reply = post(api, "/get/status", {"task_id": task_id}, KEY)
            assert status == 200, reply
            if reply["data"]["status"] != "running":
                done[task_id] = reply["data"]
                pending.discard(task_id)
        if pending:
            time.sleep(0.5)
    assert not pending, f"{len(pending)} jobs still running after {timeout_s:.0f} s"
    return done


def check_store(memory: Memory, users: int, per_user: int, task_ids: list[str]) -> None:
    store = memory.store
    jobs = store.list_jobs(limit=100_000)
    assert len(jobs) == users * per_user  # resent calls found their job
    assert {job.id for job in jobs} == set(task_ids)
    assert all(job.status == "completed" for job in jobs), [j.error for j in jobs if j.status != "completed"]
    assert all(job.attempts == 1 for job in jobs), Counter(job.attempts for job in jobs)
    for user in range(users):
        user_id = f"user-{user:03d}"
        for index in range(per_user):
            messages = store.conversation_messages(user_id, f"conv-{index:02d}")
            assert [m.content for m in messages] == [m["content"] for m in conversation(user, index)]
        items = store.list_items(Scope(user_id), ["fact", "preference", "tool"])
        texts = Counter((item.kind, item.text) for item in items)
        assert not [text for text, count in texts.items() if count > 1], f"duplicates for {user_id}"
        skills = store.list_skills(Scope(user_id))
        assert len({skill.cluster_id for skill in skills}) == len(skills)
        for skill in skills:
            numbers = [version.version for version in store.skill_versions(skill.id)]
            assert numbers == list(range(1, len(numbers) + 1)) and numbers[-1] == skill.current.version


def scale_out(tmp_path: Path, env: dict[str, str], settings: Settings, users: int, per_user: int) -> None:
    with cluster(tmp_path, env) as apis:
        started = time.monotonic()
        task_ids, statuses = run_load(apis, users, per_user, retries=0.1)
        sent_s = time.monotonic() - started
        finished = wait_for_jobs(apis[0], sorted(set(task_ids)), timeout_s=600)
        print(
            f"\n{users * per_user} conversations sent in {sent_s:.1f} s, all jobs done after "
            f"{time.monotonic() - started:.1f} s; replies {dict(statuses)}"
        )
    assert set(statuses) == {200}
    assert all(reply["status"] == "completed" for reply in finished.values())
    with Memory(settings=settings, start_workers=False) as memory:
        check_store(memory, users, per_user, task_ids)


@pytest.mark.slow
def test_postgres_with_two_api_processes_and_two_workers(tmp_path: Path) -> None:
    from store_backends import fresh_postgres_url, postgres_server_url

    server = postgres_server_url()
    with fresh_postgres_url(server) as url:
        env = server_env(
            MEMSKILL_API_KEY=KEY,
            MEMSKILL_EMBEDDER="hashing",
            MEMSKILL_DATABASE_URL=url,
            MEMSKILL_RATE_LIMIT="0",
        )
        settings = Settings(data_dir=tmp_path / "data", embedder="hashing", workers=0, database_url=url)
        scale_out(tmp_path, env, settings, users=50, per_user=10)


def test_sqlite_file_shared_by_two_api_processes_and_two_workers(tmp_path: Path) -> None:
    env = server_env(MEMSKILL_API_KEY=KEY, MEMSKILL_EMBEDDER="hashing", MEMSKILL_RATE_LIMIT="0")
    settings = Settings(data_dir=tmp_path / "data", embedder="hashing", workers=0)
    scale_out(tmp_path, env, settings, users=12, per_user=5)


def test_a_worker_stops_on_sigterm(tmp_path: Path) -> None:
    env = server_env(MEMSKILL_EMBEDDER="hashing")
    with running_worker(tmp_path / "data", env, concurrency=1) as log:
        assert "1 thread(s)" in log.read_text()
    assert "memskill worker: stopping" in log.read_text()
    assert os.path.exists(tmp_path / "data" / "memskill.db")

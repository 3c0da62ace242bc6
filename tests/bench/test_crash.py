"""kill -9 under load (DESIGN §6): nothing acknowledged is lost, every job runs exactly once in effect.

`run_crash` starts a real `memskill serve --workers 0` and a real `memskill worker`, sends conversations
from four client threads and kills either process (or both) with SIGKILL at random moments, restarting it
on the same port and store; then it checks the store. Here with 20 kills on SQLite (and 10 on PostgreSQL
when `MEMSKILL_TEST_DATABASE_URL` names a server), with a 2 s job lease so that a killed worker's jobs
are soon taken over. The checks themselves are tested too, on a store with a lost message and a job that
ran twice, so that a run reported clean means something. And the lease: read from `MEMSKILL_LEASE_MS`,
taken over once it has passed, but kept while the worker that holds it is alive, however slow its job
(the first job of a restarted worker loads jieba's dictionary for longer than a 2 s lease).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memskill import Memory, Settings
from memskill.bench.crash import CrashReport, format_report, run_crash
from memskill.bench.crash_checks import _verify
from memskill.bench.crash_load import Call
from memskill.bench.report import no_progress
from memskill.cli import main
from memskill.errors import InvalidRequest
from memskill.jobs import run_job
from memskill.models import Job, Scope


def assert_nothing_lost_nothing_twice(report: CrashReport) -> None:
    print("\n" + format_report(report))
    assert report.problems == [], "the crash run broke an invariant:\n" + "\n".join(report.problems[:40])
    assert report.server_kills > 0 and report.worker_kills > 0
    assert report.refused > 0, "no request was cut by a kill: the run did not test anything"
    assert report.acknowledged > 0 and report.messages_acknowledged > 0
    assert report.messages_stored == report.messages_acknowledged, "an acknowledged message was lost"
    assert report.duplicate_messages == 0
    assert report.jobs == report.jobs_completed >= report.acknowledged
    assert report.jobs_failed == report.jobs_running == 0
    assert report.duplicate_memories == report.skill_problems == report.replay_differences == 0


def test_twenty_kills_on_sqlite_lose_nothing_and_run_every_job_once(tmp_path: Path) -> None:
    report = run_crash(tmp_path / "data", kills=20, seed=20, progress=no_progress)
    assert report.backend == "sqlite"
    assert_nothing_lost_nothing_twice(report)


def test_ten_kills_on_postgres_lose_nothing_and_run_every_job_once(tmp_path: Path) -> None:
    from store_backends import fresh_postgres_url, postgres_server_url

    server = postgres_server_url()  # skips without MEMSKILL_TEST_DATABASE_URL (fails under CI)
    with fresh_postgres_url(server) as url:
        report = run_crash(tmp_path / "data", kills=10, seed=10, progress=no_progress, database_url=url)
    assert report.backend == "postgresql"
    assert_nothing_lost_nothing_twice(report)


def test_the_checks_catch_a_lost_message_and_a_job_run_twice(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", embedder="hashing", workers=0)
    stored = Call(
        "u1",
        "c1",
        (
            ("user", "帮我审一下billing的代码，主要看异常处理。"),
            ("assistant", "建议只捕获 ValueError。"),
            ("user", "以后评审请用表格列出问题。"),
            ("assistant", "好的，以后评审会用表格列出问题。"),
        ),
    )
    lost = Call("u1", "c1", (("user", "Keep it under 80 words, please."), ("assistant", "Done.")))
    with Memory(settings=settings, start_workers=False) as memory:
        task_id = memory.add_message(**{**stored.body(), "async_mode": False})["task_id"]
        job = memory.store.get_job(task_id)
        assert job is not None and job.status == "completed"
        memory.pipeline.run(job)  # its writes applied a second time, as by two workers
    report = CrashReport()
    _verify(report, settings, {stored: task_id, lost: "task_never_stored"}, [], tmp_path / "replay")
    assert report.messages_acknowledged == 6 and report.messages_stored == 4
    assert any(
        "acknowledged message lost" in problem and "80 words" in problem for problem in report.problems
    )
    assert any("task_never_stored" in problem for problem in report.problems)
    assert report.replay_differences > 0, report.problems
    assert any("评审请用表格列出问题" in problem for problem in report.problems)


def test_bench_crash_command_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out_path = tmp_path / "crash.json"
    args = ["bench", "crash", "--kills", "3", "--seed", "3", "--json", str(out_path)]
    with open(tmp_path / "out.txt", "w+") as out, open(tmp_path / "err.txt", "w+") as err:
        code = main([*args, "--data-dir", str(tmp_path / "data")], out, err)
    table = (tmp_path / "out.txt").read_text()
    assert code == 0, table + (tmp_path / "err.txt").read_text()
    assert "messages acknowledged" in table and "result" in table and "ok" in table
    raw = json.loads(out_path.read_text())
    assert raw["ok"] is True and raw["kills"] == 3 and raw["seed"] == 3
    assert raw["messages_stored"] == raw["messages_acknowledged"] > 0


def test_the_job_lease_comes_from_the_environment() -> None:
    assert Settings.from_env(environ={}).lease_ms == 120_000
    settings = Settings.from_env(environ={"MEMSKILL_LEASE_MS": "2500", "MEMSKILL_EMBEDDER": "hashing"})
    assert settings.lease_ms == 2500
    with pytest.raises(InvalidRequest, match="MEMSKILL_LEASE_MS"):
        Settings.from_env(environ={"MEMSKILL_LEASE_MS": "500"})


def test_a_job_is_taken_over_once_the_configured_lease_has_passed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", embedder="hashing", workers=0, lease_ms=1_000)
    with Memory(settings=settings, start_workers=False) as memory:
        assert memory.workers.lease_ms == 1_000
        memory.add_message(user_id="u1", conversation_id="c1", messages=[{"role": "user", "content": "hi"}])
        first = memory.store.claim_job("worker-that-dies", memory.workers.lease_ms)
        assert first is not None and first.attempts == 1
        time.sleep(1.1)
        second = memory.store.claim_job("worker-after-restart", memory.workers.lease_ms)
        assert second is not None and (second.id, second.attempts) == (first.id, 2)


class SlowPipeline:
    """The real pipeline after a pause, like the first job of a process that loads jieba's dictionary."""

    def __init__(self, pipeline: Any, pause_s: float) -> None:
        self.pipeline = pipeline
        self.pause_s = pause_s

    def run(self, job: Job, heartbeat: Any = None, worker: str | None = None) -> Any:
        time.sleep(self.pause_s)
        return self.pipeline.run(job, heartbeat, worker)


def test_a_slow_job_keeps_its_lease_while_its_worker_lives(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", embedder="hashing", workers=0, lease_ms=1_000)
    with Memory(settings=settings, start_workers=False) as memory:
        messages = [
            {"role": "user", "content": "帮我审一下billing的代码。"},
            {"role": "assistant", "content": "好的。"},
            {"role": "user", "content": "以后评审请用表格列出问题。"},
        ]
        memory.add_message(user_id="u1", conversation_id="c1", messages=messages)
        job = memory.store.claim_job("worker-a", 1_000)
        assert job is not None
        slow = SlowPipeline(memory.pipeline, 2.0)
        running = threading.Thread(
            target=run_job, args=(memory.store, slow, job, "worker-a", 1_000, memory.workers.leases)
        )
        running.start()
        time.sleep(1.3)  # past the lease it was claimed with
        taken = memory.store.claim_job("worker-b", 1_000)
        running.join()
        assert taken is None, "another worker took over a job whose worker is alive: it runs twice"
        finished = memory.store.get_job(job.id)
        assert finished is not None and (finished.status, finished.attempts) == ("completed", 1)
        preferences = memory.store.list_items(Scope("u1"), ["preference"])
        assert [(p.text, p.confidence) for p in preferences] == [
            ("以后评审请用表格列出问题", pytest.approx(0.9))
        ]

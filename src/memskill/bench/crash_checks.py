"""What `memskill bench crash` checks after the last kill: nothing acknowledged lost, every job done
once in effect, and a replay of every stored job on a fresh store giving the same memories and skills."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memskill.bench.crash_load import DRAIN_TIMEOUT_S, LEASE_MS, Call
from memskill.config import Settings
from memskill.models import Scope


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

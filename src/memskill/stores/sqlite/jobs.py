"""The SQLiteStore's messages and jobs: ingest, the job queue with its leases, message reads (a mixin)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from memskill.models import (
    Job,
    Message,
    Scope,
    Usage,
    now_ms,
)
from memskill.stores.base import IngestResult
from memskill.stores.rows import (
    JOB_COLUMNS,
    MESSAGE_COLUMNS,
    job_from_row,
    message_from_row,
)
from memskill.stores.sqlite.host import Host


class JobQueries(Host):
    """Messages and jobs; needs the host class's
    `_db()`, `transaction()`, `_index()`, `_unindex()` and `_touch()`."""

    # -- messages and jobs ------------------------------------------------------------------------

    def ingest(
        self,
        scope: Scope,
        conversation_id: str,
        messages: Sequence[Message],
        job: Job,
        payload: dict[str, Any],
        lease: tuple[str, int] | None = None,
    ) -> IngestResult:
        """Store new messages and their job in one transaction; a resent batch returns the first job.

        `lease` (owner, milliseconds) hands the new job straight to a caller that runs it inline.
        """
        db = self._db()
        created = now_ms()
        with self.transaction():
            existing = db.execute("SELECT id FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if existing is not None:
                stored = self.get_job(job.id)
                assert stored is not None
                return IngestResult(job=stored, new_message_ids=(), duplicate=True)
            new_ids: list[str] = []
            for message in messages:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO messages (id, user_id, conversation_id, agent_id, app_id, role, "
                    "content, chat_time, tool_calls, tool_call_id, job_id, create_time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        message.id,
                        scope.user_id,
                        conversation_id,
                        scope.agent_id,
                        scope.app_id,
                        message.role,
                        message.content,
                        message.chat_time,
                        json.dumps(
                            [[c.id, c.name, c.arguments] for c in message.tool_calls], ensure_ascii=False
                        ),
                        message.tool_call_id,
                        job.id,
                        created,
                    ),
                )
                if cursor.rowcount:
                    new_ids.append(message.id)
                    if message.content.strip():
                        self._index("messages", int(cursor.lastrowid or 0), scope.user_id, message.content)
            payload = {**payload, "message_ids": [m.id for m in messages], "new_message_ids": new_ids}
            status = job.status if new_ids or job.kind != "ingest" else "completed"
            owner, lease_until = (
                (lease[0], created + lease[1]) if lease and status == "running" else (None, 0)
            )
            db.execute(
                "INSERT INTO jobs (id, user_id, conversation_id, agent_id, app_id, kind, status, payload, "
                "attempts, lease_owner, lease_until, create_time, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    scope.user_id,
                    conversation_id,
                    scope.agent_id,
                    scope.app_id,
                    job.kind,
                    status,
                    json.dumps(payload, ensure_ascii=False),
                    1 if owner else 0,
                    owner,
                    lease_until,
                    created,
                    created,
                ),
            )
        stored = self.get_job(job.id)
        assert stored is not None
        return IngestResult(job=stored, new_message_ids=tuple(new_ids), duplicate=False)

    def messages_by_ids(self, ids: Sequence[str]) -> list[Message]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db().execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks}) ORDER BY seq", list(ids)
        )
        return [message_from_row(row) for row in rows]

    def recent_messages(
        self,
        user_id: str,
        conversation_id: str,
        limit: int,
        before_ids: Sequence[str] = (),
        app_id: str | None = None,
    ) -> list[Message]:
        """The last `limit` messages of a conversation, oldest first, excluding `before_ids` and later.

        With `app_id`, only messages sent for that app."""
        db = self._db()
        bound = None
        if before_ids:
            marks = ",".join("?" * len(before_ids))
            bound = db.execute(
                f"SELECT MIN(seq) FROM messages WHERE id IN ({marks})", list(before_ids)
            ).fetchone()[0]
        rows = db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = ? AND conversation_id = ? "
            "AND seq < ? AND (? IS NULL OR app_id = ?) ORDER BY seq DESC LIMIT ?",
            (user_id, conversation_id, bound if bound is not None else 1 << 62, app_id, app_id, limit),
        ).fetchall()
        return [message_from_row(row) for row in reversed(rows)]

    def conversation_ids(self, user_id: str) -> list[str]:
        rows = self._db().execute(
            "SELECT conversation_id FROM messages WHERE user_id = ? GROUP BY conversation_id ORDER BY "
            "MIN(seq)",
            (user_id,),
        )
        return [row[0] for row in rows]

    def get_job(self, job_id: str) -> Job | None:
        row = self._db().execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def job_payload(self, job_id: str) -> dict[str, Any]:
        row = (
            self._db()
            .execute("SELECT payload, agent_id, app_id FROM jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        if row is None:
            return {}
        return {**json.loads(row[0]), "agent_id": row[1], "app_id": row[2]}

    def claim_job(self, worker: str, lease_ms: int) -> Job | None:
        """Take the oldest runnable job (new, or whose lease expired) and lease it to `worker`."""
        db = self._db()
        moment = now_ms()
        with self.transaction():
            # Jobs of one user run one at a time and in order, so each sees the previous one's results.
            row = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs j WHERE status = 'running' AND lease_until < ? "
                "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.user_id = j.user_id AND o.status = 'running' "
                "AND o.id != j.id AND (o.lease_until >= ? OR o.create_time < j.create_time "
                "OR (o.create_time = j.create_time AND o.rowid < j.rowid))) "
                "ORDER BY create_time, rowid LIMIT 1",
                (moment, moment),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, update_time = ? "
                "WHERE id = ?",
                (worker, moment + lease_ms, moment, row[0]),
            )
        return replace(job_from_row(row), attempts=row[5] + 1)

    def renew_lease(self, job_id: str, worker: str, lease_ms: int) -> bool:
        """Extend `worker`'s lease on a running job; False if the job is no longer leased to it."""
        with self.transaction():
            cursor = self._db().execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
                (now_ms() + lease_ms, job_id, worker),
            )
        return cursor.rowcount == 1

    def finish_job(
        self,
        job_id: str,
        status: str,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        usage: Usage | None = None,
        worker: str | None = None,
    ) -> bool:
        """End a job; with `worker`, only while that worker still holds it (False: someone else does)."""
        used = usage or Usage()
        with self.transaction():
            cursor = self._db().execute(
                "UPDATE jobs SET status = ?, error = ?, result = ?, lease_owner = NULL, lease_until = 0, "
                "update_time = ?, prompt_tokens = prompt_tokens + ?, "
                "completion_tokens = completion_tokens + ?, llm_calls = llm_calls + ? WHERE id = ? "
                "AND (? IS NULL OR (status = 'running' AND lease_owner = ?))",
                (
                    status,
                    error,
                    json.dumps(result or {}, ensure_ascii=False),
                    now_ms(),
                    used.prompt_tokens,
                    used.completion_tokens,
                    used.calls,
                    job_id,
                    worker,
                    worker,
                ),
            )
        return cursor.rowcount == 1

    def token_usage(self, user_id: str | None = None) -> Usage:
        """Tokens used by the model calls of one user's jobs (of all jobs without `user_id`)."""
        row = (
            self._db()
            .execute(
                "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
                "COALESCE(SUM(llm_calls), 0) FROM jobs WHERE (? IS NULL OR user_id = ?)",
                (user_id, user_id),
            )
            .fetchone()
        )
        return Usage(int(row[0]), int(row[1]), int(row[2]))

    def release_job(self, job_id: str, error: str, retry_in_ms: int, worker: str | None = None) -> bool:
        """Give a job back after a failed attempt, to be retried after `retry_in_ms` (with `worker`: only
        while that worker still holds it)."""
        with self.transaction():
            cursor = self._db().execute(
                "UPDATE jobs SET error = ?, lease_owner = NULL, lease_until = ?, update_time = ? "
                "WHERE id = ? AND (? IS NULL OR (status = 'running' AND lease_owner = ?))",
                (error, now_ms() + retry_in_ms, now_ms(), job_id, worker, worker),
            )
        return cursor.rowcount == 1

    def count_jobs(self, status: str) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0])

"""The PostgresStore's messages and jobs: ingest, the job queue with its leases, message reads (a mixin)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from memskill.models import (
    Job,
    Message,
    Scope,
    Usage,
    now_ms,
)
from memskill.stores.base import IngestResult
from memskill.stores.postgres.host import Host
from memskill.stores.postgres.search import (
    sql_limit,
)
from memskill.stores.postgres.text import tsvector
from memskill.stores.rows import (
    JOB_COLUMNS,
    MESSAGE_COLUMNS,
    job_from_row,
    json_text,
    message_from_row,
    owner_token,
)

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

T = TypeVar("T")


class JobQueries(Host):
    """Messages and jobs; needs the host class's
    `_read`, `_rows`, `_row`, `_write` and `_touch`."""

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
        owner = owner_token(scope.user_id)
        indexed = [tsvector(m.content, owner) if m.content.strip() else None for m in messages]
        created = now_ms()

        def work(db: Db) -> IngestResult | None:
            claimed = db.execute(
                "INSERT INTO jobs (id, user_id, conversation_id, agent_id, app_id, kind, status, payload, "
                "create_time, update_time) VALUES (%s, %s, %s, %s, %s, %s, %s, '{}', %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                (
                    job.id,
                    scope.user_id,
                    conversation_id,
                    scope.agent_id,
                    scope.app_id,
                    job.kind,
                    job.status,
                    created,
                    created,
                ),
            ).fetchone()
            if claimed is None:
                return None
            new_ids: list[str] = []
            if messages:
                cursor = db.cursor()
                cursor.executemany(  # one round trip for the whole call
                    "INSERT INTO messages (id, user_id, conversation_id, agent_id, app_id, role, content, "
                    "chat_time, tool_calls, tool_call_id, job_id, create_time, tokens) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id",
                    [
                        (
                            message.id,
                            scope.user_id,
                            conversation_id,
                            scope.agent_id,
                            scope.app_id,
                            message.role,
                            message.content,
                            message.chat_time,
                            json_text([[c.id, c.name, c.arguments] for c in message.tool_calls]),
                            message.tool_call_id,
                            job.id,
                            created,
                            tokens,
                        )
                        for message, tokens in zip(messages, indexed)
                    ],
                    returning=True,
                )
                while True:
                    new_ids += [row[0] for row in cursor.fetchall()]
                    if not cursor.nextset():
                        break
            stored = {**payload, "message_ids": [m.id for m in messages], "new_message_ids": new_ids}
            status = job.status if new_ids or job.kind != "ingest" else "completed"
            holder, until = (lease[0], created + lease[1]) if lease and status == "running" else (None, 0)
            row = db.execute(
                "UPDATE jobs SET status = %s, payload = %s, attempts = %s, lease_owner = %s, "
                f"lease_until = %s WHERE id = %s RETURNING {JOB_COLUMNS}",
                (status, json_text(stored), 1 if holder else 0, holder, until, job.id),
            ).fetchone()
            assert row is not None
            return IngestResult(job=job_from_row(row), new_message_ids=tuple(new_ids), duplicate=False)

        result = self._write(work)
        if result is not None:
            return result
        stored_job = self.get_job(job.id)
        assert stored_job is not None
        return IngestResult(job=stored_job, new_message_ids=(), duplicate=True)

    def messages_by_ids(self, ids: Sequence[str]) -> list[Message]:
        if not ids:
            return []
        rows = self._rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ANY(%s::text[]) ORDER BY seq", (list(ids),)
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
        rows = self._rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = %(user)s "
            "AND conversation_id = %(conversation)s AND seq < COALESCE("
            "(SELECT MIN(seq) FROM messages WHERE id = ANY(%(before)s::text[])), 9223372036854775807) "
            "AND (%(app)s::text IS NULL OR app_id = %(app)s) ORDER BY seq DESC LIMIT %(limit)s",
            {
                "user": user_id,
                "conversation": conversation_id,
                "before": list(before_ids),
                "app": app_id,
                "limit": sql_limit(limit),
            },
        )
        return [message_from_row(row) for row in reversed(rows)]

    def conversation_ids(self, user_id: str) -> list[str]:
        rows = self._rows(
            "SELECT conversation_id FROM messages WHERE user_id = %s GROUP BY conversation_id "
            "ORDER BY MIN(seq)",
            (user_id,),
        )
        return [row[0] for row in rows]

    def get_job(self, job_id: str) -> Job | None:
        row = self._row(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,))
        return None if row is None else job_from_row(row)

    def job_payload(self, job_id: str) -> dict[str, Any]:
        row = self._row("SELECT payload, agent_id, app_id FROM jobs WHERE id = %s", (job_id,))
        if row is None:
            return {}
        return {**json.loads(row[0]), "agent_id": row[1], "app_id": row[2]}

    def claim_job(self, worker: str, lease_ms: int) -> Job | None:
        """Take the oldest runnable job (new, or whose lease expired) and lease it to `worker`."""
        moment = now_ms()

        def work(db: Db) -> Job | None:
            # Jobs of one user run one at a time and in order, so each sees the previous one's results;
            # rows another claimer holds are skipped, not waited for.
            row = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs j WHERE j.status = 'running' AND j.lease_until < %(now)s "
                "AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.user_id = j.user_id AND o.status = 'running' "
                "AND o.id <> j.id AND (o.lease_until >= %(now)s OR (o.create_time, o.seq) < "
                "(j.create_time, j.seq))) ORDER BY j.create_time, j.seq LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
                {"now": moment},
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET lease_owner = %s, lease_until = %s, attempts = attempts + 1, "
                "update_time = %s WHERE id = %s",
                (worker, moment + lease_ms, moment, row[0]),
            )
            return replace(job_from_row(row), attempts=row[5] + 1)

        return self._write(work)

    def renew_lease(self, job_id: str, worker: str, lease_ms: int) -> bool:
        """Extend `worker`'s lease on a running job; False if the job is no longer leased to it."""
        return self._write(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET lease_until = %s WHERE id = %s AND status = 'running' "
                    "AND lease_owner = %s",
                    (now_ms() + lease_ms, job_id, worker),
                ).rowcount
                == 1
            )
        )

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
        return self._write(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET status = %s, error = %s, result = %s, lease_owner = NULL, "
                    "lease_until = 0, update_time = %s, prompt_tokens = prompt_tokens + %s, "
                    "completion_tokens = completion_tokens + %s, llm_calls = llm_calls + %s WHERE id = %s "
                    "AND (%s::text IS NULL OR (status = 'running' AND lease_owner = %s))",
                    (
                        status,
                        error,
                        json_text(result or {}),
                        now_ms(),
                        used.prompt_tokens,
                        used.completion_tokens,
                        used.calls,
                        job_id,
                        worker,
                        worker,
                    ),
                ).rowcount
                == 1
            )
        )

    def token_usage(self, user_id: str | None = None) -> Usage:
        """Tokens used by the model calls of one user's jobs (of all jobs without `user_id`)."""
        row = self._row(
            "SELECT COALESCE(SUM(prompt_tokens), 0)::bigint, COALESCE(SUM(completion_tokens), 0)::bigint, "
            "COALESCE(SUM(llm_calls), 0)::bigint FROM jobs "
            "WHERE (%(user)s::text IS NULL OR user_id = %(user)s)",
            {"user": user_id},
        )
        assert row is not None
        return Usage(int(row[0]), int(row[1]), int(row[2]))

    def release_job(self, job_id: str, error: str, retry_in_ms: int, worker: str | None = None) -> bool:
        """Give a job back after a failed attempt, to be retried after `retry_in_ms` (with `worker`: only
        while that worker still holds it)."""
        return self._write(
            lambda db: (
                db.execute(
                    "UPDATE jobs SET error = %s, lease_owner = NULL, lease_until = %s, update_time = %s "
                    "WHERE id = %s AND (%s::text IS NULL OR (status = 'running' AND lease_owner = %s))",
                    (error, now_ms() + retry_in_ms, now_ms(), job_id, worker, worker),
                ).rowcount
                == 1
            )
        )

    def count_jobs(self, status: str) -> int:
        row = self._row("SELECT COUNT(*) FROM jobs WHERE status = %s", (status,))
        return int(row[0]) if row else 0

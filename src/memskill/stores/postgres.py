"""The scale-out store: PostgreSQL with pgvector, shared by several API and worker processes.

`PostgresStore(url)` behaves like `SQLiteStore` (the contract tests run against both); what differs is
how it gets there. Searches are in `pg_search.py`, operator queries in `postgres_admin.py`, the schema
in `pg_migrations.py`.

- **Connections and transactions.** A pool of at most `pool_size` connections (`pg_pool.py`). Reads
  outside a transaction borrow a connection for one call and run in autocommit. `transaction()` pins
  one connection to the calling thread until the outermost block ends; nested calls join it, and every
  store call the thread makes meanwhile uses it (so it reads its own writes). A write method called
  outside a caller's transaction runs in one of its own, retried on a deadlock, a serialization failure
  or a connection found dead; a read is retried once on a new connection when its pooled one died (a
  restarted server). A caller's own `with transaction():` block cannot be re-run by the store: such a
  failure there propagates (the worker then retries the job). Per-user revisions (`revisions`, as in
  SQLite, for any process-local cache; this store keeps none) are bumped once per transaction, just
  before COMMIT and in user order, so concurrent writers never wait on them in opposite orders.
- **Jobs.** `claim_job` picks the oldest runnable job with `FOR UPDATE SKIP LOCKED`: a user's jobs run
  one at a time and in stored order (`create_time`, then a `seq` column for jobs stored in the same
  millisecond, which makes the order total, so two claimers can never both see a "first" job of one
  user); an expired lease is taken over.
- **Ingest.** The job row is inserted first, `ON CONFLICT DO NOTHING`: a resent call, even one sent to
  another process at the same moment, waits on that row and then reports itself a duplicate. Messages
  are inserted `ON CONFLICT DO NOTHING` too.
- **Text.** PostgreSQL text cannot hold NUL characters (SQLite's can): storing one raises
  `InvalidRequest`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from memskill.errors import InternalError, InvalidRequest
from memskill.models import (
    Job,
    MemoryItem,
    Message,
    Scope,
    Skill,
    SkillEvent,
    SkillVersion,
    Usage,
    now_ms,
    search_text,
)
from memskill.stores.base import ClusterRow, IngestResult, TaskRecordRow
from memskill.stores.pg_dump import DumpQueries
from memskill.stores.pg_migrations import apply_migrations
from memskill.stores.pg_pool import ConnectionPool, connect, load_driver
from memskill.stores.pg_search import EXACT_SEARCH_BELOW, SearchQueries, as_vector, scope_params, sql_limit
from memskill.stores.pg_text import tsvector
from memskill.stores.pg_vectors import COMMIT_REVISIONS, LOG_PRUNE_EVERY, Key, prune_vector_log
from memskill.stores.postgres_admin import AdminQueries
from memskill.stores.rows import (
    ITEM_COLUMNS,
    JOB_COLUMNS,
    MESSAGE_COLUMNS,
    SKILL_COLUMNS,
    VERSION_COLUMNS,
    item_from_row,
    job_from_row,
    lifecycle_values,
    message_from_row,
    owner_token,
    skill_from_row,
    version_from_row,
    version_values,
)
from memskill.stores.vector_index import VectorIndex
from memskill.text import tokens

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 5
"""Attempts of a store-owned write transaction that hits a deadlock or serialization failure."""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Disconnected(InternalError):
    """The connection died under a statement (before any COMMIT was sent)."""


class _ThreadState(threading.local):
    connection: Db | None = None
    depth = 0
    touched: set[str] | None = None


class PostgresStore(SearchQueries, AdminQueries, DumpQueries):
    """PostgreSQL + pgvector implementation of the store protocol (`memskill.stores.base.Store`)."""

    def __init__(self, url: str, pool_size: int = 8, exact_search_below: int = EXACT_SEARCH_BELOW) -> None:
        load_driver()
        from pgvector.psycopg import register_vector

        self.url = url
        self.exact_search_below = exact_search_below
        """Users with fewer candidate rows than this are searched exactly, larger ones through HNSW."""
        first = connect(url)
        try:
            self.applied_migrations = apply_migrations(first)
            row = first.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        finally:
            first.close()
        version = tuple(int(part) for part in str(row[0] if row else "0").split(".")[:2] if part.isdigit())
        self.iterative_scan = version >= (0, 8)
        """Whether pgvector can filter after an HNSW scan without losing rows (0.8+); else always exact."""
        self._pool = ConnectionPool(url, pool_size, register_vector)
        self._local = _ThreadState()
        self._index_lock = threading.Lock()
        self._index_attempts: dict[tuple[str, int], threading.Thread] = {}
        self._held: OrderedDict[Key, VectorIndex] = OrderedDict()
        self._too_large: dict[Key, int] = {}
        self._held_locks: dict[Key, threading.Lock] = {}
        self._held_lock = threading.Lock()

    # -- connections and transactions -------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Db]:
        """The thread's transaction connection, else a pooled one for the duration of the block."""
        import psycopg

        current = self._local.connection
        borrowed = None
        if current is None:
            current = borrowed = self._pool.acquire()
        try:
            yield current
        except psycopg.DataError as error:
            if "NUL" not in str(error):
                raise
            raise InvalidRequest(
                "PostgreSQL cannot store text that contains a NUL character (\\x00); remove it and retry."
            ) from None
        except psycopg.OperationalError as error:
            if not current.broken:
                raise
            raise _Disconnected(
                f"lost the connection to PostgreSQL ({error}); check that the server runs."
            ) from None
        finally:
            if borrowed is not None:
                self._pool.release(borrowed)

    def _read(self, fetch: Callable[[Db], T]) -> T:
        """`fetch` on a connection; outside a transaction, again on another one while pooled connections
        turn out dead (a restarted server leaves all of them dead)."""
        for attempt in range(self._pool.size + 1):
            try:
                with self._connection() as db:
                    return fetch(db)
            except _Disconnected:
                if self._local.depth or attempt == self._pool.size:
                    raise
        raise AssertionError("unreachable")

    def _begin(self) -> Db:
        """A pooled connection in a new transaction, skipping pooled connections that turn out dead."""
        import psycopg

        for attempt in range(self._pool.size + 1):
            db = self._pool.acquire()
            try:
                db.execute("BEGIN")
                return db
            except psycopg.OperationalError:
                self._pool.release(db)  # a dead one is dropped
                if not db.broken or attempt == self._pool.size:
                    raise
            except BaseException:
                self._pool.release(db)
                raise
        raise AssertionError("unreachable")

    def _rows(self, query: str, params: Any = (), binary: bool = False) -> list[tuple[Any, ...]]:
        return self._read(lambda db: db.execute(query, params, binary=binary).fetchall())

    def _row(self, query: str, params: Any = (), binary: bool = False) -> tuple[Any, ...] | None:
        return self._read(lambda db: db.execute(query, params, binary=binary).fetchone())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction on one connection; nested calls join the outer one."""
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        db = self._begin()
        local.connection, local.depth, local.touched = db, 1, set()
        try:
            yield
            if local.touched:
                bumped = db.execute(COMMIT_REVISIONS, (sorted(local.touched),)).fetchall()
                for user_id, revision in bumped:
                    if revision % LOG_PRUNE_EVERY == 0:
                        prune_vector_log(db, user_id, revision)
            db.execute("COMMIT")
        except BaseException:
            if not db.closed and not db.broken:
                try:
                    db.execute("ROLLBACK")
                except Exception:
                    db.close()
            raise
        finally:
            local.connection, local.depth, local.touched = None, 0, None
            self._pool.release(db)

    def _write(self, work: Callable[[Db], T]) -> T:
        """`work` inside the thread's transaction, or in its own, retried on a deadlock, a serialization
        failure or a connection found dead before COMMIT (so `work` must be safe to run again)."""
        from psycopg import errors

        if self._local.depth:
            with self._connection() as db:
                return work(db)
        for attempt in range(RETRIES):
            try:
                with self.transaction(), self._connection() as db:
                    return work(db)
            except (errors.DeadlockDetected, errors.SerializationFailure, _Disconnected) as error:
                if attempt == RETRIES - 1:
                    raise
                log.info("retrying a PostgreSQL transaction: %s", type(error).__name__)
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)
        raise AssertionError("unreachable")

    def _touch(self, user_id: str) -> None:
        """Note that a user's data changed; the revision is bumped when the transaction commits."""
        assert self._local.touched is not None, "only inside a transaction"
        self._local.touched.add(user_id)

    def _revision(self, user_id: str) -> int:
        row = self._row("SELECT revision FROM revisions WHERE user_id = %s", (user_id,))
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        """Close the pool (call once the threads using the store have stopped)."""
        with self._index_lock:
            builds = list(self._index_attempts.values())
        for build in builds:
            build.join(timeout=10)
        self._pool.close()

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
                            _json([[c.id, c.name, c.arguments] for c in message.tool_calls]),
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
                (status, _json(stored), 1 if holder else 0, holder, until, job.id),
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
                        _json(result or {}),
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

    # -- memory items -----------------------------------------------------------------------------

    def insert_item(self, item: MemoryItem, vector: np.ndarray | None, embedder_id: str | None) -> None:
        indexed = tsvector(item.search_text, owner_token(item.user_id))

        def work(db: Db) -> None:
            db.execute(
                "INSERT INTO items (id, user_id, kind, key, text, conversation_id, agent_id, app_id, status, "
                "confidence, tags, sources, payload, vector, embedder, create_time, update_time, tokens, "
                "indexed) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector, %s)",
                (
                    item.id,
                    item.user_id,
                    item.kind,
                    item.key,
                    item.text,
                    item.conversation_id,
                    item.agent_id,
                    item.app_id,
                    item.status,
                    item.confidence,
                    _json(list(item.tags)),
                    json.dumps(list(item.sources)),
                    _json(item.payload),
                    as_vector(vector),
                    embedder_id,
                    item.create_time,
                    item.update_time,
                    indexed,
                    " ".join(tokens(item.search_text)),
                ),
            )
            self._touch(item.user_id)

        self._write(work)

    def update_item(
        self, item: MemoryItem, vector: np.ndarray | None = None, embedder_id: str | None = None
    ) -> None:
        """Rewrite an item's mutable fields (text, key, status, confidence, tags, sources, payload)."""

        def work(db: Db) -> None:
            row = db.execute(
                "SELECT kind, key, text, payload, user_id FROM items WHERE id = %s FOR UPDATE", (item.id,)
            ).fetchone()
            if row is None:
                return
            sets = (
                "key = %s, text = %s, status = %s, confidence = %s, tags = %s, sources = %s, payload = %s, "
                "update_time = %s"
            )
            params: list[Any] = [
                item.key,
                item.text,
                item.status,
                item.confidence,
                _json(list(item.tags)),
                json.dumps(list(item.sources)),
                _json(item.payload),
                item.update_time,
            ]
            if vector is not None:
                sets += ", vector = %s, embedder = %s"
                params += [as_vector(vector), embedder_id]
            if search_text(row[0], row[1], row[2], json.loads(row[3] or "{}")) != item.search_text:
                sets += ", tokens = %s::tsvector, indexed = %s"
                params += [
                    tsvector(item.search_text, owner_token(row[4])),
                    " ".join(tokens(item.search_text)),
                ]
            db.execute(f"UPDATE items SET {sets} WHERE id = %s", [*params, item.id])
            self._touch(item.user_id)

        self._write(work)

    def get_item(self, item_id: str) -> MemoryItem | None:
        row = self._row(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = %s", (item_id,))
        return None if row is None else item_from_row(row)

    def get_items(self, item_ids: Sequence[str]) -> list[MemoryItem]:
        if not item_ids:
            return []
        rows = self._rows(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ANY(%s::text[])", (list(item_ids),))
        by_id = {row[0]: item_from_row(row) for row in rows}
        return [by_id[i] for i in item_ids if i in by_id]

    def list_items(
        self,
        scope: Scope,
        kinds: Sequence[str],
        statuses: Sequence[str] = ("activated",),
        cluster_ids: Sequence[str] | None = None,
    ) -> list[MemoryItem]:
        """A user's items of the given kinds and statuses, newest first (with `cluster_ids`: only those
        linked to one of these clusters)."""
        if cluster_ids is not None and not cluster_ids:
            return []
        clusters = "" if cluster_ids is None else "AND payload::jsonb ->> 'cluster_id' = ANY(%(clusters)s) "
        rows = self._rows(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE user_id = %(user)s AND kind = ANY(%(kinds)s::text[]) "
            f"AND status = ANY(%(statuses)s::text[]) {clusters}"
            "AND (%(agent)s::text IS NULL OR agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR app_id = %(app)s) ORDER BY seq DESC",
            {
                **scope_params(scope),
                "kinds": list(kinds),
                "statuses": list(statuses),
                "clusters": None if cluster_ids is None else list(cluster_ids),
            },
        )
        return [item_from_row(row) for row in rows]

    def delete_items(self, item_ids: Sequence[str]) -> int:
        if not item_ids:
            return 0

        def work(db: Db) -> int:
            rows = db.execute(
                "DELETE FROM items WHERE id = ANY(%s::text[]) RETURNING user_id", (sorted(set(item_ids)),)
            ).fetchall()
            for row in rows:
                self._touch(row[0])
            return len(rows)

        return self._write(work)

    def delete_user(self, user_id: str) -> int:
        """Delete everything stored for a user; returns how many memory items went."""

        def work(db: Db) -> int:
            row = db.execute("SELECT COUNT(*) FROM items WHERE user_id = %s", (user_id,)).fetchone()
            for table in ("skill_versions", "skill_events"):
                db.execute(
                    f"DELETE FROM {table} WHERE skill_id IN (SELECT id FROM skills WHERE user_id = %s)",
                    (user_id,),
                )
            for table in ("items", "skills", "clusters", "task_records", "messages", "jobs"):
                db.execute(f"DELETE FROM {table} WHERE user_id = %s", (user_id,))
            self._touch(user_id)
            return int(row[0]) if row else 0

        return self._write(work)

    # -- clusters and task records ----------------------------------------------------------------

    def list_clusters(self, scope: Scope) -> list[ClusterRow]:
        rows = self._rows(
            "SELECT id, user_id, agent_id, app_id, title, centroid, size, skill_id, create_time, update_time "
            "FROM clusters WHERE user_id = %(user)s AND (%(agent)s::text IS NULL OR agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR app_id = %(app)s) ORDER BY create_time, seq",
            scope_params(scope),
            binary=True,
        )
        return [
            ClusterRow(
                id=r[0],
                user_id=r[1],
                agent_id=r[2],
                app_id=r[3],
                title=r[4],
                centroid=r[5],
                size=r[6],
                skill_id=r[7],
                create_time=r[8],
                update_time=r[9],
            )
            for r in rows
        ]

    def save_cluster(self, cluster: ClusterRow) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO clusters (id, user_id, agent_id, app_id, title, centroid, size, skill_id, "
                "create_time, update_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, centroid = excluded.centroid, "
                "size = excluded.size, skill_id = excluded.skill_id, update_time = excluded.update_time",
                (
                    cluster.id,
                    cluster.user_id,
                    cluster.agent_id,
                    cluster.app_id,
                    cluster.title,
                    as_vector(cluster.centroid),
                    cluster.size,
                    cluster.skill_id,
                    cluster.create_time,
                    cluster.update_time,
                ),
            )
        )

    def add_task_record(self, row: TaskRecordRow) -> None:
        """Store a task record; one stored again replaces the first and counts as stored last."""
        self._write(
            lambda db: db.execute(
                "INSERT INTO task_records (id, user_id, cluster_id, conversation_id, record, create_time) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
                "cluster_id = excluded.cluster_id, conversation_id = excluded.conversation_id, "
                "record = excluded.record, create_time = excluded.create_time, seq = DEFAULT",
                (
                    row.id,
                    row.user_id,
                    row.cluster_id,
                    row.conversation_id,
                    _json(row.record),
                    row.create_time,
                ),
            )
        )

    def get_task_record(self, record_id: str) -> TaskRecordRow | None:
        row = self._row(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE id = %s",
            (record_id,),
        )
        return None if row is None else _record(row)

    def latest_task_record(self, user_id: str, conversation_id: str) -> TaskRecordRow | None:
        row = self._row(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE user_id = %s AND conversation_id = %s ORDER BY create_time DESC, seq DESC LIMIT 1",
            (user_id, conversation_id),
        )
        return None if row is None else _record(row)

    def task_records(self, cluster_id: str) -> list[TaskRecordRow]:
        rows = self._rows(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE cluster_id = %s ORDER BY create_time, seq",
            (cluster_id,),
        )
        return [_record(row) for row in rows]

    # -- skills -----------------------------------------------------------------------------------

    def save_skill(
        self, skill: Skill, search_text: str, vector: np.ndarray | None, embedder_id: str | None
    ) -> None:
        """Insert or update a skill row and append its current version (versions are never rewritten)."""
        version = skill.current
        tokens = tsvector(search_text, owner_token(skill.user_id))

        def work(db: Db) -> None:
            db.execute(
                "INSERT INTO skills (id, user_id, cluster_id, agent_id, app_id, create_time, status, "
                "skill_type, version, confidence, tags, conversation_ids, search_text, vector, embedder, "
                "update_time, tokens, state, live_version, helpful, unhelpful) VALUES (%s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
                "skill_type = excluded.skill_type, version = excluded.version, "
                "confidence = excluded.confidence, tags = excluded.tags, "
                "conversation_ids = excluded.conversation_ids, search_text = excluded.search_text, "
                "vector = excluded.vector, embedder = excluded.embedder, update_time = excluded.update_time, "
                "tokens = excluded.tokens, state = excluded.state, live_version = excluded.live_version, "
                "helpful = excluded.helpful, unhelpful = excluded.unhelpful",
                (
                    skill.id,
                    skill.user_id,
                    skill.cluster_id,
                    skill.agent_id,
                    skill.app_id,
                    skill.create_time,
                    skill.status,
                    skill.skill_type,
                    version.version,
                    skill.confidence,
                    _json(list(skill.tags)),
                    json.dumps(list(skill.conversation_ids)),
                    search_text,
                    as_vector(vector),
                    embedder_id,
                    skill.update_time,
                    tokens,
                    skill.state,
                    skill.live_version,
                    skill.helpful,
                    skill.unhelpful,
                ),
            )
            db.execute(
                "INSERT INTO skill_versions (skill_id, version, name, description, items, markdown, note, "
                "create_time, author, held_out) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (skill_id, version) DO NOTHING",
                version_values(version),
            )
            self._touch(skill.user_id)

        self._write(work)

    def set_skill_state(self, skill: Skill) -> None:
        """Write a skill's state, status, served version and feedback counts (nothing else changes)."""

        def work(db: Db) -> None:
            db.execute(
                "UPDATE skills SET state = %s, status = %s, live_version = %s, helpful = %s, unhelpful = %s, "
                "update_time = %s WHERE id = %s",
                (*lifecycle_values(skill), skill.id),
            )
            self._touch(skill.user_id)

        self._write(work)

    def add_skill_event(self, event: SkillEvent) -> None:
        def work(db: Db) -> None:
            db.execute(
                "INSERT INTO skill_events (skill_id, time, actor, action, version, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (event.skill_id, event.time, event.actor, event.action, event.version, event.detail),
            )

        self._write(work)

    def skill_events(self, skill_id: str) -> list[SkillEvent]:
        rows = self._rows(
            "SELECT skill_id, time, actor, action, version, detail FROM skill_events WHERE skill_id = %s "
            "ORDER BY seq",
            (skill_id,),
        )
        return [SkillEvent(*row) for row in rows]

    def skill_versions(self, skill_id: str) -> list[SkillVersion]:
        rows = self._rows(
            f"SELECT {VERSION_COLUMNS} FROM skill_versions WHERE skill_id = %s ORDER BY version", (skill_id,)
        )
        return [version_from_row(row) for row in rows]

    def get_skill(self, skill_id: str) -> Skill | None:
        row = self._row(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = %s",
            (skill_id,),
        )
        return None if row is None else skill_from_row(row)

    def get_skills(self, skill_ids: Sequence[str]) -> dict[str, Skill]:
        if not skill_ids:
            return {}
        rows = self._rows(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = ANY(%s::text[])",
            (list(skill_ids),),
        )
        return {skill.id: skill for skill in map(skill_from_row, rows)}

    def list_skills(self, scope: Scope, statuses: Sequence[str] = ("activated",)) -> list[Skill]:
        rows = self._rows(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.user_id = %(user)s "
            "AND s.status = ANY(%(statuses)s::text[]) "
            "AND (%(agent)s::text IS NULL OR s.agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR s.app_id = %(app)s) ORDER BY s.seq",
            {**scope_params(scope), "statuses": list(statuses)},
        )
        return [skill_from_row(row) for row in rows]

    def delete_skill(self, skill_id: str) -> bool:
        def work(db: Db) -> bool:
            row = db.execute(
                "DELETE FROM skills WHERE id = %s RETURNING user_id, cluster_id", (skill_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM skill_versions WHERE skill_id = %s", (skill_id,))
            db.execute("DELETE FROM skill_events WHERE skill_id = %s", (skill_id,))
            db.execute("UPDATE clusters SET skill_id = NULL WHERE id = %s", (row[1],))
            self._touch(row[0])
            return True

        return self._write(work)

    def user_ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT DISTINCT user_id FROM messages ORDER BY user_id")]


def _record(row: Sequence[Any]) -> TaskRecordRow:
    return TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])

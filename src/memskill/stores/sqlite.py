"""The embedded store: one SQLite file in WAL mode.

- Raw messages, jobs, memories (facts, preferences, tool lessons), task clusters, task records, skills
  and their immutable versions live in plain tables (see `migrations.py`).
- Keyword search: FTS5 tables over jieba-segmented text, one per searchable table. Each row also holds an
  `owner` token derived from the user id, so a query matches only that user's rows inside the index.
- Vector search: float32 BLOBs, loaded per user into a numpy matrix that is cached until the user's
  revision changes, then searched exactly (`matrix @ query`). The searches are in `sqlite_search.py`,
  operator queries in `sqlite_admin.py`.

Every thread gets its own connection; writes go through `transaction()` (BEGIN IMMEDIATE, a process-wide
lock, busy timeout), so a server thread and worker threads, or several processes, share one file safely.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

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
from memskill.stores.migrations import apply_migrations
from memskill.stores.rows import (
    ITEM_COLUMNS,
    JOB_COLUMNS,
    MESSAGE_COLUMNS,
    SKILL_COLUMNS,
    VERSION_COLUMNS,
    blob,
    item_from_row,
    job_from_row,
    lifecycle_values,
    message_from_row,
    owner_token,
    skill_from_row,
    version_from_row,
    version_values,
)
from memskill.stores.sqlite_admin import AdminQueries
from memskill.stores.sqlite_dump import DumpQueries
from memskill.stores.sqlite_search import FTS_TABLES, SearchQueries
from memskill.stores.vector_index import VectorIndex
from memskill.text import index_text

LOG_KEEP = 20_000
"""Entries of a user's `vector_log` kept when it is pruned (an index further behind reloads)."""
LOG_PRUNE_EVERY = 1_000
"""The log is pruned on every this many revisions of a user."""


class SQLiteStore(SearchQueries, AdminQueries, DumpQueries):
    """SQLite implementation of the store protocol (`memskill.stores.base.Store`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._write_lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._vectors: dict[tuple[str, str, str, int, str | None], VectorIndex] = {}
        self._vector_locks: dict[tuple[str, str, str, int, str | None], threading.Lock] = {}
        self.applied_migrations = apply_migrations(self._db())

    # -- connections and transactions -------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            self._local.depth = 0
            with self._cache_lock:
                self._connections.append(db)
        return db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls join the outer one."""
        db = self._db()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
                self._local.depth = 0

    def close(self) -> None:
        """Close every thread's connection (call once the threads using the store have stopped)."""
        with self._cache_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()

    def _touch(self, user_id: str) -> None:
        """Move the user's revision (searches notice it); now and then prune the user's `vector_log`."""
        db = self._db()
        revision = db.execute(
            "INSERT INTO revisions (user_id, revision) VALUES (?, 1) "
            "ON CONFLICT (user_id) DO UPDATE SET revision = revision + 1 RETURNING revision",
            (user_id,),
        ).fetchone()[0]
        if revision % LOG_PRUNE_EVERY == 0:
            cut = db.execute(
                "SELECT seq FROM vector_log WHERE user_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (user_id, LOG_KEEP),
            ).fetchone()
            if cut is not None:
                db.execute("DELETE FROM vector_log WHERE user_id = ? AND seq <= ?", (user_id, cut[0]))
                db.execute(
                    "UPDATE revisions SET log_floor = max(log_floor, ?) WHERE user_id = ?", (cut[0], user_id)
                )

    def _index(self, table: str, seq: int, user_id: str, text: str) -> None:
        self._db().execute(
            f"INSERT INTO {FTS_TABLES[table]} (rowid, tokens) VALUES (?, ?)",
            (seq, owner_token(user_id) + " " + index_text(text)),
        )

    def _unindex(self, table: str, seq: int) -> None:
        self._db().execute(f"DELETE FROM {FTS_TABLES[table]} WHERE rowid = ?", (seq,))

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

    # -- memory items -----------------------------------------------------------------------------

    def insert_item(self, item: MemoryItem, vector: np.ndarray | None, embedder_id: str | None) -> None:
        with self.transaction():
            cursor = self._db().execute(
                "INSERT INTO items (id, user_id, kind, key, text, conversation_id, agent_id, app_id, status, "
                "confidence, tags, sources, payload, vector, embedder, create_time, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    json.dumps(list(item.tags), ensure_ascii=False),
                    json.dumps(list(item.sources)),
                    json.dumps(item.payload, ensure_ascii=False),
                    blob(vector),
                    embedder_id,
                    item.create_time,
                    item.update_time,
                ),
            )
            self._index("items", int(cursor.lastrowid or 0), item.user_id, item.search_text)
            self._touch(item.user_id)

    def update_item(
        self, item: MemoryItem, vector: np.ndarray | None = None, embedder_id: str | None = None
    ) -> None:
        """Rewrite an item's mutable fields (text, key, status, confidence, tags, sources, payload)."""
        db = self._db()
        with self.transaction():
            row = db.execute(
                "SELECT seq, kind, key, text, payload FROM items WHERE id = ?", (item.id,)
            ).fetchone()
            if row is None:
                return
            db.execute(
                "UPDATE items SET key = ?, text = ?, status = ?, confidence = ?, tags = ?, sources = ?, "
                "payload = ?, update_time = ? WHERE id = ?",
                (
                    item.key,
                    item.text,
                    item.status,
                    item.confidence,
                    json.dumps(list(item.tags), ensure_ascii=False),
                    json.dumps(list(item.sources)),
                    json.dumps(item.payload, ensure_ascii=False),
                    item.update_time,
                    item.id,
                ),
            )
            if vector is not None:
                db.execute(
                    "UPDATE items SET vector = ?, embedder = ? WHERE id = ?",
                    (blob(vector), embedder_id, item.id),
                )
            if search_text(row[1], row[2], row[3], json.loads(row[4] or "{}")) != item.search_text:
                self._unindex("items", row[0])
                self._index("items", row[0], item.user_id, item.search_text)
            self._touch(item.user_id)

    def get_item(self, item_id: str) -> MemoryItem | None:
        row = self._db().execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else item_from_row(row)

    def get_items(self, item_ids: Sequence[str]) -> list[MemoryItem]:
        if not item_ids:
            return []
        marks = ",".join("?" * len(item_ids))
        rows = self._db().execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id IN ({marks})", list(item_ids))
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
        linked to one of these clusters; the payload is filtered in SQL, not decoded row by row)."""
        kind_marks = ",".join("?" * len(kinds))
        status_marks = ",".join("?" * len(statuses))
        params: list[Any] = [scope.user_id, *kinds, *statuses]
        cluster_clause, table = "", "items"
        if cluster_ids is not None:
            if not cluster_ids:
                return []
            cluster_clause = (
                f"AND json_extract(payload, '$.cluster_id') IN ({','.join('?' * len(cluster_ids))}) "
            )
            params += list(cluster_ids)
            # SQLite would rather walk items_by_user (it is in `seq` order) and decode every payload.
            table = "items INDEXED BY items_by_cluster"
        rows = self._db().execute(
            f"SELECT {ITEM_COLUMNS} FROM {table} WHERE user_id = ? AND kind IN ({kind_marks}) "
            f"AND status IN ({status_marks}) {cluster_clause}"
            "AND (? IS NULL OR agent_id = ?) AND (? IS NULL OR app_id = ?) ORDER BY seq DESC",
            [*params, scope.agent_id, scope.agent_id, scope.app_id, scope.app_id],
        )
        return [item_from_row(row) for row in rows]

    def delete_items(self, item_ids: Sequence[str]) -> int:
        db = self._db()
        deleted = 0
        with self.transaction():
            for item_id in item_ids:
                row = db.execute("SELECT seq, user_id FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    continue
                db.execute("DELETE FROM items WHERE seq = ?", (row[0],))
                self._unindex("items", row[0])
                self._touch(row[1])
                deleted += 1
        return deleted

    def delete_user(self, user_id: str) -> int:
        """Delete everything stored for a user; returns how many memory items went."""
        db = self._db()
        with self.transaction():
            count = int(db.execute("SELECT COUNT(*) FROM items WHERE user_id = ?", (user_id,)).fetchone()[0])
            for table, fts in FTS_TABLES.items():
                db.execute(
                    f"DELETE FROM {fts} WHERE rowid IN (SELECT seq FROM {table} WHERE user_id = ?)",
                    (user_id,),
                )
            skill_ids = [r[0] for r in db.execute("SELECT id FROM skills WHERE user_id = ?", (user_id,))]
            for skill_id in skill_ids:
                db.execute("DELETE FROM skill_versions WHERE skill_id = ?", (skill_id,))
                db.execute("DELETE FROM skill_events WHERE skill_id = ?", (skill_id,))
            for table in ("items", "skills", "clusters", "task_records", "messages", "jobs"):
                db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            self._touch(user_id)
        return count

    # -- clusters and task records ----------------------------------------------------------------

    def list_clusters(self, scope: Scope) -> list[ClusterRow]:
        rows = self._db().execute(
            "SELECT id, user_id, agent_id, app_id, title, centroid, size, skill_id, create_time, update_time "
            "FROM clusters WHERE user_id = ? AND (? IS NULL OR agent_id IS ? ) AND (? IS NULL OR app_id IS "
            "?) "
            "ORDER BY create_time",
            (scope.user_id, scope.agent_id, scope.agent_id, scope.app_id, scope.app_id),
        )
        return [
            ClusterRow(
                id=r[0],
                user_id=r[1],
                agent_id=r[2],
                app_id=r[3],
                title=r[4],
                centroid=np.frombuffer(r[5], dtype=np.float32).copy(),
                size=r[6],
                skill_id=r[7],
                create_time=r[8],
                update_time=r[9],
            )
            for r in rows
        ]

    def save_cluster(self, cluster: ClusterRow) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT INTO clusters (id, user_id, agent_id, app_id, title, centroid, size, skill_id, "
                "create_time, "
                "update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "title = excluded.title, centroid = excluded.centroid, size = excluded.size, "
                "skill_id = excluded.skill_id, update_time = excluded.update_time",
                (
                    cluster.id,
                    cluster.user_id,
                    cluster.agent_id,
                    cluster.app_id,
                    cluster.title,
                    blob(cluster.centroid),
                    cluster.size,
                    cluster.skill_id,
                    cluster.create_time,
                    cluster.update_time,
                ),
            )

    def add_task_record(self, row: TaskRecordRow) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT OR REPLACE INTO task_records (id, user_id, cluster_id, conversation_id, record, "
                "create_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.user_id,
                    row.cluster_id,
                    row.conversation_id,
                    json.dumps(row.record, ensure_ascii=False),
                    row.create_time,
                ),
            )

    def get_task_record(self, record_id: str) -> TaskRecordRow | None:
        row = (
            self._db()
            .execute(
                "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
                "WHERE id = ?",
                (record_id,),
            )
            .fetchone()
        )
        return (
            None if row is None else TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])
        )

    def latest_task_record(self, user_id: str, conversation_id: str) -> TaskRecordRow | None:
        row = (
            self._db()
            .execute(
                "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
                "WHERE user_id = ? AND conversation_id = ? ORDER BY create_time DESC, rowid DESC LIMIT 1",
                (user_id, conversation_id),
            )
            .fetchone()
        )
        return (
            None if row is None else TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])
        )

    def task_records(self, cluster_id: str) -> list[TaskRecordRow]:
        rows = self._db().execute(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE cluster_id = ? ORDER BY create_time, rowid",
            (cluster_id,),
        )
        return [TaskRecordRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    # -- skills -----------------------------------------------------------------------------------

    def save_skill(
        self, skill: Skill, search_text: str, vector: np.ndarray | None, embedder_id: str | None
    ) -> None:
        """Insert or update a skill row and append its current version (versions are never rewritten)."""
        db = self._db()
        version = skill.current
        with self.transaction():
            row = db.execute("SELECT seq FROM skills WHERE id = ?", (skill.id,)).fetchone()
            values = (
                skill.status,
                skill.skill_type,
                version.version,
                skill.confidence,
                json.dumps(list(skill.tags), ensure_ascii=False),
                json.dumps(list(skill.conversation_ids)),
                search_text,
                blob(vector),
                embedder_id,
                skill.update_time,
                skill.state,
                skill.live_version,
                skill.helpful,
                skill.unhelpful,
            )
            if row is None:
                cursor = db.execute(
                    "INSERT INTO skills (status, skill_type, version, confidence, tags, conversation_ids, "
                    "search_text, vector, embedder, update_time, state, live_version, helpful, unhelpful, "
                    "id, user_id, cluster_id, agent_id, app_id, create_time) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *values,
                        skill.id,
                        skill.user_id,
                        skill.cluster_id,
                        skill.agent_id,
                        skill.app_id,
                        skill.create_time,
                    ),
                )
                seq = int(cursor.lastrowid or 0)
            else:
                seq = int(row[0])
                db.execute(
                    "UPDATE skills SET status = ?, skill_type = ?, version = ?, confidence = ?, tags = ?, "
                    "conversation_ids = ?, search_text = ?, vector = ?, embedder = ?, update_time = ?, "
                    "state = ?, live_version = ?, helpful = ?, unhelpful = ? WHERE id = ?",
                    (*values, skill.id),
                )
                self._unindex("skills", seq)
            self._index("skills", seq, skill.user_id, search_text)
            exists = db.execute(
                "SELECT 1 FROM skill_versions WHERE skill_id = ? AND version = ?", (skill.id, version.version)
            ).fetchone()
            if exists is None:
                db.execute(
                    "INSERT INTO skill_versions (skill_id, version, name, description, items, markdown, "
                    "note, create_time, author, held_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    version_values(version),
                )
            self._touch(skill.user_id)

    def set_skill_state(self, skill: Skill) -> None:
        """Write a skill's state, status, served version and feedback counts (nothing else changes)."""
        with self.transaction():
            self._db().execute(
                "UPDATE skills SET state = ?, status = ?, live_version = ?, helpful = ?, unhelpful = ?, "
                "update_time = ? WHERE id = ?",
                (*lifecycle_values(skill), skill.id),
            )
            self._touch(skill.user_id)

    def add_skill_event(self, event: SkillEvent) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT INTO skill_events (skill_id, time, actor, action, version, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.skill_id, event.time, event.actor, event.action, event.version, event.detail),
            )

    def skill_events(self, skill_id: str) -> list[SkillEvent]:
        rows = self._db().execute(
            "SELECT skill_id, time, actor, action, version, detail FROM skill_events WHERE skill_id = ? "
            "ORDER BY seq",
            (skill_id,),
        )
        return [SkillEvent(*row) for row in rows]

    def skill_versions(self, skill_id: str) -> list[SkillVersion]:
        rows = self._db().execute(
            f"SELECT {VERSION_COLUMNS} FROM skill_versions WHERE skill_id = ? ORDER BY version",
            (skill_id,),
        )
        return [version_from_row(row) for row in rows]

    def get_skill(self, skill_id: str) -> Skill | None:
        row = (
            self._db()
            .execute(
                f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
                "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = ?",
                (skill_id,),
            )
            .fetchone()
        )
        return None if row is None else skill_from_row(row)

    def get_skills(self, skill_ids: Sequence[str]) -> dict[str, Skill]:
        if not skill_ids:
            return {}
        marks = ",".join("?" * len(skill_ids))
        rows = self._db().execute(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            f"ON v.skill_id = s.id AND v.version = s.version WHERE s.id IN ({marks})",
            list(skill_ids),
        )
        return {skill.id: skill for skill in map(skill_from_row, rows)}

    def list_skills(self, scope: Scope, statuses: Sequence[str] = ("activated",)) -> list[Skill]:
        marks = ",".join("?" * len(statuses))
        rows = self._db().execute(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.user_id = ? "
            f"AND s.status IN ({marks}) AND (? IS NULL OR s.agent_id = ?) AND (? IS NULL OR s.app_id = ?) "
            "ORDER BY s.seq",
            [scope.user_id, *statuses, scope.agent_id, scope.agent_id, scope.app_id, scope.app_id],
        )
        return [skill_from_row(row) for row in rows]

    def delete_skill(self, skill_id: str) -> bool:
        db = self._db()
        with self.transaction():
            row = db.execute(
                "SELECT seq, user_id, cluster_id FROM skills WHERE id = ?", (skill_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM skills WHERE seq = ?", (row[0],))
            db.execute("DELETE FROM skill_versions WHERE skill_id = ?", (skill_id,))
            db.execute("DELETE FROM skill_events WHERE skill_id = ?", (skill_id,))
            db.execute("UPDATE clusters SET skill_id = NULL WHERE id = ?", (row[2],))
            self._unindex("skills", row[0])
            self._touch(row[1])
        return True

    def user_ids(self) -> list[str]:
        rows = self._db().execute("SELECT DISTINCT user_id FROM messages ORDER BY user_id")
        return [row[0] for row in rows]

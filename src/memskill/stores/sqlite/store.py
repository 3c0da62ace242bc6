"""The embedded store: one SQLite file in WAL mode.

- Raw messages, jobs, memories (facts, preferences, tool lessons), task clusters, task records, skills
  and their immutable versions live in plain tables (see `migrations.py`).
- Keyword search: FTS5 tables over jieba-segmented text, one per searchable table. Each row also holds an
  `owner` token derived from the user id, so a query matches only that user's rows inside the index.
- Vector search: float32 BLOBs, loaded per user into a numpy matrix that is cached until the user's
  revision changes, then searched exactly (`matrix @ query`). The searches are in `sqlite/search.py`,
  operator queries in `sqlite/admin.py`.

Every thread gets its own connection; writes go through `transaction()` (BEGIN IMMEDIATE, a process-wide
lock, busy timeout), so a server thread and worker threads, or several processes, share one file safely.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from memskill.models import (
    MemoryItem,
    Scope,
    search_text,
)
from memskill.stores.rows import (
    ITEM_COLUMNS,
    blob,
    item_changes,
    item_from_row,
    item_values,
    owner_token,
)
from memskill.stores.sqlite.admin import AdminQueries
from memskill.stores.sqlite.dump import DumpQueries
from memskill.stores.sqlite.migrations import apply_migrations
from memskill.stores.sqlite.search import FTS_TABLES, SearchQueries
from memskill.stores.vector_index import VectorIndex
from memskill.text import index_text

LOG_KEEP = 20_000
"""Entries of a user's `vector_log` kept when it is pruned (an index further behind reloads)."""
LOG_PRUNE_EVERY = 1_000
"""The log is pruned on every this many revisions of a user."""


from memskill.stores.sqlite.jobs import JobQueries  # noqa: E402
from memskill.stores.sqlite.skills import SkillQueries  # noqa: E402


class SQLiteStore(JobQueries, SkillQueries, SearchQueries, AdminQueries, DumpQueries):
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
                # The in-memory indexes may hold rows this transaction wrote and, once a later write
                # moves a user's revision to the same number, would pass for current: rebuild them.
                with self._cache_lock:
                    self._vectors.clear()
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

    # -- memory items -----------------------------------------------------------------------------

    def insert_item(self, item: MemoryItem, vector: np.ndarray | None, embedder_id: str | None) -> None:
        with self.transaction():
            cursor = self._db().execute(
                "INSERT INTO items (id, user_id, kind, key, text, conversation_id, agent_id, app_id, status, "
                "confidence, tags, sources, payload, vector, embedder, create_time, update_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*item_values(item), blob(vector), embedder_id, item.create_time, item.update_time),
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
                (*item_changes(item), item.id),
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

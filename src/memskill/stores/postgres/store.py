"""The scale-out store: PostgreSQL with pgvector, shared by several API and worker processes.

`PostgresStore(url)` behaves like `SQLiteStore` (the contract tests run against both); what differs is
how it gets there. Searches are in `postgres/search.py`, operator queries in `postgres/admin.py`, the schema
in `postgres/migrations.py`.

- **Connections and transactions.** A pool of at most `pool_size` connections (`postgres/pool.py`). Reads
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
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from memskill.errors import InternalError, InvalidRequest
from memskill.models import (
    MemoryItem,
    Scope,
    search_text,
)
from memskill.stores.base import TaskRecordRow
from memskill.stores.postgres.admin import AdminQueries
from memskill.stores.postgres.dump import DumpQueries
from memskill.stores.postgres.migrations import apply_migrations
from memskill.stores.postgres.pool import ConnectionPool, connect, load_driver
from memskill.stores.postgres.search import (
    EXACT_SEARCH_BELOW,
    SearchQueries,
    as_vector,
    scope_params,
)
from memskill.stores.postgres.text import tsvector
from memskill.stores.postgres.vectors import COMMIT_REVISIONS, LOG_PRUNE_EVERY, Key, prune_vector_log
from memskill.stores.rows import (
    ITEM_COLUMNS,
    item_changes,
    item_from_row,
    item_values,
    owner_token,
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


class _Disconnected(InternalError):
    """The connection died under a statement (before any COMMIT was sent)."""


class _ThreadState(threading.local):
    connection: Db | None = None
    depth = 0
    touched: set[str] | None = None


from memskill.stores.postgres.jobs import JobQueries  # noqa: E402
from memskill.stores.postgres.skills import SkillQueries  # noqa: E402


class PostgresStore(JobQueries, SkillQueries, SearchQueries, AdminQueries, DumpQueries):
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
                    *item_values(item),
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
            params: list[Any] = list(item_changes(item))
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


def _record(row: Sequence[Any]) -> TaskRecordRow:
    return TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])

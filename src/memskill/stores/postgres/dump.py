"""The PostgreSQL store's whole-store reads and writes, for `memskill.archive`.

A mixin of `PostgresStore`, like `postgres/admin.py`, doing what `sqlite/dump.py` does for SQLite:
every row of each kind in stored order (`seq`), read page by page inside one REPEATABLE READ, READ ONLY
transaction so the dump is one moment's state, and the writes that put messages and jobs back with
their ids and times (messages with their keyword index).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from memskill.stores.base import (
    DUMP_TABLES,
    JobRow,
    MessageRow,
)
from memskill.stores.dumps import (
    BATCH,
    JOB_DUMP,
    MESSAGE_DUMP,
    DumpReads,
    job_values,
    message_values,
)
from memskill.stores.postgres.host import Host
from memskill.stores.postgres.text import tsvector
from memskill.stores.rows import owner_token

if TYPE_CHECKING:
    from psycopg import Connection

    from memskill.stores.postgres.pool import ConnectionPool

T = TypeVar("T")


def _tokens(row: MessageRow) -> str | None:
    """The keyword index of a message, as `ingest` writes it (None for one without text)."""
    content = row.message.content
    return tsvector(content, owner_token(row.user_id)) if content.strip() else None


def read_vector(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float32)


class DumpQueries(DumpReads, Host):
    """Dumps and restores; needs the host class's `_rows`, `_write`, `_pool` and `_local`."""

    ORDER: ClassVar[dict[str, str]] = {
        "messages": "seq",
        "jobs": "seq",
        "items": "seq",
        "clusters": "seq",
        "task_records": "seq",
    }
    _vector = staticmethod(read_vector)

    _pool: ConnectionPool
    _local: Any

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Pins one connection in a REPEATABLE READ, READ ONLY transaction to the thread: every read the
        thread makes inside sees the same committed state, and a write fails."""
        local = self._local
        if local.depth:  # already inside one of this thread's transactions: that is the view
            yield
            return
        db = self._pool.acquire()
        try:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            local.connection, local.depth = db, 1
            try:
                yield
            finally:
                local.connection, local.depth = None, 0
                if not db.closed and not db.broken:
                    db.execute("ROLLBACK")
        finally:
            self._pool.release(db)

    def _pages(
        self, columns: str, source: str, order: str, user_id: str | None, owner: str = "user_id"
    ) -> Iterator[Sequence[Any]]:
        """Rows of `source` in `order`, a page at a time, of everyone or of one user."""
        after = -(1 << 62)
        while True:
            rows = self._rows(
                f"SELECT {order}, {columns} FROM {source} WHERE {order} > %(after)s "
                f"AND (%(user)s::text IS NULL OR {owner} = %(user)s) ORDER BY {order} LIMIT %(limit)s",
                {"after": after, "user": user_id, "limit": BATCH},
                binary=True,
            )
            for row in rows:
                yield row[1:]
            if len(rows) < BATCH:
                return
            after = rows[-1][0]

    def row_counts(self, user_id: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table in DUMP_TABLES:
            if table == "api_keys":
                query = "SELECT COUNT(*) FROM api_keys"
            elif table == "skill_versions":
                query = (
                    "SELECT COUNT(*) FROM skill_versions v JOIN skills s ON s.id = v.skill_id "
                    "WHERE (%(user)s::text IS NULL OR s.user_id = %(user)s)"
                )
            else:
                query = f"SELECT COUNT(*) FROM {table} WHERE (%(user)s::text IS NULL OR user_id = %(user)s)"
            counts[table] = int(self._rows(query, {"user": user_id})[0][0])
        return counts

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        if table not in DUMP_TABLES or table == "skill_versions":
            raise ValueError(f"no ids to look up in table {table!r}")
        if not ids:
            return set()
        rows = self._rows(f"SELECT id FROM {table} WHERE id = ANY(%s::text[])", (list(ids),))
        return {row[0] for row in rows}

    def restore_messages(self, rows: Sequence[MessageRow]) -> int:
        marks = ", ".join(["%s"] * len(MESSAGE_DUMP.split(",")))
        values = [(*message_values(row), _tokens(row)) for row in rows]

        def work(db: Connection[tuple[Any, ...]]) -> int:
            added = 0
            for value in values:
                cursor = db.execute(
                    f"INSERT INTO messages ({MESSAGE_DUMP}, tokens) VALUES ({marks}, %s::tsvector) "
                    "ON CONFLICT (id) DO NOTHING",
                    value,
                )
                added += cursor.rowcount
            return added

        return self._write(work) if values else 0

    def restore_jobs(self, rows: Sequence[JobRow]) -> int:
        marks = ", ".join(["%s"] * len(JOB_DUMP.split(",")))
        values = [job_values(row) for row in rows]

        def work(db: Connection[tuple[Any, ...]]) -> int:
            added = 0
            for value in values:
                cursor = db.execute(
                    f"INSERT INTO jobs ({JOB_DUMP}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING", value
                )
                added += cursor.rowcount
            return added

        return self._write(work) if values else 0

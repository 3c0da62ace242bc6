"""The SQLite store's whole-store reads and writes, for `memskill.archive`.

A mixin of `SQLiteStore`, like `sqlite/admin.py`: every row of each kind in the order it was stored
(read page by page inside one read transaction, so a dump taken while a server writes is one moment's
state), and the writes that put messages and jobs back with their ids and times. The other kinds are
written back through the store's usual methods, which index them as they always do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

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
from memskill.stores.sqlite.host import Host


def read_vector(value: bytes | None) -> np.ndarray | None:
    return None if value is None else np.frombuffer(value, dtype=np.float32).copy()


class DumpQueries(DumpReads, Host):
    """Dumps and restores; needs the host class's `_db()`, `transaction()` and `_index()`."""

    ORDER: ClassVar[dict[str, str]] = {
        "messages": "seq",
        "jobs": "rowid",
        "items": "seq",
        "clusters": "rowid",
        "task_records": "rowid",
    }
    _vector = staticmethod(read_vector)

    _local: threading.local

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction on the thread's connection: WAL keeps its view while others write. A write
        on this thread inside it fails (SQLite cannot nest a transaction), as a read-only view should."""
        db = self._db()
        if db.in_transaction:  # already inside one of this thread's transactions: that is the view
            yield
            return
        db.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            db.execute("ROLLBACK")

    def _pages(
        self, columns: str, source: str, order: str, user_id: str | None, owner: str = "user_id"
    ) -> Iterator[Sequence[Any]]:
        """Rows of `source` in `order`, a page at a time, of everyone or of one user."""
        after = -(1 << 62)
        while True:
            rows = (
                self._db()
                .execute(
                    f"SELECT {order}, {columns} FROM {source} WHERE {order} > ? "
                    f"AND (? IS NULL OR {owner} = ?) ORDER BY {order} LIMIT ?",
                    (after, user_id, user_id, BATCH),
                )
                .fetchall()
            )
            for row in rows:
                yield row[1:]
            if len(rows) < BATCH:
                return
            after = rows[-1][0]

    def row_counts(self, user_id: str | None = None) -> dict[str, int]:
        db = self._db()
        counts: dict[str, int] = {}
        for table in DUMP_TABLES:
            params: tuple[str | None, ...] = (user_id, user_id)
            if table == "api_keys":
                query, params = "SELECT COUNT(*) FROM api_keys", ()
            elif table == "skill_versions":
                query = (
                    "SELECT COUNT(*) FROM skill_versions v JOIN skills s ON s.id = v.skill_id "
                    "WHERE (? IS NULL OR s.user_id = ?)"
                )
            else:
                query = f"SELECT COUNT(*) FROM {table} WHERE (? IS NULL OR user_id = ?)"
            counts[table] = int(db.execute(query, params).fetchone()[0])
        return counts

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        if table not in DUMP_TABLES or table == "skill_versions":
            raise ValueError(f"no ids to look up in table {table!r}")
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start : start + BATCH])
            marks = ",".join("?" * len(chunk))
            rows = self._db().execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def restore_messages(self, rows: Sequence[MessageRow]) -> int:
        db = self._db()
        marks = ", ".join("?" * len(MESSAGE_DUMP.split(",")))
        added = 0
        with self.transaction():
            for row in rows:
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO messages ({MESSAGE_DUMP}) VALUES ({marks})", message_values(row)
                )
                if cursor.rowcount:
                    added += 1
                    if row.message.content.strip():
                        self._index("messages", int(cursor.lastrowid or 0), row.user_id, row.message.content)
        return added

    def restore_jobs(self, rows: Sequence[JobRow]) -> int:
        db = self._db()
        marks = ", ".join("?" * len(JOB_DUMP.split(",")))
        added = 0
        with self.transaction():
            for row in rows:
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO jobs ({JOB_DUMP}, lease_owner, lease_until) "
                    f"VALUES ({marks}, NULL, 0)",
                    job_values(row),
                )
                added += cursor.rowcount
        return added

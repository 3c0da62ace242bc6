"""`PostgresStore`'s in-process vector indexes: a user below the HNSW threshold is searched in memory,
as SQLite searches every user, instead of by an exact scan in the database per query (at 10,000
memories of 512 dimensions, 18 ms a query, four per search).

A mixin of `PostgresStore` (through `SearchQueries`), needing its `_row` and `_rows`. The index
(`vector_index.VectorIndex`) is kept coherent by `vector_log` (migration 003): triggers log every change
of a searchable row with its transaction, and the commit (`COMMIT_REVISIONS`) stamps the transaction's
entries with the user's new revision while it holds the revision row's lock, so a user's revisions number
entries in commit order. A search reads the user's revision (one indexed lookup); when it moved, it reads
the entries after the index's revision up to it, re-reads those rows and patches the index. An index
behind the log's floor (entries pruned: `LOG_KEEP` revisions are kept), with a quarter of its rows dead,
or of a user who grew past `exact_search_below` rows is dropped; indexes of all users together hold at
most `MAX_ROWS` rows, the least recently searched dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from memskill.stores.vector_index import Row, VectorIndex

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

COMMIT_REVISIONS = """
WITH logged AS (
    SELECT DISTINCT user_id FROM vector_log WHERE revision IS NULL AND xact = pg_current_xact_id()
), bumped AS (
    INSERT INTO revisions (user_id, revision)
    SELECT u, 1 FROM (SELECT unnest(%s::text[]) UNION SELECT user_id FROM logged) AS touched (u) ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET revision = revisions.revision + 1
    RETURNING user_id, revision
), stamped AS (
    UPDATE vector_log AS v SET revision = b.revision FROM bumped AS b
    WHERE v.user_id = b.user_id AND v.revision IS NULL AND v.xact = pg_current_xact_id()
    RETURNING 1
)
SELECT user_id, revision FROM bumped
"""
"""Run as a write transaction commits: bump the revision of every user it touched (and of every user
whose searchable rows it changed) and stamp its `vector_log` entries with that revision."""
LOG_KEEP = 2_000
"""Revisions of `vector_log` kept per user: an index further behind reads the user's rows again."""
LOG_PRUNE_EVERY = 500
MAX_ROWS = 1_000_000
"""Rows held by all in-process indexes together (2 GB at 512 dimensions)."""

Key = tuple[str, str, str, int, "str | None"]


def prune_vector_log(db: Db, user_id: str, revision: int) -> None:
    """Drop a user's log entries older than `LOG_KEEP` revisions and raise their floor."""
    floor = revision - LOG_KEEP
    if floor <= 0:
        return
    db.execute("DELETE FROM vector_log WHERE user_id = %s AND revision <= %s", (user_id, floor))
    db.execute(
        "UPDATE revisions SET log_floor = GREATEST(log_floor, %s) WHERE user_id = %s", (floor, user_id)
    )


class LocalIndexes:
    """In-process indexes of the users below the HNSW threshold; see the module docstring."""

    exact_search_below: int
    _held: OrderedDict[Key, VectorIndex]
    _too_large: dict[Key, int]
    """Users found too large for an index, with the revision at which they were counted."""
    _held_locks: dict[Key, threading.Lock]
    _held_lock: threading.Lock

    # The host class's queries (`PostgresStore`).
    _row: Callable[..., tuple[Any, ...] | None]
    _rows: Callable[..., list[tuple[Any, ...]]]

    def _local_index(
        self, user_id: str, table: str, kind: str, dim: int, embedder_id: str | None
    ) -> VectorIndex | None:
        """The user's index, patched up to their revision; None for a user of `exact_search_below` rows
        or more (searched in the database)."""
        key: Key = (user_id, table, kind, dim, embedder_id)
        with self._held_lock:
            lock = self._held_locks.setdefault(key, threading.Lock())
        with lock:
            found = self._row("SELECT revision, log_floor FROM revisions WHERE user_id = %s", (user_id,))
            revision, floor = (0, 0) if found is None else (int(found[0]), int(found[1]))
            if self._too_large.get(key) == revision:
                return None
            with self._held_lock:
                index = self._held.get(key)
                if index is not None:
                    self._held.move_to_end(key)
            if index is not None and index.revision == revision:
                return index
            patchable = index is not None and index.log_seq >= floor and not index.needs_rebuild()
            # A patch that leaves the user too large for an index drops it (the build counts again).
            if patchable and index is not None and self._patch_local(index, key, revision):
                return index if index.live < self.exact_search_below else self._build_local(key, revision)
            return self._build_local(key, revision)

    def _patch_local(self, index: VectorIndex, key: Key, revision: int) -> bool:
        """Apply the entries stamped after the index's revision; False when they are too many."""
        user_id, table = key[0], key[1]
        entries = self._rows(
            "SELECT DISTINCT id FROM vector_log WHERE user_id = %s AND tbl = %s AND revision > %s "
            "AND revision <= %s",
            (user_id, table, index.log_seq, revision),
        )
        if len(entries) * 4 > max(index.live, 64):
            return False
        changed = [row[0] for row in entries]
        rows = self._searchable_rows(key, changed) if changed else []
        current: dict[str, Row | None] = dict.fromkeys(changed, None) | {row.id: row for row in rows}
        index.apply(changed, current, revision, revision)
        return True

    def _build_local(self, key: Key, revision: int) -> VectorIndex | None:
        user_id, table, kind, dim = key[:4]
        kind_clause = "AND kind = %s " if table == "items" else ""
        counted = self._row(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE user_id = %s {kind_clause}"
            "AND status = 'activated' LIMIT %s) AS capped",
            (user_id, *([kind] if table == "items" else []), self.exact_search_below),
        )
        with self._held_lock:
            self._held.pop(key, None)
        if counted is not None and int(counted[0]) >= self.exact_search_below:
            self._too_large[key] = revision
            return None
        self._too_large.pop(key, None)
        index = VectorIndex.build(dim, self._searchable_rows(key), revision, revision)
        with self._held_lock:
            self._held[key] = index
            held = sum(i.count for i in self._held.values())
            while held > MAX_ROWS and len(self._held) > 1:
                _, dropped = self._held.popitem(last=False)
                held -= dropped.count
        return index

    def _searchable_rows(self, key: Key, ids: Sequence[str] | None = None) -> list[Row]:
        """The user's activated rows of the key's kind with a vector of its length and embedder (or only
        `ids`), in the order they were written."""
        user_id, table, kind, dim, embedder_id = key
        kind_clause = "AND kind = %(kind)s " if table == "items" else ""
        id_clause = "AND id = ANY(%(ids)s::text[]) " if ids is not None else ""
        rows = self._rows(
            f"SELECT id, agent_id, app_id, vector FROM {table} WHERE user_id = %(user)s {kind_clause}"
            f"AND status = 'activated' AND vector IS NOT NULL AND vector_dims(vector) = %(dim)s "
            f"AND (%(embedder)s::text IS NULL OR embedder = %(embedder)s) {id_clause}ORDER BY seq",
            {"user": user_id, "kind": kind, "dim": dim, "embedder": embedder_id, "ids": list(ids or [])},
            binary=True,
        )
        return [Row(row[0], row[1], row[2], np.asarray(row[3], dtype=np.float32)) for row in rows]

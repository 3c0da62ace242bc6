"""The SQLite store's searches: keyword (FTS5), vectors (numpy over a cached per-user matrix), and the
stored vectors a change of embedder leaves stale.

A mixin of `SQLiteStore` (the data path is in `sqlite/store.py`), needing its `_db()`, `transaction()` and
`_touch()`, as `postgres/search.py` is for the PostgreSQL store.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from memskill.models import Message, Scope
from memskill.stores.base import ScoredId
from memskill.stores.rows import blob, message_from_row, owner_token
from memskill.stores.sqlite.host import Host
from memskill.stores.vector_index import Row, VectorIndex

FTS_TABLES = {"messages": "messages_fts", "items": "items_fts", "skills": "skills_fts"}


class SearchQueries(Host):
    """Keyword and vector search over one SQLite file; the host class supplies the connection."""

    _cache_lock: threading.Lock
    _vectors: dict[tuple[str, str, str, int, str | None], VectorIndex]
    _vector_locks: dict[tuple[str, str, str, int, str | None], threading.Lock]

    def pending_message_hits(self, scope: Scope, match: str, limit: int) -> list[tuple[Message, str, float]]:
        """Keyword hits among messages whose job has not finished: (message, conversation_id, bm25)."""
        running = (
            self._db()
            .execute("SELECT 1 FROM jobs WHERE user_id = ? AND status = 'running' LIMIT 1", (scope.user_id,))
            .fetchone()
        )
        if running is None:  # the usual case: no full-text pass over every message of the user
            return []
        rows = (
            self._db()
            .execute(
                "SELECT m.id, m.role, m.content, m.chat_time, m.tool_calls, m.tool_call_id, "
                "m.conversation_id, "
                "bm25(messages_fts) FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid "
                "JOIN jobs j ON j.id = m.job_id WHERE messages_fts MATCH ? AND j.status = 'running' "
                "AND m.user_id = ? AND (? IS NULL OR m.agent_id = ?) AND (? IS NULL OR m.app_id = ?) "
                "ORDER BY bm25(messages_fts) LIMIT ?",
                (
                    f"{owner_token(scope.user_id)} AND ({match})",
                    scope.user_id,
                    scope.agent_id,
                    scope.agent_id,
                    scope.app_id,
                    scope.app_id,
                    limit,
                ),
            )
            .fetchall()
        )
        return [(message_from_row(row[:6]), row[6], -float(row[7])) for row in rows]

    def item_tokens(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """The tokens the full-text index holds for each item (as `_index` wrote them, owner first)."""
        if not item_ids:
            return {}
        marks = ",".join("?" * len(item_ids))
        rows = self._db().execute(
            f"SELECT i.id, f.tokens FROM items i JOIN items_fts f ON f.rowid = i.seq WHERE i.id IN ({marks})",
            list(item_ids),
        )
        return {item_id: indexed.split(" ")[1:] for item_id, indexed in rows}

    def _vector_index(
        self, user_id: str, table: str, kind: str, dim: int, embedder_id: str | None = None
    ) -> VectorIndex:
        """The user's index, patched from `vector_log` when the user's revision moved (or rebuilt).

        One lock per index: a search of another user never waits for this one's load or patch."""
        key = (user_id, table, kind, dim, embedder_id)
        with self._cache_lock:
            lock = self._vector_locks.setdefault(key, threading.Lock())
        with lock:
            db = self._db()
            found = db.execute(
                "SELECT revision, log_floor FROM revisions WHERE user_id = ?", (user_id,)
            ).fetchone()
            revision, floor = (0, 0) if found is None else (int(found[0]), int(found[1]))
            index = self._vectors.get(key)
            if index is not None and index.revision == revision:
                return index
            patchable = index is not None and index.log_seq >= floor and not index.needs_rebuild()
            if index is not None and patchable and self._patch(index, key, revision):
                return index
            latest = db.execute("SELECT coalesce(max(seq), 0) FROM vector_log").fetchone()[0]
            index = VectorIndex.build(
                dim, self._searchable(user_id, table, kind, dim, embedder_id), revision, latest
            )
            self._vectors[key] = index
            return index

    def _patch(self, index: VectorIndex, key: tuple[str, str, str, int, str | None], revision: int) -> bool:
        """Apply the log entries after the index's last one; False when they are too many to be worth it."""
        user_id, table, kind, dim, embedder_id = key
        entries = (
            self._db()
            .execute(
                "SELECT seq, id FROM vector_log WHERE user_id = ? AND tbl = ? AND seq > ? ORDER BY seq",
                (user_id, table, index.log_seq),
            )
            .fetchall()
        )
        if len(entries) * 4 > max(index.live, 64):
            return False
        changed = [row_id for _, row_id in entries]
        rows = self._searchable(user_id, table, kind, dim, embedder_id, changed)
        current: dict[str, Row | None] = dict.fromkeys(changed, None) | {row.id: row for row in rows}
        index.apply(changed, current, revision, max((seq for seq, _ in entries), default=0))
        return True

    def _searchable(
        self,
        user_id: str,
        table: str,
        kind: str,
        dim: int,
        embedder_id: str | None,
        ids: Sequence[str] | None = None,
    ) -> list[Row]:
        """The user's activated rows of `kind` with a `dim`-long vector (of `embedder_id`), or only `ids`."""
        kind_clause = "AND kind = ? " if table == "items" else ""
        params: list[Any] = [user_id, *([kind] if table == "items" else []), embedder_id, embedder_id]
        id_clause = ""
        if ids is not None:
            id_clause = f"AND id IN ({','.join('?' * len(ids))}) "
            params += list(ids)
        rows = (
            self._db()
            .execute(
                f"SELECT id, agent_id, app_id, vector FROM {table} WHERE user_id = ? {kind_clause}"
                "AND status = 'activated' AND vector IS NOT NULL AND (? IS NULL OR embedder = ?) "
                f"{id_clause}ORDER BY seq",
                params,
            )
            .fetchall()
        )
        return [
            Row(row[0], row[1], row[2], np.frombuffer(row[3], dtype=np.float32))
            for row in rows
            if len(row[3]) == dim * 4
        ]

    def vector_search(
        self,
        scope: Scope,
        table: str,
        kind: str,
        query: np.ndarray,
        limit: int,
        embedder_id: str | None = None,
    ) -> list[ScoredId]:
        """Exact cosine search over a user's activated vectors (rows are unit length).

        Only vectors of the query's length are compared, and with `embedder_id` only those that embedder
        made, so vectors left by an earlier embedder are skipped until they are re-embedded."""
        index = self._vector_index(scope.user_id, table, kind, int(query.shape[0]), embedder_id)
        return [ScoredId(row_id, score) for row_id, score in index.search(scope, query, limit)]

    def term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """Memories holding each term, read from the full-text index's vocabulary (one indexed lookup)."""
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        rows = self._db().execute(
            f"SELECT term, doc FROM items_vocabulary WHERE term IN ({marks})", list(terms)
        )
        return {term: int(count) for term, count in rows}

    def keyword_search(self, scope: Scope, table: str, kind: str, match: str, limit: int) -> list[ScoredId]:
        """BM25 hits (score = -bm25, higher is better) among a user's activated rows."""
        fts = FTS_TABLES[table]
        kind_clause = "AND t.kind = ?" if table == "items" else ""
        params: list[Any] = [f"{owner_token(scope.user_id)} AND ({match})", scope.user_id]
        if table == "items":
            params.append(kind)
        params += [scope.agent_id, scope.agent_id, scope.app_id, scope.app_id, limit]
        rows = (
            self._db()
            .execute(
                f"SELECT t.id, bm25({fts}) FROM {fts} JOIN {table} t ON t.seq = {fts}.rowid "
                f"WHERE {fts} MATCH ? AND t.user_id = ? {kind_clause} AND t.status = 'activated' "
                "AND (? IS NULL OR t.agent_id = ?) AND (? IS NULL OR t.app_id = ?) "
                f"ORDER BY bm25({fts}) LIMIT ?",
                params,
            )
            .fetchall()
        )
        return [ScoredId(row[0], -float(row[1])) for row in rows]

    def keyword_searches(
        self, scope: Scope, lists: Sequence[tuple[str, str]], match: str, limit: int
    ) -> dict[tuple[str, str], list[ScoredId]]:
        """One `keyword_search` per list: in process, a query costs no round trip."""
        return {(table, kind): self.keyword_search(scope, table, kind, match, limit) for table, kind in lists}

    def vectors_of(
        self, table: str, ids: Sequence[str], dim: int, embedder_id: str | None = None
    ) -> dict[str, np.ndarray]:
        """The stored vectors of `ids` that are `dim` long (and, with `embedder_id`, made by it)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db().execute(
            f"SELECT id, vector FROM {table} WHERE id IN ({marks}) AND (? IS NULL OR embedder = ?)",
            [*ids, embedder_id, embedder_id],
        )
        return {
            row[0]: np.frombuffer(row[1], dtype=np.float32)
            for row in rows
            if row[1] is not None and len(row[1]) == dim * 4
        }

    # -- re-embedding -----------------------------------------------------------------------------

    @staticmethod
    def _stale(table: str, embedder_id: str, dim: int | None) -> tuple[str, list[Any]]:
        """A condition on rows `t` of `table` whose vector another embedder made, and its parameters.

        Clusters keep no embedder id: a cluster is stale when its centroid has another length, or while
        its user has a stale item or skill (`memskill.reembed` does clusters first, so a run that stops
        half-way redoes them).
        """
        size = None if dim is None else dim * 4

        def own(alias: str) -> tuple[str, list[Any]]:
            clause = (
                f"{alias}.vector IS NOT NULL AND ({alias}.embedder IS NOT ? "
                f"OR (? IS NOT NULL AND length({alias}.vector) != ?))"
            )
            return clause, [embedder_id, size, size]

        if table in ("items", "skills"):
            return own("t")
        if table != "clusters":
            raise ValueError(f"no vectors in table {table!r}")
        item, item_params = own("i")
        skill, skill_params = own("s")
        clause = (
            "(? IS NOT NULL AND length(t.centroid) != ?) "
            f"OR EXISTS (SELECT 1 FROM items i WHERE i.user_id = t.user_id AND {item}) "
            f"OR EXISTS (SELECT 1 FROM skills s WHERE s.user_id = t.user_id AND {skill})"
        )
        return clause, [size, size, *item_params, *skill_params]

    def stale_vectors(
        self, table: str, embedder_id: str, dim: int | None, limit: int, after: str = ""
    ) -> list[str]:
        """Ids after `after`, in id order, of rows of `table` whose vector another embedder made (or whose
        length is not `dim`)."""
        clause, params = self._stale(table, embedder_id, dim)
        rows = self._db().execute(
            f"SELECT t.id FROM {table} t WHERE t.id > ? AND ({clause}) ORDER BY t.id LIMIT ?",
            [after, *params, limit],
        )
        return [row[0] for row in rows]

    def count_stale_vectors(self, table: str, embedder_id: str, dim: int | None) -> int:
        clause, params = self._stale(table, embedder_id, dim)
        row = self._db().execute(f"SELECT COUNT(*) FROM {table} t WHERE {clause}", params).fetchone()
        return int(row[0])

    def set_vector(self, table: str, row_id: str, vector: np.ndarray, embedder_id: str) -> bool:
        """Replace a row's vector (a cluster's centroid) made by another embedder.

        An item's or skill's vector is left alone when one of `embedder_id` and the same length was
        written since it was found stale (its text changed meanwhile); returns whether it was replaced.
        """
        data = blob(vector)
        assert data is not None
        db = self._db()
        with self.transaction():
            if table == "clusters":
                cursor = db.execute("UPDATE clusters SET centroid = ? WHERE id = ?", (data, row_id))
            elif table in ("items", "skills"):
                cursor = db.execute(
                    f"UPDATE {table} SET vector = ?, embedder = ? WHERE id = ? "
                    "AND (embedder IS NOT ? OR vector IS NULL OR length(vector) != ?)",
                    (data, embedder_id, row_id, embedder_id, len(data)),
                )
            else:
                raise ValueError(f"no vectors in table {table!r}")
            if not cursor.rowcount:
                return False
            owner = db.execute(f"SELECT user_id FROM {table} WHERE id = ?", (row_id,)).fetchone()
            self._touch(owner[0])
        return True

"""Searches and vectors for `PostgresStore`: vector and keyword search, HNSW indexes, re-embedding.

A mixin of `PostgresStore` (the data path is in `postgres/store.py`), needing its `_read`, `_rows`, `_row`,
`_write` and `_touch`.

- **Vector search.** Scores are cosine similarity (`1 - (a <=> b)`), which equals SQLite's `matrix @
  query` on unit vectors (a zero vector scores 0 in both). A user with fewer than `exact_search_below`
  (200,000) rows of a kind is searched exactly in process (`postgres/vectors.py`, as SQLite searches every
  user: at 100,000 memories a search's p50 went 303 → ~80 ms against HNSW in the database, and its
  recall is exact). In the database an exact search orders by `vector <=> q`, which no index matches,
  so the planner reads the user's rows through the `(user_id, kind, status)` index and sorts them
  (checked with EXPLAIN; 100,000 rows × 512 dimensions of one user take ~0.5 s, which is why larger
  users go through the index). A larger user is searched through a partial HNSW index per
  dimension (`vector_cosine_ops`, m 16, ef_construction 64, over `vector::vector(d)` `WHERE
  vector_dims(vector) = d`), built in the background the first time such a search needs it (`CREATE
  INDEX CONCURRENTLY`; `create_vector_index` builds one up front), with pgvector 0.8's iterative scan
  (`relaxed_order`, `ef_search` ≥ 100, enough `max_scan_tuples` for the user's share of the table) so
  the user filter, applied after the index, still fills the page; if it returns fewer rows than asked,
  the search is redone exactly. That path is approximate (recall ≈ 0.95); the exact one computes what
  SQLite computes. Dimensions above 2,000 (HNSW's limit) and pgvector before 0.8 always search exactly.
- **Keyword search.** A `tokens` tsvector column holds the words SQLite's FTS5 index holds
  (`postgres/text.py`) plus the user's owner token, under a GIN index. A query must match the owner token and
  the MATCH expression translated to a tsquery, so GIN narrows to the user's rows before it looks at the
  words. The score is `ts_rank_cd` (normalisation 1: divided by 1 + log of the document length), higher
  is better like SQLite's -bm25; absolute values differ and there is no idf, so rankings are close,
  not equal.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from memskill.errors import InvalidRequest
from memskill.models import Message, Scope, search_text
from memskill.stores.base import ScoredId
from memskill.stores.postgres.host import Host
from memskill.stores.postgres.pool import connect
from memskill.stores.postgres.text import tsquery
from memskill.stores.postgres.vectors import LocalIndexes
from memskill.stores.rows import message_from_row, owner_token
from memskill.text import tokens

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

log = logging.getLogger("memskill.stores.postgres")
T = TypeVar("T")

EXACT_SEARCH_BELOW = 200_000
"""Users with fewer rows of a kind are searched exactly, in process (a scan of 100,000 rows of 512
dimensions takes ~10 ms once loaded; 200,000 rows hold ~400 MB, and `postgres.vectors.MAX_ROWS` bounds all
users' together); larger ones through HNSW in the database (~80 ms a query at 100,000 rows here)."""
VISITS = 20_000
"""Index tuples an HNSW scan may expect to visit to fill a page (pgvector's default `max_scan_tuples`)."""
HNSW_MAX_DIM = 2000
RANK = "ts_rank({tokens}, %(query)s::tsquery, 1)"
"""The keyword score: `ts_rank` divided by 1 + the logarithm of the document length (normalisation 1).

Measured against SQLite's bm25 on banking77 (10,000 questions, 300 queries): the top 10 share 75 % of
their hits (top 50: 73 %); `ts_rank_cd` shares 67 % (67 %) and costs three times as much (it computes
covers, 87 ms against 29 ms p50 over 100,000 rows of one user); other normalisations share 46–58 %."""
SEARCHABLE = ("items", "skills")


def sql_limit(limit: int) -> int | None:
    """SQLite reads a negative LIMIT as no limit; PostgreSQL refuses it (and reads NULL as none)."""
    return None if limit < 0 else limit


def scope_params(scope: Scope) -> dict[str, Any]:
    return {"user": scope.user_id, "agent": scope.agent_id, "app": scope.app_id}


def as_vector(vector: np.ndarray | None) -> np.ndarray | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32)


def _searchable(table: str) -> str:
    if table not in SEARCHABLE:
        raise ValueError(f"no search over table {table!r}")
    return table


class SearchQueries(LocalIndexes, Host):
    """Vector and keyword search; see the module docstring."""

    url: str
    exact_search_below: int
    iterative_scan: bool
    _index_lock: threading.Lock
    _index_attempts: dict[tuple[str, int], threading.Thread]

    # -- vector search ----------------------------------------------------------------------------

    def vector_search(
        self,
        scope: Scope,
        table: str,
        kind: str,
        query: np.ndarray,
        limit: int,
        embedder_id: str | None = None,
    ) -> list[ScoredId]:
        """Nearest of a user's activated vectors by cosine (see the module docstring for exact vs HNSW).

        Only vectors of the query's length are compared, and with `embedder_id` only those that embedder
        made, so vectors left by an earlier embedder are skipped until they are re-embedded."""
        _searchable(table)
        if limit <= 0:
            return []
        dim = int(query.shape[0])
        local = self._local_index(scope.user_id, table, kind, dim, embedder_id)
        if local is not None:
            return [ScoredId(row_id, score) for row_id, score in local.search(scope, query, limit)]
        params = {**scope_params(scope), "kind": kind, "embedder": embedder_id, "limit": limit}
        params["query"] = np.asarray(query, dtype=np.float32)
        owned = "user_id = %(user)s AND status = 'activated'" + (
            " AND kind = %(kind)s" if table == "items" else ""
        )
        where = (
            f"{owned} AND vector_dims(vector) = {dim} "
            "AND (%(embedder)s::text IS NULL OR embedder = %(embedder)s) "
            "AND (%(agent)s::text IS NULL OR agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR app_id = %(app)s)"
        )

        def nearest(db: Db) -> list[tuple[Any, ...]]:
            if self.iterative_scan and dim <= HNSW_MAX_DIM:
                table_rows = db.execute(
                    "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", (table,)
                ).fetchone()
                # The index is worth it for a user large enough to be slow to scan exactly, and whose
                # share of the table is large enough that an index scan soon meets `limit` of their rows.
                enough = max(
                    self.exact_search_below, int(limit * float(table_rows[0] if table_rows else 0) / VISITS)
                )
                counted = db.execute(
                    f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {owned} LIMIT %(cap)s) AS capped",
                    {**params, "cap": enough},
                ).fetchone()
                if counted is not None and counted[0] >= enough:
                    self._ensure_vector_index(table, dim)
                    rows = self._approximate_search(db, table, dim, where, params)
                    if len(rows) >= limit:
                        return rows
                    # Fewer than asked: the filters left too few of the rows the index scan visited.
            # A zero vector has no direction (NaN distance); SQLite's dot product scores it 0.
            return db.execute(
                f"SELECT id, COALESCE(NULLIF(vector <=> %(query)s, 'NaN'), 1) AS distance FROM {table} "
                f"WHERE {where} ORDER BY distance LIMIT %(limit)s",
                params,
            ).fetchall()

        rows = self._read(nearest)
        scored = [(row[0], 0.0 if row[1] != row[1] else 1.0 - float(row[1])) for row in rows]
        scored.sort(key=lambda hit: -hit[1])
        return [ScoredId(item_id, score) for item_id, score in scored]

    @staticmethod
    def _approximate_search(
        db: Db, table: str, dim: int, where: str, params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The HNSW path: an iterative index scan over every user's vectors of this dimension, filtered.

        `relaxed_order` may return rows slightly out of order; the caller sorts them."""
        with db.transaction():
            db.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                "set_config('hnsw.max_scan_tuples', %s, true)",
                (str(min(1000, max(100, int(params["limit"])))), str(2 * VISITS)),
            )
            return db.execute(
                f"SELECT id, (vector::vector({dim})) <=> %(query)s::vector({dim}) AS distance FROM {table} "
                f"WHERE {where} ORDER BY distance LIMIT %(limit)s",
                params,
            ).fetchall()

    def _ensure_vector_index(self, table: str, dim: int) -> None:
        """Build the HNSW index for `dim` in the background, once per process (idempotent across them)."""
        key = (table, dim)
        with self._index_lock:
            if key in self._index_attempts:
                return
            build = threading.Thread(
                target=self._build_vector_index, args=key, name=f"hnsw-{table}-{dim}", daemon=True
            )
            self._index_attempts[key] = build
        build.start()

    def _build_vector_index(self, table: str, dim: int) -> None:
        try:
            self.create_vector_index(table, dim)
        except Exception:  # searches stay correct without the index, only slower
            log.exception("building the HNSW index of %s for %d dimensions failed", table, dim)

    def create_vector_index(self, table: str, dim: int) -> bool:
        """Build the partial HNSW index over `table`'s vectors of `dim` dimensions, unless it exists.

        Runs `CREATE INDEX CONCURRENTLY` on its own connection (writes go on meanwhile; it waits for open
        transactions), so never call it inside `transaction()`. Returns False when another process is
        building it right now. An index left invalid by an interrupted build is rebuilt.
        """
        _searchable(table)
        if not 0 < dim <= HNSW_MAX_DIM:
            raise InvalidRequest(f"HNSW indexes hold 1 to {HNSW_MAX_DIM} dimensions, not {dim}.")
        name = f"{table}_hnsw_{dim}"
        db = connect(self.url)
        locked: tuple[Any, ...] | None = None
        try:
            locked = db.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,)).fetchone()
            if not (locked and locked[0]):
                return False
            state = db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,))
            existing = state.fetchone()
            if existing is not None and existing[0]:
                return True
            if existing is not None:
                db.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            memory = db.execute(
                "SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'"
            )
            if int((memory.fetchone() or (0,))[0]) < 256 * 1024 * 1024:
                db.execute(
                    "SET maintenance_work_mem = '256MB'"
                )  # an HNSW graph built in memory is far faster
            db.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING hnsw "
                f"((vector::vector({dim})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
                f"WHERE vector_dims(vector) = {dim}"
            )
            log.info("built the HNSW index %s", name)
            return True
        finally:
            # Unlocked before closing: a closed session's locks go only when its server process ends,
            # a moment later, and a call right after this one would find the index "being built".
            if locked and locked[0] and not db.closed and not db.broken:
                db.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
            db.close()

    def keyword_search(self, scope: Scope, table: str, kind: str, match: str, limit: int) -> list[ScoredId]:
        """Full-text hits among a user's activated rows; score = ts_rank (`RANK`), higher is better."""
        return self.keyword_searches(scope, [(table, kind)], match, limit).get((table, kind), [])

    def keyword_searches(
        self, scope: Scope, lists: Sequence[tuple[str, str]], match: str, limit: int
    ) -> dict[tuple[str, str], list[ScoredId]]:
        """`keyword_search` of several lists in one statement (one round trip): a `UNION ALL` of one
        ranked, limited query per list, each planned on its own table's indexes."""
        query = tsquery(match)
        found: dict[tuple[str, str], list[ScoredId]] = {(table, kind): [] for table, kind in lists}
        if query is None or not lists:
            return found
        parts = []
        params: dict[str, Any] = {**self._keyword_params(scope, query), "limit": sql_limit(limit)}
        for number, (table, kind) in enumerate(lists):
            _searchable(table)
            params[f"kind{number}"] = kind
            kind_clause = f"AND t.kind = %(kind{number})s " if table == "items" else ""
            parts.append(
                f"(SELECT {number} AS list, t.id, {RANK.format(tokens='t.tokens')} AS rank, t.seq "
                f"FROM {table} t "
                f"WHERE t.tokens @@ %(filter)s::tsquery AND t.user_id = %(user)s {kind_clause}"
                "AND t.status = 'activated' AND (%(agent)s::text IS NULL OR t.agent_id = %(agent)s) "
                "AND (%(app)s::text IS NULL OR t.app_id = %(app)s) ORDER BY rank DESC, t.seq LIMIT %(limit)s)"
            )
        # A union keeps no order: each list is put back in its own (rank, then insertion order).
        union = " UNION ALL ".join(parts)
        rows = self._rows(f"SELECT * FROM ({union}) AS found ORDER BY list, rank DESC, seq", params)
        for number, row_id, rank, _ in rows:
            found[lists[number]].append(ScoredId(row_id, float(rank)))
        return found

    def pending_message_hits(self, scope: Scope, match: str, limit: int) -> list[tuple[Message, str, float]]:
        """Keyword hits among messages whose job has not finished: (message, conversation_id, rank)."""
        query = tsquery(match)
        if query is None:
            return []
        running = self._rows(
            "SELECT 1 FROM jobs WHERE user_id = %s AND status = 'running' LIMIT 1", (scope.user_id,)
        )
        if not running:  # the usual case: no full-text pass over every message of the user
            return []
        rows = self._rows(
            "SELECT m.id, m.role, m.content, m.chat_time, m.tool_calls, m.tool_call_id, m.conversation_id, "
            f"{RANK.format(tokens='m.tokens')} AS rank "
            "FROM messages m JOIN jobs j ON j.id = m.job_id "
            "WHERE m.tokens @@ %(filter)s::tsquery AND m.user_id = %(user)s AND j.status = 'running' "
            "AND (%(agent)s::text IS NULL OR m.agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR m.app_id = %(app)s) "
            "ORDER BY rank DESC, m.seq LIMIT %(limit)s",
            {**self._keyword_params(scope, query), "limit": sql_limit(limit)},
        )
        return [(message_from_row(row[:6]), row[6], float(row[7])) for row in rows]

    @staticmethod
    def _keyword_params(scope: Scope, query: str) -> dict[str, Any]:
        owner = owner_token(scope.user_id)
        return {**scope_params(scope), "query": query, "filter": f"'{owner}' & {query}"}

    def item_tokens(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each item's tokens as written (`indexed`); a row written before that column (migration 004)
        is segmented from its key and text again."""
        if not item_ids:
            return {}
        rows = self._rows(
            "SELECT id, indexed, kind, key, text, payload FROM items WHERE id = ANY(%s::text[])",
            (list(item_ids),),
        )
        return {
            item_id: (indexed.split(" ") if indexed else [])
            if indexed is not None
            else tokens(search_text(kind, key, text, json.loads(payload or "{}")))
            for item_id, indexed, kind, key, text, payload in rows
        }

    def term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """Nothing: PostgreSQL keeps no cheap count of the documents holding a lexeme (`ts_stat` reads
        every row), so a keyword query keeps the request's terms in written order."""
        return {}

    def vectors_of(
        self, table: str, ids: Sequence[str], dim: int, embedder_id: str | None = None
    ) -> dict[str, np.ndarray]:
        """The stored vectors of `ids` that are `dim` long (and, with `embedder_id`, made by it)."""
        _searchable(table)
        if not ids:
            return {}
        rows = self._rows(
            f"SELECT id, vector FROM {table} WHERE id = ANY(%(ids)s::text[]) "
            "AND vector_dims(vector) = %(dim)s "
            "AND (%(embedder)s::text IS NULL OR embedder = %(embedder)s)",
            {"ids": list(ids), "dim": dim, "embedder": embedder_id},
            binary=True,
        )
        return {row[0]: row[1] for row in rows}

    # -- re-embedding -----------------------------------------------------------------------------

    @staticmethod
    def _stale(table: str, embedder_id: str, dim: int | None) -> tuple[str, list[Any]]:
        """A condition on rows `t` of `table` whose vector another embedder made, and its parameters.

        Clusters keep no embedder id: a cluster is stale when its centroid has another length, or while
        its user has a stale item or skill (as in the SQLite store).
        """

        def own(alias: str) -> tuple[str, list[Any]]:
            clause = (
                f"{alias}.vector IS NOT NULL AND ({alias}.embedder IS DISTINCT FROM %s "
                f"OR (%s::int IS NOT NULL AND vector_dims({alias}.vector) <> %s))"
            )
            return clause, [embedder_id, dim, dim]

        if table in SEARCHABLE:
            return own("t")
        if table != "clusters":
            raise ValueError(f"no vectors in table {table!r}")
        item, item_params = own("i")
        skill, skill_params = own("s")
        clause = (
            "(%s::int IS NOT NULL AND vector_dims(t.centroid) <> %s) "
            f"OR EXISTS (SELECT 1 FROM items i WHERE i.user_id = t.user_id AND {item}) "
            f"OR EXISTS (SELECT 1 FROM skills s WHERE s.user_id = t.user_id AND {skill})"
        )
        return clause, [dim, dim, *item_params, *skill_params]

    def stale_vectors(
        self, table: str, embedder_id: str, dim: int | None, limit: int, after: str = ""
    ) -> list[str]:
        """Ids after `after`, in id order, of rows of `table` whose vector another embedder made (or whose
        length is not `dim`)."""
        clause, params = self._stale(table, embedder_id, dim)
        rows = self._rows(
            f"SELECT t.id FROM {table} t WHERE t.id > %s AND ({clause}) ORDER BY t.id LIMIT %s",
            [after, *params, sql_limit(limit)],
        )
        return [row[0] for row in rows]

    def count_stale_vectors(self, table: str, embedder_id: str, dim: int | None) -> int:
        clause, params = self._stale(table, embedder_id, dim)
        row = self._row(f"SELECT COUNT(*) FROM {table} t WHERE {clause}", params)
        return int(row[0]) if row else 0

    def set_vector(self, table: str, row_id: str, vector: np.ndarray, embedder_id: str) -> bool:
        """Replace a row's vector (a cluster's centroid) made by another embedder.

        An item's or skill's vector is left alone when one of `embedder_id` and the same length was
        written since it was found stale (its text changed meanwhile); returns whether it was replaced.
        """
        data = as_vector(vector)
        if table == "clusters":
            statement = "UPDATE clusters SET centroid = %s WHERE id = %s RETURNING user_id"
            params: tuple[Any, ...] = (data, row_id)
        elif table in SEARCHABLE:
            statement = (
                f"UPDATE {table} SET vector = %s, embedder = %s WHERE id = %s "
                "AND (embedder IS DISTINCT FROM %s OR vector IS NULL OR vector_dims(vector) <> %s) "
                "RETURNING user_id"
            )
            params = (data, embedder_id, row_id, embedder_id, len(vector))
        else:
            raise ValueError(f"no vectors in table {table!r}")

        def work(db: Db) -> bool:
            row = db.execute(statement, params).fetchone()
            if row is None:
                return False
            self._touch(row[0])
            return True

        return self._write(work)

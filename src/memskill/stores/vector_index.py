"""A process's in-memory vector index: one per (user, table, kind, dim, embedder), patched after a
write instead of reloaded. Both stores keep one (SQLite always, PostgreSQL for users below its HNSW
threshold).

An index holds the user's activated vectors as rows of a float32 buffer with room to grow. Rows below
`count` never change once written, except that a row can be marked dead (its memory was deleted,
archived or given a new vector, which is appended as a new row). So a search reads a consistent prefix
of the buffer while another thread patches the index, and a patch costs what changed, not the user's
whole matrix: at 100,000 memories a reload reads and decodes ~200 MB, an append copies one row.

Which rows changed comes from the store's `vector_log` (written by triggers, so no write path can skip
it, and read by every process): an index remembers how far into the log it is (`log_seq`: the last
entry on SQLite, the last revision on PostgreSQL) and, when the user's revision moves, re-reads the rows
of the entries after it and applies their current state. Applying a row twice is harmless, so entries
read twice after a concurrent write do no harm. An index reloads instead when the log was pruned past
it or when more than a quarter of its rows are dead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memskill.models import Scope

MIN_CAPACITY = 256
HEADROOM = 8
"""A built index has room for an eighth more rows (at least `MIN_CAPACITY`), so the writes after a load
append in place: a full buffer is copied into one twice its size, ~200 MB at 100,000 memories, which the
first search after the first write would wait for."""


@dataclass(frozen=True)
class Row:
    """One searchable row as the index needs it."""

    id: str
    agent_id: str | None
    app_id: str | None
    vector: np.ndarray


@dataclass
class VectorIndex:
    """A user's activated vectors of one kind, with room to grow (see the module docstring)."""

    dim: int
    revision: int = 0
    log_seq: int = 0
    count: int = 0
    dead: int = 0
    ids: list[str] = field(default_factory=list)
    agent_ids: list[str | None] = field(default_factory=list)
    app_ids: list[str | None] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    rows: dict[str, int] = field(default_factory=dict)
    """Row of each live id (only patches read it)."""

    @classmethod
    def build(cls, dim: int, rows: Sequence[Row], revision: int, log_seq: int) -> VectorIndex:
        index = cls(dim=dim, revision=revision, log_seq=log_seq)
        index._reserve(len(rows) + max(MIN_CAPACITY, len(rows) // HEADROOM))
        for row in rows:
            index._append(row)
        return index

    @property
    def live(self) -> int:
        return self.count - self.dead

    def needs_rebuild(self) -> bool:
        return self.count > 1000 and self.dead * 4 > self.count

    def apply(
        self, changed: Sequence[str], current: dict[str, Row | None], revision: int, log_seq: int
    ) -> None:
        """Bring the index to `revision`: each `changed` id gets its `current` row (None: not searchable)."""
        self._reserve(self.count + sum(1 for row in current.values() if row is not None))
        for row_id in dict.fromkeys(changed):
            old = self.rows.pop(row_id, None)
            if old is not None:
                self.alive[old] = False
                self.dead += 1
            row = current.get(row_id)
            if row is not None:
                self._append(row)
        self.revision, self.log_seq = revision, max(self.log_seq, log_seq)

    def search(self, scope: Scope, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """The `limit` best (id, cosine) among the live rows in `scope` (rows are unit length)."""
        count = self.count
        if count == 0 or self.live == 0:
            return []
        matrix, alive, ids = self.matrix, self.alive, self.ids
        scores = matrix[:count] @ query.astype(np.float32)
        scores = np.where(alive[:count], scores, -np.inf)
        if scope.agent_id is not None or scope.app_id is not None:
            mask = np.array(
                [
                    (scope.agent_id is None or a == scope.agent_id)
                    and (scope.app_id is None or p == scope.app_id)
                    for a, p in zip(self.agent_ids[:count], self.app_ids[:count])
                ],
                dtype=bool,
            )
            scores = np.where(mask, scores, -np.inf)
        top_count = min(limit, count)
        top = np.argpartition(-scores, top_count - 1)[:top_count]
        top = top[np.argsort(-scores[top])]
        return [(ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _reserve(self, size: int) -> None:
        """Room for `size` rows; a bigger buffer is a new array, so readers of the old one are unaffected."""
        if size <= self.matrix.shape[0] and self.matrix.shape[1] == self.dim:
            return
        capacity = max(MIN_CAPACITY, size, 2 * self.matrix.shape[0])
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        alive = np.zeros(capacity, dtype=bool)
        if self.count:
            matrix[: self.count] = self.matrix[: self.count]
            alive[: self.count] = self.alive[: self.count]
        self.matrix, self.alive = matrix, alive

    def _append(self, row: Row) -> None:
        at = self.count
        self.matrix[at] = row.vector
        self.alive[at] = True
        self.ids.append(row.id)
        self.agent_ids.append(row.agent_id)
        self.app_ids.append(row.app_id)
        self.rows[row.id] = at
        self.count = at + 1

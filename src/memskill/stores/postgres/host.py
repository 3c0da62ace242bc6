"""What every part of the PostgresStore calls on the store itself: reads, writes and the user's activity
mark. `PostgresStore` (store.py) implements them; the query mixins inherit these declarations so that each
is typed once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

T = TypeVar("T")


class Host:
    """The store's own methods its query mixins use."""

    def _read(self, fetch: Callable[[Db], T]) -> T:
        """`fetch` on a connection for reading (retried once on a dropped connection)."""
        raise NotImplementedError

    def _rows(self, query: str, params: Any = (), binary: bool = False) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        raise NotImplementedError

    def _row(self, query: str, params: Any = (), binary: bool = False) -> tuple[Any, ...] | None:
        """The first row of a query, if any."""
        raise NotImplementedError

    def _write(self, work: Callable[[Db], T]) -> T:
        """`work` in one transaction."""
        raise NotImplementedError

    def _touch(self, user_id: str) -> None:
        """Mark the user as active now (inside a write)."""
        raise NotImplementedError

"""What every part of the PostgresStore calls on the store itself: reads, writes and the user's activity
mark. `PostgresStore` (store.py) implements them; the query mixins inherit these declarations so that each
is typed once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

T = TypeVar("T")


class Host(ABC):
    """The store's own methods its query mixins use."""

    @abstractmethod
    def _read(self, fetch: Callable[[Db], T]) -> T:
        """`fetch` on a connection for reading (retried once on a dropped connection)."""

    @abstractmethod
    def _rows(self, query: str, params: Any = (), binary: bool = False) -> list[tuple[Any, ...]]:
        """All rows of a query."""

    @abstractmethod
    def _row(self, query: str, params: Any = (), binary: bool = False) -> tuple[Any, ...] | None:
        """The first row of a query, if any."""

    @abstractmethod
    def _write(self, work: Callable[[Db], T]) -> T:
        """`work` in one transaction."""

    @abstractmethod
    def _touch(self, user_id: str) -> None:
        """Mark the user as active now (inside a write)."""

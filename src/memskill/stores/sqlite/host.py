"""What every part of the SQLiteStore calls on the store itself: its connection, transactions, the
full-text index and the user's activity mark. `SQLiteStore` (store.py) implements them; the query mixins
inherit these declarations so that each is typed once."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager


class Host(ABC):
    """The store's own methods its query mixins use."""

    @abstractmethod
    def _db(self) -> sqlite3.Connection:
        """This thread's connection."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction (nested calls join the outer one)."""

    @abstractmethod
    def _index(self, table: str, seq: int, user_id: str, text: str) -> None:
        """Index a row's searchable text under its user."""

    @abstractmethod
    def _unindex(self, table: str, seq: int) -> None:
        """Take a row out of the full-text index."""

    @abstractmethod
    def _touch(self, user_id: str) -> None:
        """Mark the user as active now (inside a write)."""

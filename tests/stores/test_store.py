"""What only the SQLite store has: its migrations and its journal mode.

Everything a store promises the engine is checked for every backend in test_store_contract.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from memskill.stores.sqlite import SQLiteStore
from memskill.stores.sqlite.migrations import MIGRATIONS, apply_migrations


def test_migrations_are_named_recorded_and_idempotent(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert apply_migrations(db) == [name for name, _ in MIGRATIONS]
    assert apply_migrations(db) == []
    recorded = [row[0] for row in db.execute("SELECT name FROM schema_migrations")]
    assert recorded == [name for name, _ in MIGRATIONS]


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "m.db", isolation_level=None)

    def broken(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        apply_migrations(db, [("900_broken", broken)])
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    assert db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == 0


def test_wal_mode(store: SQLiteStore) -> None:
    assert store._db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"

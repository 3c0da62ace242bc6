"""Storage backends behind one protocol (`Store`), and `open_store`, which picks one from the settings."""

from __future__ import annotations

from pathlib import Path

from memskill.config import Settings
from memskill.stores.base import ClusterRow, IngestResult, ScoredId, Store, TaskRecordRow
from memskill.stores.sqlite import SQLiteStore

__all__ = ["ClusterRow", "IngestResult", "SQLiteStore", "ScoredId", "Store", "TaskRecordRow", "open_store"]


def open_store(settings: Settings) -> Store:
    """PostgreSQL when `settings.database_url` is set, else the SQLite file in the data directory."""
    if settings.database_url:
        from memskill.stores.postgres import PostgresStore

        return PostgresStore(settings.database_url)
    return SQLiteStore(Path(settings.data_dir).expanduser() / "memskill.db")

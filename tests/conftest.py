"""Shared fixtures: every test gets its own data directory and a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memskill.config import Settings
from memskill.engine import Memory
from memskill.providers.embedders import HashingEmbedder, OfflineEmbedder
from memskill.stores.sqlite import SQLiteStore

pytest_plugins = ["browser_helpers", "store_backends"]


@pytest.fixture(scope="session")
def offline_embedder() -> OfflineEmbedder:
    """One real offline embedder per test session (its weights load once)."""
    return OfflineEmbedder()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "memskill.db")
    yield db
    db.close()


@pytest.fixture
def memory(tmp_path: Path, offline_embedder: OfflineEmbedder) -> Iterator[Memory]:
    """An engine with the real offline embedder and no background workers (tests call async_mode=False)."""
    engine = Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=offline_embedder)
    yield engine
    engine.close()


@pytest.fixture
def fast_memory(tmp_path: Path) -> Iterator[Memory]:
    """An engine with the hashing embedder: for tests of semantics that do not depend on meaning."""
    engine = Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=HashingEmbedder())
    yield engine
    engine.close()

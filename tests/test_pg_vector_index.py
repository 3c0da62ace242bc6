"""PostgreSQL's in-process vector index: patched from `vector_log` after writes (its own and another
process's), never reloaded for them, read again behind a pruned log, and not kept for a user too large
(searched in the database instead)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from store_backends import fresh_postgres_url

from memskill.models import MemoryItem, Scope
from memskill.stores import pg_vectors
from memskill.stores.postgres import PostgresStore
from memskill.stores.vector_index import VectorIndex

DIM = 8
E = "test-embedder"
U = Scope("u1")


def unit(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i % DIM] = 1.0
    vector[(i + 1) % DIM] = 0.1 * (i // DIM + 1)
    return vector / np.linalg.norm(vector)


def item(item_id: str, kind: str = "fact") -> MemoryItem:
    return MemoryItem(id=item_id, user_id="u1", kind=kind, key="k", text=item_id, conversation_id="c")


def nearest(store: PostgresStore, i: int, limit: int = 3) -> list[str]:
    return [hit.id for hit in store.vector_search(U, "items", "fact", unit(i), limit, E)]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as fresh:
        yield fresh


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full index builds."""
    calls: list[int] = []
    original = VectorIndex.build.__func__  # type: ignore[attr-defined]

    def counted(cls: type[VectorIndex], *args: object, **kwargs: object) -> VectorIndex:
        calls.append(1)
        return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(VectorIndex, "build", classmethod(counted))
    return calls


def test_writes_of_this_and_another_process_patch_the_index(url: str, builds: list[int]) -> None:
    searcher, writer = PostgresStore(url), PostgresStore(url)
    try:
        for i in range(20):
            writer.insert_item(item(f"i{i}"), unit(i), E)
        assert nearest(searcher, 3)[0] == "i3" and len(builds) == 1
        writer.insert_item(item("new"), unit(3) * 0.999 + unit(4) * 0.001, E)
        assert sorted(nearest(searcher, 3)[:2]) == ["i3", "new"]
        writer.delete_items(["i3"])
        assert "i3" not in nearest(searcher, 3)
        searcher.update_item(replace(item("new"), status="archived"))
        assert "new" not in nearest(searcher, 3, limit=20)
        writer.update_item(replace(item("i5")), unit(3), E)  # a new vector for an existing memory
        assert nearest(searcher, 3)[0] == "i5" and nearest(searcher, 5)[0] != "i5"
        writer.insert_item(item("p1", kind="preference"), unit(3), E)  # another kind: not in this index
        assert "p1" not in nearest(searcher, 3, limit=30)
        assert len(builds) == 1, "no write reloaded the index"
        stamped = searcher._rows("SELECT count(*) FROM vector_log WHERE revision IS NULL")
        assert stamped[0][0] == 0, "every committed entry carries its revision"
    finally:
        searcher.close()
        writer.close()


def test_an_index_behind_a_pruned_log_reads_the_rows_again(
    url: str, builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_vectors, "LOG_KEEP", 2)
    monkeypatch.setattr("memskill.stores.postgres.LOG_PRUNE_EVERY", 5)
    store = PostgresStore(url)
    try:
        store.insert_item(item("first"), unit(0), E)
        assert nearest(store, 0) == ["first"] and len(builds) == 1
        for i in range(1, 12):
            store.insert_item(item(f"i{i}"), unit(i), E)
        assert store._rows("SELECT log_floor FROM revisions WHERE user_id = 'u1'")[0][0] > 0
        assert nearest(store, 7)[0] == "i7" and len(builds) == 2  # the entries it needed are gone
    finally:
        store.close()


def test_a_user_too_large_for_an_index_is_searched_in_the_database(url: str, builds: list[int]) -> None:
    store = PostgresStore(url, exact_search_below=5)
    try:
        for i in range(8):
            store.insert_item(item(f"i{i}"), unit(i), E)
        assert nearest(store, 6)[0] == "i6" and nearest(store, 2)[0] == "i2"
        assert builds == [] and not store._held
    finally:
        store.close()


def test_an_item_s_tokens_follow_its_text(url: str) -> None:
    """The tokens a process keeps per item are computed again when the item's text changes."""
    store = PostgresStore(url)
    try:
        store.insert_item(replace(item("t1"), text="alpha plan"), unit(0), E)
        assert "alpha" in store.item_tokens(["t1"])["t1"]
        store.update_item(replace(item("t1"), text="beta plan"))
        tokens = store.item_tokens(["t1"])["t1"]
        assert "beta" in tokens and "alpha" not in tokens
    finally:
        store.close()

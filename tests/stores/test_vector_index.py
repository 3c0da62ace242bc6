"""The in-memory vector index is patched after writes, never reloaded for them, and stays coherent with
writes made through another connection (another process). SQLite keeps one per user; PostgreSQL for users
below its HNSW threshold (a larger user is searched in the database), and reads everything again behind
a pruned log on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from store_backends import fresh_postgres_url

from memskill.models import MemoryItem, Scope
from memskill.stores import vector_index
from memskill.stores.postgres import PostgresStore
from memskill.stores.postgres import vectors as pg_vectors
from memskill.stores.sqlite import SQLiteStore
from memskill.stores.sqlite import store as sqlite_module
from memskill.stores.vector_index import Row, VectorIndex

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


def nearest(store: SQLiteStore | PostgresStore, i: int, limit: int = 3) -> list[str]:
    return [hit.id for hit in store.vector_search(U, "items", "fact", unit(i), limit, E)]


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


def test_writes_patch_the_index_instead_of_reloading_it(tmp_path: Path, builds: list[int]) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    for i in range(20):
        store.insert_item(item(f"i{i}"), unit(i), E)
    assert nearest(store, 3)[0] == "i3" and len(builds) == 1
    store.insert_item(item("new"), unit(3) * 0.999 + unit(4) * 0.001, E)
    assert nearest(store, 3)[:2] in (["i3", "new"], ["new", "i3"])
    store.delete_items(["i3"])
    assert "i3" not in nearest(store, 3)
    store.update_item(replace(item("new"), status="archived"))
    assert "new" not in nearest(store, 3, limit=20)
    store.update_item(replace(item("i5")), unit(3), E)  # a new vector for an existing memory
    assert nearest(store, 3)[0] == "i5" and nearest(store, 5)[0] != "i5"
    store.insert_item(item("p1", kind="preference"), unit(3), E)  # another kind: not in the fact index
    assert "p1" not in nearest(store, 3, limit=30)
    assert len(builds) == 1, "no write reloaded the index"
    store.close()


def test_another_connection_s_writes_are_seen(tmp_path: Path, builds: list[int]) -> None:
    searcher, writer = SQLiteStore(tmp_path / "m.db"), SQLiteStore(tmp_path / "m.db")
    for i in range(10):
        writer.insert_item(item(f"i{i}"), unit(i), E)
    assert nearest(searcher, 2)[0] == "i2"
    writer.insert_item(item("far"), unit(2), E)
    writer.delete_items(["i2"])
    assert nearest(searcher, 2)[0] == "far" and "i2" not in nearest(searcher, 2, limit=20)
    assert len(builds) == 1
    searcher.close()
    writer.close()


def test_an_index_behind_a_pruned_log_reloads(
    tmp_path: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "LOG_KEEP", 2)
    monkeypatch.setattr(sqlite_module, "LOG_PRUNE_EVERY", 5)
    store = SQLiteStore(tmp_path / "m.db")
    db = store._db()
    outrun_the_log(store, builds, lambda: db.execute(LOG_FLOOR).fetchone()[0])
    assert db.execute("SELECT count(*) FROM vector_log WHERE user_id = 'u1'").fetchone()[0] <= 7
    store.close()


LOG_FLOOR = "SELECT log_floor FROM revisions WHERE user_id = 'u1'"


def outrun_the_log(
    store: SQLiteStore | PostgresStore, builds: list[int], log_floor: Callable[[], int]
) -> None:
    """Build a user's index, write past what the (shortened) log keeps, and search again: the index
    cannot be patched and is read again."""
    store.insert_item(item("first"), unit(0), E)
    assert nearest(store, 0) == ["first"] and len(builds) == 1
    for i in range(1, 12):
        store.insert_item(item(f"i{i}"), unit(i), E)
    assert log_floor() > 0
    assert nearest(store, 7)[0] == "i7" and len(builds) == 2  # reloaded: the entries it needed are gone


def test_many_dead_rows_are_compacted_by_a_rebuild(tmp_path: Path, builds: list[int]) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    with store.transaction():
        for i in range(1200):
            store.insert_item(item(f"i{i}"), unit(i), E)
    assert len(nearest(store, 1)) == 3 and len(builds) == 1
    for start in range(0, 400, 40):  # small batches: each is patched, the dead rows add up
        store.delete_items([f"i{i}" for i in range(start, start + 40)])
        nearest(store, 1)
    assert len(builds) == 2  # past a quarter dead, the next patch rebuilt instead
    index = next(iter(store._vectors.values()))
    assert index.live == 800 and index.count == 840  # rebuilt with 840 live rows, then one more batch patched
    store.close()


def test_the_writes_after_a_load_append_in_place() -> None:
    """A loaded index has headroom: the first writes do not copy the whole matrix into a bigger one."""
    rng = np.random.default_rng(3)

    def row(n: int) -> Row:
        vector = rng.standard_normal(8).astype(np.float32)
        return Row(f"m{n}", None, None, vector / np.linalg.norm(vector))

    index = VectorIndex.build(8, [row(n) for n in range(4_000)], revision=1, log_seq=1)
    buffer = index.matrix
    for n in range(4_000, 4_000 + 4_000 // vector_index.HEADROOM):
        new = row(n)
        index.apply([new.id], {new.id: new}, revision=n, log_seq=n)
    assert index.matrix is buffer and index.live == 4_500
    assert index.search(Scope("u"), new.vector, 1)[0][0] == new.id
    newer = row(9_999)
    index.apply([newer.id], {newer.id: newer}, revision=10_000, log_seq=10_000)
    assert index.matrix is not buffer and index.search(Scope("u"), newer.vector, 1)[0][0] == newer.id


def test_a_long_request_keeps_its_rarest_terms_for_the_keyword_query(tmp_path: Path) -> None:
    from memskill.text import match_query

    store = SQLiteStore(tmp_path / "m.db")
    for i in range(30):
        store.insert_item(replace(item(f"c{i}"), text=f"please plan the trip number {i}"), None, None)
    store.insert_item(replace(item("rare"), text="please plan the trip to Kyoto with Hiroshi"), None, None)
    counts = store.term_counts(["please", "plan", "kyoto", "hiroshi", "unknown"])
    assert counts["please"] == 31 and counts["kyoto"] == 1 and "unknown" not in counts
    match = match_query("please plan the trip to Kyoto with Hiroshi", 2, store.term_counts)
    assert match == '"kyoto" OR "hiroshi"'
    # Terms no memory holds find nothing: the rarest terms that exist are kept instead.
    assert match_query("Osaka Nara Kobe Kyoto Hiroshi", 2, store.term_counts) == '"kyoto" OR "hiroshi"'
    assert keyword_ids(store, match) == ["rare"]
    assert match_query("plan Kyoto", 2, store.term_counts) == '"plan" OR "kyoto"'  # short: as written
    store.close()


def keyword_ids(store: SQLiteStore, match: str) -> list[str]:
    return [hit.id for hit in store.keyword_search(U, "items", "fact", match, 10)]


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as fresh:
        yield fresh


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
    monkeypatch.setattr("memskill.stores.postgres.store.LOG_PRUNE_EVERY", 5)
    store = PostgresStore(url)
    try:
        outrun_the_log(store, builds, lambda: store._rows(LOG_FLOOR)[0][0])
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
    """An item's stored tokens are rewritten with its text, and a row without them is segmented."""
    store = PostgresStore(url)
    try:
        store.insert_item(replace(item("t1"), text="alpha plan"), unit(0), E)
        assert "alpha" in store.item_tokens(["t1"])["t1"]
        store.update_item(replace(item("t1"), text="beta plan"))
        tokens = store.item_tokens(["t1"])["t1"]
        assert "beta" in tokens and "alpha" not in tokens
        # A row written before the `indexed` column is segmented again: the same tokens as stored ones.
        store.update_item(replace(item("t1"), text="gamma plan"))
        stored = store.item_tokens(["t1"])["t1"]
        with store.transaction(), store._connection() as db:
            db.execute("UPDATE items SET indexed = NULL WHERE id = 't1'")
        assert "gamma" in stored and store.item_tokens(["t1"])["t1"] == stored
    finally:
        store.close()


def test_concurrent_writers_never_leave_a_patched_index_behind(url: str) -> None:
    """Two processes' writes for one user commit in any order while a third searches: every search
    patches, and the patched index ends with exactly the rows a fresh read finds (entries are numbered
    by the revision taken at commit, so none committed late is skipped)."""
    import threading

    searcher, writers = PostgresStore(url), [PostgresStore(url), PostgresStore(url)]
    try:
        searcher.insert_item(item("seed"), unit(0), E)
        nearest(searcher, 0)
        stop = threading.Event()

        def write(store: PostgresStore, prefix: str) -> None:
            for n in range(40):
                with store.transaction():
                    store.insert_item(item(f"{prefix}{n}"), unit(n), E)
                    if n % 5 == 4:
                        store.delete_items([f"{prefix}{n - 2}"])

        def search() -> None:
            while not stop.is_set():
                nearest(searcher, 1, limit=5)

        threads = [threading.Thread(target=write, args=(w, p)) for w, p in zip(writers, ("a", "b"))]
        reader = threading.Thread(target=search)
        reader.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        reader.join()
        patched = searcher._local_index("u1", "items", "fact", DIM, E)
        fresh = {row.id for row in searcher._searchable_rows(("u1", "items", "fact", DIM, E))}
        assert patched is not None and set(patched.rows) == fresh and len(fresh) == 1 + 2 * (40 - 8)
    finally:
        for store in (searcher, *writers):
            store.close()

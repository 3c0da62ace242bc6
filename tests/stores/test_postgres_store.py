"""What is particular to `PostgresStore`, beyond the backend-agnostic contract (test_store_contract.py).

The text tests run everywhere: the words PostgreSQL indexes are compared with SQLite FTS5's own
vocabulary. The others need a server (`MEMSKILL_TEST_DATABASE_URL`, see store_backends.py) and get a
fresh database each.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_backends import fresh_postgres_url

from memskill.config import Limits, Settings
from memskill.demo import demo_data
from memskill.engine import Memory
from memskill.errors import InternalError, InvalidRequest
from memskill.ingest import normalise_messages
from memskill.models import Job, MemoryItem, Scope
from memskill.providers.embedders import HashingEmbedder
from memskill.stores.postgres import PostgresStore
from memskill.stores.postgres.migrations import MIGRATIONS
from memskill.stores.postgres.text import lexemes, tsquery
from memskill.stores.sqlite import SQLiteStore
from memskill.text import index_text, match_query

TEXTS = [
    "我想去成都看大熊猫，顺便逛逛博物馆",
    "Likes HIKING in the Alps; hates crowded_places",
    "Café au lait at the naïve Ångström bar, 3.5 stars",
    "周末去 museum 看展, e-mail me at x.y@z.com",
    "İstanbul trip: ǅemal's ﬁsh restaurant (Straße 5)",
    "Plan dinners: no spicy food, kids are 4 and 7",
    "帮我规划云南7天的行程，不要太赶",
    "review_pull_request checklist v2.1 — run tests first",
]


def unit(dim: int, seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def item(item_id: str, text: str, user: str = "u1", agent: str | None = None) -> MemoryItem:
    return MemoryItem(
        id=item_id,
        user_id=user,
        kind="fact",
        key="k",
        text=text,
        conversation_id="c1",
        agent_id=agent,
        create_time=1,
        update_time=1,
    )


def job(job_id: str, user: str = "u1") -> Job:
    return Job(id=job_id, user_id=user, conversation_id="c1", kind="ingest", status="running")


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_postgres_url() as database:
        yield database


@pytest.fixture
def pg(url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(url)
    yield store
    store.close()


OURS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'memskill' "
    "AND datname = current_database()"
)
"""Ends this test's store connections (this database only: other tests' servers are left alone)."""


def admin(url: str, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# -- the words indexed (no server needed) --------------------------------------------------------------


def _fts5_vocabulary(texts: list[str]) -> set[str]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5 (tokens)")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab (f, row)")
    db.executemany("INSERT INTO f (tokens) VALUES (?)", [(index_text(t),) for t in texts])
    return {row[0] for row in db.execute("SELECT term FROM v")}


def test_lexemes_are_the_words_fts5_indexes() -> None:
    demo = [
        m["content"]
        for user in demo_data()["users"]
        for conversation in user["conversations"]
        for m in conversation["messages"]
        if m.get("content")
    ]
    for text in [*TEXTS, *demo]:
        assert set(lexemes(text)) == _fts5_vocabulary([text]), text


def test_match_expressions_become_tsqueries() -> None:
    assert tsquery(match_query("熊猫 and museums") or "") == "(('熊猫') | ('museums'))"
    assert tsquery('"crowded_places"') == "('crowded' <-> 'places')"  # one FTS5 phrase of two tokens
    assert tsquery('"Café"') == "('cafe')"
    assert tsquery('"it\'s"') == "('it' <-> 's')"
    assert tsquery("a b NOT c OR (d AND e)") == "((('a') & (('b') & !('c'))) | (('d') & ('e')))"
    assert tsquery('"_" OR "x"') == "('x')"  # a term without words drops out
    assert tsquery('""') is None and tsquery("OR") is None


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "pgvector.psycopg", None)
    with pytest.raises(InvalidRequest, match=r"memskill\[postgres\]"):
        PostgresStore("postgresql://postgres@127.0.0.1:9/none")


def test_an_unreachable_server_or_a_broken_url_is_a_clear_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(
        InternalError, match=r"cannot connect to PostgreSQL at postgres@127\.0\.0\.1:9/none"
    ) as error:
        PostgresStore("postgresql://postgres:secret@127.0.0.1:9/none")
    assert "secret" not in str(error.value)
    with pytest.raises(InvalidRequest, match="not a valid PostgreSQL connection URL"):
        PostgresStore("postgresql://127.0.0.1:9/none?no_such_option=1")


# -- schema ---------------------------------------------------------------------------------------------


def test_processes_opening_a_new_database_at_once_migrate_it_once(url: str) -> None:
    stores: list[PostgresStore] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        store = PostgresStore(url, pool_size=1)
        with lock:
            stores.append(store)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(stores) == 4
    names = [name for name, _ in MIGRATIONS]
    assert sorted(s.applied_migrations for s in stores) == [[], [], [], names]
    assert [row[0] for row in admin(url, "SELECT name FROM schema_migrations")] == names
    for store in stores:
        store.close()
    again = PostgresStore(url)
    assert again.applied_migrations == []
    again.close()


# -- keyword search -------------------------------------------------------------------------------------


def test_keyword_matches_are_those_of_sqlite(pg: PostgresStore, tmp_path: Path) -> None:
    lite = SQLiteStore(tmp_path / "m.db")
    texts = [*TEXTS, "大熊猫基地几点开门", "hiking boots for the alps", "museum café"]
    for n, text in enumerate(texts):
        for store in (pg, lite):
            store.insert_item(item(f"i{n}", text), None, None)
    queries = ["大熊猫", "熊猫", "博物馆", "hiking alps", "cafe", "Café", "crowded places", "crowded_places"]
    queries += ["Straße", "stanbul", "3.5", "e-mail", "museum 看展", "review pull request", "v2", "nothing"]
    for text in queries:
        match = match_query(text)
        assert match is not None
        found = {h.id for h in pg.keyword_search(Scope("u1"), "items", "fact", match, 50)}
        assert found == {h.id for h in lite.keyword_search(Scope("u1"), "items", "fact", match, 50)}, text
    lite.close()


# -- vector search --------------------------------------------------------------------------------------


def _plan(url: str, statement: str, params: dict[str, Any]) -> str:
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as db:
        register_vector(db)
        with db.transaction():
            db.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            return "\n".join(row[0] for row in db.execute("EXPLAIN " + statement, params))


def test_large_users_are_searched_through_hnsw_small_ones_exactly(url: str) -> None:
    store = PostgresStore(url, exact_search_below=100)
    rng = np.random.default_rng(0)
    vectors = {
        user: (rng.standard_normal((count, 32)) / np.sqrt(32)).astype(np.float32)
        for user, count in (("big", 300), ("other", 1500), ("small", 60))
    }
    with store.transaction():
        for user, rows in vectors.items():
            for n, vector in enumerate(rows):
                agent = "a1" if user == "big" and n < 5 else None
                store.insert_item(item(f"{user}-{n:04d}", "text", user, agent), vector, "e1")
    assert store.create_vector_index("items", 32)
    assert store.create_vector_index("items", 32)  # already there
    admin(url, "ANALYZE items")

    hnsw = _plan(
        url,
        "SELECT id FROM items WHERE user_id = 'big' AND status = 'activated' AND kind = 'fact' "
        "AND vector_dims(vector) = 32 ORDER BY (vector::vector(32)) <=> %(q)s::vector(32) LIMIT 20",
        {"q": unit(32, 1)},
    )
    assert "items_hnsw_32" in hnsw
    exact = _plan(
        url,
        "SELECT id FROM items WHERE user_id = 'big' AND status = 'activated' AND kind = 'fact' "
        "AND vector_dims(vector) = 32 ORDER BY vector <=> %(q)s LIMIT 20",
        {"q": unit(32, 1)},
    )
    assert "hnsw" not in exact

    for n in (0, 17, 299):  # a stored vector is its own nearest neighbour, on either path
        query = vectors["big"][n] / np.linalg.norm(vectors["big"][n])
        hits = store.vector_search(Scope("big"), "items", "fact", query, 20)
        assert len(hits) == 20 and all(h.id.startswith("big-") for h in hits)
        assert hits[0].id == f"big-{n:04d}" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    small = store.vector_search(Scope("small"), "items", "fact", vectors["small"][3], 100)
    assert len(small) == 60 and small[0].id == "small-0003"
    # The agent's 5 rows are too few for the index scan to fill a page of 20: redone exactly.
    scoped = store.vector_search(Scope("big", agent_id="a1"), "items", "fact", unit(32, 2), 20)
    assert sorted(h.id for h in scoped) == [f"big-{n:04d}" for n in range(5)]
    store.close()


def test_the_first_large_search_builds_the_index_in_the_background(url: str) -> None:
    store = PostgresStore(url, exact_search_below=10)
    for n in range(12):
        store.insert_item(item(f"i{n}", "text"), unit(16, n), "e1")
    assert admin(url, "SELECT to_regclass('items_hnsw_16')") == [(None,)]
    hits = store.vector_search(Scope("u1"), "items", "fact", unit(16, 3), 5)
    assert hits[0].id == "i3"
    store.close()  # waits for the build
    assert admin(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('items_hnsw_16')") == [
        (True,)
    ]


def test_a_zero_vector_scores_zero_as_in_sqlite(pg: PostgresStore) -> None:
    pg.insert_item(item("zero", "text"), np.zeros(8, dtype=np.float32), "e1")
    pg.insert_item(item("away", "text"), -unit(8, 1), "e1")
    hits = pg.vector_search(Scope("u1"), "items", "fact", unit(8, 1), 5)
    assert [(h.id, round(h.score, 4)) for h in hits] == [("zero", 0.0), ("away", -1.0)]


# -- concurrency and failures ---------------------------------------------------------------------------


def test_the_same_call_sent_to_two_processes_at_once_is_stored_once(url: str) -> None:
    first, second = PostgresStore(url), PostgresStore(url)  # two pools: as two processes
    calls = [
        normalise_messages([{"role": "user", "content": f"第{n}次：我想去成都"}], f"c{n}", "u1", Limits())
        for n in range(20)
    ]
    duplicates: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def send(store: PostgresStore) -> None:
        start.wait()
        for n, messages in enumerate(calls):
            result = store.ingest(Scope("u1"), f"c{n}", messages, job(f"t{n}"), {})
            with lock:
                duplicates.append(result.duplicate)

    threads = [threading.Thread(target=send, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(duplicates) == [False] * 20 + [True] * 20
    assert admin(url, "SELECT COUNT(*) FROM messages") == [(20,)]
    assert first.count_jobs("running") == 20
    first.close()
    second.close()


def test_a_deadlock_between_two_writers_is_retried(pg: PostgresStore) -> None:
    pg.insert_item(item("a", "one"), None, None)
    pg.insert_item(item("b", "two"), None, None)
    both_locked_one = threading.Barrier(2, timeout=10)
    attempts: list[str] = []
    errors: list[BaseException] = []

    def write(first: str, second: str) -> None:
        mark = 0.1 if first == "a" else 0.2

        def work(db: Any) -> None:
            attempts.append(first)
            db.execute("UPDATE items SET confidence = %s WHERE id = %s", (mark, first))
            if len(attempts) <= 2:
                both_locked_one.wait()
            db.execute("UPDATE items SET confidence = %s WHERE id = %s", (mark, second))

        try:
            pg._write(work)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(attempts) == 3  # one of the two ran again after PostgreSQL broke the cycle
    assert len({i.confidence for i in pg.get_items(["a", "b"])}) == 1  # the one run last wrote both rows


def test_other_threads_see_a_transaction_only_once_it_commits(url: str) -> None:
    store = PostgresStore(url, pool_size=2)
    inside, checked = threading.Event(), threading.Event()
    seen: list[bool] = []

    def reader() -> None:
        inside.wait(10)
        seen.append(store.get_item("i1") is not None)
        checked.set()

    thread = threading.Thread(target=reader)
    thread.start()
    with store.transaction():
        store.insert_item(item("i1", "text"), None, None)
        assert store.get_item("i1") is not None
        inside.set()
        checked.wait(10)
    thread.join(10)
    assert seen == [False] and store.get_item("i1") is not None
    store.close()


def test_more_threads_than_connections_share_the_pool(url: str) -> None:
    store = PostgresStore(url, pool_size=2)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for n in range(15):
                with store.transaction():
                    store.insert_item(item(f"t{thread}-{n}", "museum trip"), unit(8, n), "e1")
                assert store.vector_search(Scope("u1"), "items", "fact", unit(8, n), 3)
                assert store.keyword_search(Scope("u1"), "items", "fact", '"museum"', 3)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(store.list_items(Scope("u1"), ["fact"])) == 90
    assert admin(url, OURS.replace("pg_terminate_backend(pid)", "COUNT(*)")) == [(2,)]
    store.close()


def test_revisions_count_transactions_per_user(pg: PostgresStore) -> None:
    with pg.transaction():
        pg.insert_item(item("a", "one"), None, None)
        pg.insert_item(item("b", "two"), None, None)
        pg.insert_item(item("c", "three", user="u2"), None, None)
    pg.delete_items(["a"])
    assert (pg._revision("u1"), pg._revision("u2"), pg._revision("nobody")) == (2, 1, 0)


def test_connections_killed_by_the_server_are_replaced(url: str) -> None:
    store = PostgresStore(url, pool_size=2)
    store.insert_item(item("a", "one"), None, None)
    assert admin(url, OURS) == [(True,)]  # a dead connection is all the pool holds
    assert store.get_item("a") is not None  # a read retries on a new connection
    assert admin(url, OURS) == [(True,)]

    store.insert_item(item("b", "two"), None, None)  # so does a write that never reached COMMIT
    assert [i.id for i in store.get_items(["a", "b"])] == ["a", "b"]
    store.close()


def test_nul_characters_are_refused_clearly(pg: PostgresStore) -> None:
    messages = normalise_messages([{"role": "user", "content": "a\x00b"}], "c1", "u1", Limits())
    with pytest.raises(InvalidRequest, match="NUL"):
        pg.ingest(Scope("u1"), "c1", messages, job("t1"), {})
    assert pg.get_job("t1") is None
    ok = normalise_messages([{"role": "user", "content": "ab"}], "c1", "u1", Limits())
    assert not pg.ingest(Scope("u1"), "c1", ok, job("t1"), {}).duplicate


# -- the engine on PostgreSQL ---------------------------------------------------------------------------


def _search(memory: Memory, user: str, query: str) -> list[tuple[str, float, list[str]]]:
    """Each list of a search as (list, relativity, what was found at that relativity), best first.

    Hits of equal relativity are ordered by how the two searches ranked them, where the backends may
    differ (bm25 and ts_rank_cd), so each tie is compared as a set; skills, whose ids are random, by name
    and description. A tie that the list's limit cuts through is compared by its size only: which of
    the equal hits made the cut is that same backend-dependent order."""
    found = memory.search_memory(
        query=query,
        user_id=user,
        include_preference=True,
        include_tool_memory=True,
        include_skill=True,
        relativity=0.0,
    )
    ties: dict[tuple[str, float], list[str]] = {}
    for name, entries in found.items():
        for entry in entries if isinstance(entries, list) else []:
            value = entry.get("skill_value")
            key = f"{value['name']}: {value['description']}" if value else entry["id"]
            ties.setdefault((name, round(float(entry["relativity"]), 3)), []).append(key)
    limits = {"memory_detail_list": 9, "preference_detail_list": 9, "tool_memory_detail_list": 6}
    groups = sorted(ties.items(), key=lambda t: (t[0][0], -t[0][1]))
    out: list[tuple[str, float, list[str]]] = []
    for index, ((name, score), keys) in enumerate(groups):
        last = index + 1 == len(groups) or groups[index + 1][0][0] != name
        full = len(found[name]) >= limits.get(name, 6)
        out.append((name, score, [f"{len(keys)} tied at the cut"] if last and full else sorted(keys)))
    return out


def test_memory_on_postgres_finds_what_it_finds_on_sqlite(url: str, tmp_path: Path) -> None:
    data = demo_data()
    engines = []
    for name, store in (("sqlite", None), ("postgres", PostgresStore(url))):
        settings = Settings(data_dir=tmp_path / name, workers=0, embedder="hashing")
        engines.append(Memory(settings=settings, store=store, embedder=HashingEmbedder()))
    for engine in engines:
        for user in data["users"]:
            for conversation in user["conversations"]:
                engine.add_message(
                    user_id=user["user_id"],
                    conversation_id=conversation["conversation_id"],
                    messages=conversation["messages"],
                    async_mode=False,
                )
    queries = [data["query"], "博物馆", "天气", "weather in Chengdu", "不要商场"]
    for user in data["users"]:
        for query in queries:
            on_sqlite, on_postgres = (_search(engine, user["user_id"], query) for engine in engines)
            assert on_sqlite and on_postgres == on_sqlite, (user["user_id"], query)
    for engine in engines:
        engine.close()

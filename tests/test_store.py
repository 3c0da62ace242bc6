from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from memskill.config import Limits
from memskill.ingest import normalise_messages
from memskill.models import Job, MemoryItem, Scope
from memskill.stores.migrations import MIGRATIONS, apply_migrations
from memskill.stores.sqlite import SQLiteStore
from memskill.text import match_query


def _job(job_id: str, user: str = "u1") -> Job:
    return Job(id=job_id, user_id=user, conversation_id="c1", kind="ingest", status="running")


def _item(item_id: str, user: str, text: str, kind: str = "fact") -> MemoryItem:
    return MemoryItem(
        id=item_id,
        user_id=user,
        kind=kind,
        key="k",
        text=text,
        conversation_id="c1",  # type: ignore[arg-type]
        create_time=1,
        update_time=1,
    )


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


def test_ingest_stores_messages_and_job_once(store: SQLiteStore) -> None:
    scope = Scope("u1")
    messages = normalise_messages([{"role": "user", "content": "我想去成都旅游"}], "c1", "u1", Limits())
    first = store.ingest(scope, "c1", messages, _job("t1"), {})
    again = store.ingest(scope, "c1", messages, _job("t1"), {})
    assert first.new_message_ids == (messages[0].id,)
    assert again.duplicate and again.job.id == "t1"
    assert len(store.recent_messages("u1", "c1", 10)) == 1


def test_pending_messages_are_found_by_keyword_and_only_for_their_user(store: SQLiteStore) -> None:
    for user in ("u1", "u2"):
        messages = normalise_messages([{"role": "user", "content": "我想去成都看熊猫"}], "c1", user, Limits())
        store.ingest(Scope(user), "c1", messages, _job("t-" + user, user), {})
    match = match_query("熊猫")
    assert match is not None
    hits = store.pending_message_hits(Scope("u1"), match, 10)
    assert len(hits) == 1 and "熊猫" in hits[0][0].content
    store.finish_job("t-u1", "completed")
    assert store.pending_message_hits(Scope("u1"), match, 10) == []


def test_claim_leases_one_job_per_user_in_order(store: SQLiteStore) -> None:
    for index in range(2):
        messages = normalise_messages([{"role": "user", "content": f"m{index}"}], "c1", "u1", Limits())
        store.ingest(Scope("u1"), "c1", messages, _job(f"t{index}"), {})
    first = store.claim_job("w", 60_000)
    assert first is not None and first.id == "t0" and first.attempts == 1
    assert store.claim_job("w2", 60_000) is None  # the user's next job waits for the first
    store.finish_job("t0", "completed")
    second = store.claim_job("w2", 60_000)
    assert second is not None and second.id == "t1"


def test_an_expired_lease_is_taken_over(store: SQLiteStore) -> None:
    messages = normalise_messages([{"role": "user", "content": "hello"}], "c1", "u1", Limits())
    store.ingest(Scope("u1"), "c1", messages, _job("t0"), {})
    assert store.claim_job("dead-worker", -1) is not None  # lease already expired
    taken = store.claim_job("new-worker", 60_000)
    assert taken is not None and taken.attempts == 2


def test_keyword_and_vector_search_are_scoped_to_the_user(store: SQLiteStore) -> None:
    vector = np.ones(4, dtype=np.float32) / 2
    store.insert_item(_item("a", "u1", "用户喜欢文化景点"), vector, "test")
    store.insert_item(_item("b", "u2", "用户喜欢文化景点"), vector, "test")
    match = match_query("文化景点")
    assert match is not None
    assert [h.id for h in store.keyword_search(Scope("u1"), "items", "fact", match, 10)] == ["a"]
    assert [h.id for h in store.vector_search(Scope("u1"), "items", "fact", vector, 10)] == ["a"]


def test_archived_items_leave_search_and_updates_reindex(store: SQLiteStore) -> None:
    vector = np.ones(4, dtype=np.float32) / 2
    item = _item("a", "u1", "likes museums")
    store.insert_item(item, vector, "test")
    store.update_item(MemoryItem(**{**item.__dict__, "text": "likes hiking"}))
    scope = Scope("u1")
    assert store.keyword_search(scope, "items", "fact", match_query("museums") or "", 10) == []
    assert [h.id for h in store.keyword_search(scope, "items", "fact", match_query("hiking") or "", 10)] == [
        "a"
    ]
    store.update_item(MemoryItem(**{**item.__dict__, "text": "likes hiking", "status": "archived"}))
    assert store.vector_search(scope, "items", "fact", vector, 10) == []


def test_delete_user_removes_everything(store: SQLiteStore) -> None:
    messages = normalise_messages([{"role": "user", "content": "hello"}], "c1", "u1", Limits())
    store.ingest(Scope("u1"), "c1", messages, _job("t0"), {})
    store.insert_item(_item("a", "u1", "x"), None, None)
    assert store.delete_user("u1") == 1
    assert store.recent_messages("u1", "c1", 10) == [] and store.get_item("a") is None

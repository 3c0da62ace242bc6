"""The store contract: what the engine relies on from every backend of `memskill.stores.base.Store`.

Each test takes `any_store` (tests/store_backends.py), so it runs on SQLite and, when
`MEMSKILL_TEST_DATABASE_URL` names a server, on PostgreSQL. Tests use only the protocol's methods.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest

from memskill.models import (
    Job,
    MemoryItem,
    Message,
    Scope,
    Skill,
    SkillEvent,
    SkillItem,
    SkillVersion,
    ToolCall,
    Usage,
)
from memskill.stores.base import ApiKeyRow, ClusterRow, IngestResult, Store, TaskRecordRow
from memskill.text import match_query, tokens

E1, E0 = "embedder-1", "embedder-0"
"""The current embedder's id and an earlier one's."""


# -- building blocks ----------------------------------------------------------------------------------


def message(message_id: str, content: str, role: str = "user", **fields: object) -> Message:
    return Message(role=role, content=content, id=message_id, **fields)  # type: ignore[arg-type]


def add(
    store: Store,
    job_id: str,
    contents: Sequence[str] = ("hello",),
    user: str = "u1",
    conversation: str = "c1",
    agent: str | None = None,
    app: str | None = None,
    kind: str = "ingest",
    ids: Sequence[str] | None = None,
    lease: tuple[str, int] | None = None,
) -> IngestResult:
    """Store one add call: messages `contents` (ids `ids`, else `<job_id>-<n>`) and its job (`kind`)."""
    message_ids = ids or [f"{job_id}-{n}" for n in range(len(contents))]
    messages = [message(i, c) for i, c in zip(message_ids, contents, strict=True)]
    job = Job(id=job_id, user_id=user, conversation_id=conversation, kind=kind, status="running")  # type: ignore[arg-type]
    return store.ingest(Scope(user, agent, app), conversation, messages, job, {"tags": ["t"]}, lease=lease)


def unit(dim: int, seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def at_cosine(query: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine with the unit vector `query` is `cosine`."""
    other = unit(len(query), seed).astype(np.float64)
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return (cosine * query + math.sqrt(1.0 - cosine * cosine) * other).astype(np.float32)


def item(
    item_id: str,
    text: str = "likes museums",
    user: str = "u1",
    kind: str = "fact",
    agent: str | None = None,
    app: str | None = None,
    status: str = "activated",
    key: str = "k",
    create_time: int = 1,
) -> MemoryItem:
    return MemoryItem(
        id=item_id,
        user_id=user,
        kind=kind,  # type: ignore[arg-type]
        key=key,
        text=text,
        conversation_id="c1",
        agent_id=agent,
        app_id=app,
        status=status,  # type: ignore[arg-type]
        create_time=create_time,
        update_time=create_time,
    )


def skill(
    skill_id: str,
    version: int = 1,
    user: str = "u1",
    cluster: str = "k1",
    name: str = "trip-planning",
    agent: str | None = None,
    app: str | None = None,
    status: str = "activated",
    create_time: int = 1,
) -> Skill:
    items = (
        SkillItem("procedure", "先确定目的地和天数", support=2, sources=("rec_1", "rec_2"), position=0.25),
        SkillItem("preference", "prefers museums", sources=("rec_2",)),
    )
    current = SkillVersion(
        skill_id=skill_id,
        version=version,
        name=name,
        description=f"Plan a trip (v{version})",
        items=items,
        markdown=f"---\nname: {name}\n---\n# 行程 v{version}\n",
        create_time=create_time + version,
        note=f"change {version}",
    )
    return Skill(
        id=skill_id,
        user_id=user,
        cluster_id=cluster,
        current=current,
        conversation_ids=("c1", "c2"),
        agent_id=agent,
        app_id=app,
        status=status,  # type: ignore[arg-type]
        confidence=0.75,
        tags=("旅行", "travel"),
        create_time=create_time,
        update_time=create_time + version,
    )


def cluster(
    cluster_id: str, user: str = "u1", agent: str | None = None, create_time: int = 1, dim: int = 8
) -> ClusterRow:
    return ClusterRow(
        id=cluster_id,
        user_id=user,
        agent_id=agent,
        app_id=None,
        title="trip planning",
        centroid=unit(dim, 7),
        size=1,
        skill_id=None,
        create_time=create_time,
        update_time=create_time,
    )


def record(
    record_id: str, cluster_id: str, conversation: str, create_time: int, user: str = "u1"
) -> TaskRecordRow:
    body = {"title": f"task {record_id}", "goal": "去成都", "steps": ["订票", "订酒店"], "language": "zh"}
    return TaskRecordRow(record_id, user, cluster_id, conversation, body, create_time)


def keyword(
    store: Store, text: str, scope: Scope | None = None, kind: str = "fact", table: str = "items"
) -> list[str]:
    """Ids of a keyword search for `text`, with the match string retrieval builds."""
    match = match_query(text)
    assert match is not None
    return [hit.id for hit in store.keyword_search(scope or Scope("u1"), table, kind, match, 20)]


def nearest(
    store: Store, query: np.ndarray, scope: Scope | None = None, kind: str = "fact", **kw: object
) -> list[str]:
    return [hit.id for hit in store.vector_search(scope or Scope("u1"), "items", kind, query, 20, **kw)]  # type: ignore[arg-type]


def ids(rows: Sequence[Message | Job | MemoryItem | Skill]) -> list[str]:
    return [row.id for row in rows]


def claim_all(store: Store, worker: str = "w") -> list[str]:
    """Claim and complete jobs until none is runnable; the ids in the order they were claimed."""
    claimed = []
    while (job := store.claim_job(worker, 60_000)) is not None:
        claimed.append(job.id)
        store.finish_job(job.id, "completed")
    return claimed


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(index)` in `count` threads at once; re-raise the first error any of them hit."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]


# -- messages and ingest ------------------------------------------------------------------------------


def test_ingest_stores_messages_and_a_running_job(any_store: Store) -> None:
    result = add(any_store, "t1", ["我想去成都旅游", "好的"], agent="a1", app="p1")
    assert not result.duplicate and result.new_message_ids == ("t1-0", "t1-1")
    job = result.job
    assert (job.id, job.user_id, job.conversation_id, job.kind, job.status) == (
        "t1",
        "u1",
        "c1",
        "ingest",
        "running",
    )
    assert job.attempts == 0 and job.error is None and job.usage == Usage()
    assert job.create_time > 0 and job.update_time >= job.create_time
    assert any_store.get_job("t1") == job
    payload = any_store.job_payload("t1")
    assert payload["tags"] == ["t"] and payload["message_ids"] == ["t1-0", "t1-1"]
    assert payload["new_message_ids"] == ["t1-0", "t1-1"]
    assert (payload["agent_id"], payload["app_id"]) == ("a1", "p1")
    assert [m.content for m in any_store.messages_by_ids(["t1-0", "t1-1"])] == ["我想去成都旅游", "好的"]


def test_resending_the_same_call_stores_nothing_new(any_store: Store) -> None:
    first = add(any_store, "t1", ["我想去成都旅游"])
    again = add(any_store, "t1", ["我想去成都旅游"])
    assert again.duplicate and again.new_message_ids == () and again.job.id == "t1"
    assert again.job.create_time == first.job.create_time
    assert len(any_store.recent_messages("u1", "c1", 10)) == 1
    assert any_store.count_jobs("running") == 1


def test_a_new_job_stores_only_messages_not_seen_before(any_store: Store) -> None:
    add(any_store, "t1", ["a", "b"], ids=["m1", "m2"])
    overlap = add(any_store, "t2", ["b", "c"], ids=["m2", "m3"])
    assert not overlap.duplicate and overlap.new_message_ids == ("m3",) and overlap.job.status == "running"
    assert any_store.job_payload("t2")["message_ids"] == ["m2", "m3"]
    assert any_store.job_payload("t2")["new_message_ids"] == ["m3"]
    nothing_new = add(any_store, "t3", ["a"], ids=["m1"])
    assert nothing_new.new_message_ids == () and nothing_new.job.status == "completed"
    feedback = add(any_store, "t4", ["a"], ids=["m1"], kind="feedback")
    assert feedback.job.kind == "feedback" and feedback.job.status == "running"
    assert [m.id for m in any_store.conversation_messages("u1", "c1")] == ["m1", "m2", "m3"]


def test_ingest_with_a_lease_hands_the_job_to_its_caller(any_store: Store) -> None:
    result = add(any_store, "t1", lease=("inline", 60_000))
    assert result.job.status == "running" and result.job.attempts == 1
    assert any_store.claim_job("w", 60_000) is None  # leased, so no worker takes it
    assert any_store.renew_lease("t1", "inline", 60_000)
    assert not any_store.renew_lease("t1", "w", 60_000)
    any_store.finish_job("t1", "completed")
    assert not any_store.renew_lease("t1", "inline", 60_000)


def test_messages_round_trip_in_stored_order(any_store: Store) -> None:
    call = ToolCall(id="call_1", name="weather", arguments='{"city": "成都"}')
    messages = [
        message("m1", "成都天气怎么样？", chat_time=1_700_000_000_000),
        message("m2", "", role="assistant", tool_calls=(call,)),
        message("m3", "晴，25°C", role="tool", tool_call_id="call_1"),
        message("m4", "It's sunny.", role="assistant", chat_time=None),
    ]
    job = Job(id="t1", user_id="u1", conversation_id="c1", kind="ingest", status="running")
    any_store.ingest(Scope("u1"), "c1", messages, job, {})
    assert any_store.messages_by_ids(["m4", "m1", "m3", "m2"]) == messages
    assert any_store.messages_by_ids(["m3", "missing"]) == [messages[2]]
    assert any_store.messages_by_ids([]) == []


def test_recent_messages_are_the_last_ones_before_a_bound(any_store: Store) -> None:
    add(any_store, "t1", ["one", "two", "three"], ids=["m1", "m2", "m3"], app="p1")
    add(any_store, "t2", ["four", "five"], ids=["m4", "m5"], app="p2")
    add(any_store, "t3", ["other conversation"], ids=["x1"], conversation="c2")
    add(any_store, "t4", ["other user"], ids=["y1"], user="u2")
    assert ids(any_store.recent_messages("u1", "c1", 10)) == ["m1", "m2", "m3", "m4", "m5"]
    assert ids(any_store.recent_messages("u1", "c1", 2)) == ["m4", "m5"]
    assert ids(any_store.recent_messages("u1", "c1", 2, before_ids=["m4", "m5"])) == ["m2", "m3"]
    assert ids(any_store.recent_messages("u1", "c1", 10, before_ids=["m5", "m2"])) == ["m1"]
    assert ids(any_store.recent_messages("u1", "c1", 10, app_id="p1")) == ["m1", "m2", "m3"]
    assert ids(any_store.recent_messages("u1", "c1", 10, app_id="p2")) == ["m4", "m5"]
    assert any_store.recent_messages("u2", "c1", 10)[0].id == "y1"
    assert any_store.recent_messages("u1", "nowhere", 10) == []


def test_conversations_are_listed_by_first_message(any_store: Store) -> None:
    add(any_store, "t1", ids=["m1"], conversation="c2")
    add(any_store, "t2", ids=["m2"], conversation="c1")
    add(any_store, "t3", ids=["m3"], conversation="c2")
    add(any_store, "t4", ids=["m4"], conversation="c9", user="u2")
    assert any_store.conversation_ids("u1") == ["c2", "c1"]
    assert any_store.conversation_ids("nobody") == []


def test_conversation_messages_in_stored_order_up_to_a_limit(any_store: Store) -> None:
    add(any_store, "t1", ["z", "y", "x"], ids=["m9", "m5", "m7"])
    add(any_store, "t2", ["w"], ids=["m1"])
    assert [m.id for m in any_store.conversation_messages("u1", "c1")] == ["m9", "m5", "m7", "m1"]
    assert [m.id for m in any_store.conversation_messages("u1", "c1", limit=2)] == ["m9", "m5"]
    assert any_store.conversation_messages("u2", "c1") == []


def test_pending_messages_are_found_by_keyword_only_while_their_job_runs(any_store: Store) -> None:
    for user in ("u1", "u2"):
        add(any_store, "t-" + user, ["我想去成都看熊猫", "好的"], user=user, conversation="c7")
    add(any_store, "t-agent", ["熊猫基地几点开门"], agent="a2", ids=["agent-msg"])
    match = match_query("熊猫")
    assert match is not None
    hits = any_store.pending_message_hits(Scope("u1"), match, 10)
    assert sorted(m.id for m, _, _ in hits) == ["agent-msg", "t-u1-0"]
    found = {m.id: (m, conversation, score) for m, conversation, score in hits}
    assert found["t-u1-0"][0].content == "我想去成都看熊猫" and found["t-u1-0"][1] == "c7"
    assert all(isinstance(score, float) for _, _, score in hits)
    assert [m.id for m, _, _ in any_store.pending_message_hits(Scope("u1", agent_id="a2"), match, 10)] == [
        "agent-msg"
    ]
    assert len(any_store.pending_message_hits(Scope("u1"), match, 1)) == 1
    any_store.finish_job("t-u1", "completed")
    any_store.finish_job("t-agent", "failed", "boom")
    assert any_store.pending_message_hits(Scope("u1"), match, 10) == []
    assert [m.id for m, _, _ in any_store.pending_message_hits(Scope("u2"), match, 10)] == ["t-u2-0"]


# -- jobs ---------------------------------------------------------------------------------------------


def test_unknown_jobs(any_store: Store) -> None:
    assert any_store.get_job("missing") is None
    assert any_store.job_payload("missing") == {}
    assert any_store.claim_job("w", 60_000) is None
    assert not any_store.renew_lease("missing", "w", 60_000)


def test_claim_takes_the_oldest_job_and_leases_it(any_store: Store) -> None:
    add(any_store, "t1", user="u1")
    add(any_store, "t2", user="u2")
    first = any_store.claim_job("w1", 60_000)
    assert first is not None and first.id == "t1" and first.attempts == 1 and first.status == "running"
    assert any_store.get_job("t1").attempts == 1  # type: ignore[union-attr]
    second = any_store.claim_job("w2", 60_000)
    assert second is not None and second.id == "t2"
    assert any_store.claim_job("w3", 60_000) is None
    assert any_store.renew_lease("t1", "w1", 60_000)
    assert not any_store.renew_lease("t1", "w2", 60_000)


def test_a_users_jobs_run_one_at_a_time_and_in_order(any_store: Store) -> None:
    for index in range(3):
        add(any_store, f"t{index}", [f"m{index}"])
    add(any_store, "other", user="u2")
    first = any_store.claim_job("w", 60_000)
    assert first is not None and first.id == "t0"
    other = any_store.claim_job("w2", 60_000)
    assert other is not None and other.id == "other"  # another user's job does not wait
    assert any_store.claim_job("w2", 60_000) is None  # t1 waits for t0
    any_store.finish_job("t0", "completed")
    assert claim_all(any_store) == ["t1", "t2"]


def test_jobs_stored_in_the_same_millisecond_are_claimed_in_stored_order(any_store: Store) -> None:
    ids = [f"{'z' if n % 2 else 'a'}{n:02d}" for n in range(12)]  # ids sort differently from storing order
    for n, job_id in enumerate(ids):
        add(any_store, job_id, [f"m{n}"], user=f"u{n % 3}")
    assert claim_all(any_store) == ids


def test_an_expired_lease_is_taken_over(any_store: Store) -> None:
    add(any_store, "t0")
    assert any_store.claim_job("dead-worker", 1) is not None
    time.sleep(0.02)  # the 1 ms lease has lapsed
    taken = any_store.claim_job("new-worker", 60_000)
    assert taken is not None and taken.id == "t0" and taken.attempts == 2
    assert not any_store.renew_lease("t0", "dead-worker", 60_000)
    assert any_store.renew_lease("t0", "new-worker", 60_000)


def test_only_the_worker_holding_the_lease_may_finish_or_release_a_job(any_store: Store) -> None:
    add(any_store, "t0")
    assert any_store.claim_job("dead-worker", 1) is not None
    time.sleep(0.02)
    assert any_store.claim_job("new-worker", 60_000) is not None
    assert not any_store.finish_job("t0", "completed", None, {"added": ["x"]}, worker="dead-worker")
    assert not any_store.release_job("t0", "boom", 1_000, worker="dead-worker")
    job = any_store.get_job("t0")
    assert job is not None and job.status == "running" and job.added == () and job.error is None
    assert any_store.finish_job("t0", "completed", None, {"added": ["y"]}, worker="new-worker")
    job = any_store.get_job("t0")
    assert job is not None and job.status == "completed" and job.added == ("y",)
    assert not any_store.finish_job("t0", "completed", None, {}, worker="new-worker")  # already done


def test_finish_job_records_outcome_and_adds_usage(any_store: Store) -> None:
    add(any_store, "t1")
    add(any_store, "t2", user="u2")
    add(any_store, "t3")
    result = {
        "added": ["i1", "i2"],
        "updated": ["i3"],
        "deleted": ["i4"],
        "llm": {"mode": "llm", "模式": "中"},
    }
    any_store.finish_job("t1", "completed", None, result, Usage(100, 20, 2))
    job = any_store.get_job("t1")
    assert job is not None and job.status == "completed" and job.error is None
    assert (job.added, job.updated, job.deleted) == (("i1", "i2"), ("i3",), ("i4",))
    assert job.report == {"mode": "llm", "模式": "中"} and job.usage == Usage(100, 20, 2)
    any_store.finish_job("t1", "completed", None, result, Usage(1, 2, 1))
    assert any_store.get_job("t1").usage == Usage(101, 22, 3)  # type: ignore[union-attr]
    any_store.finish_job("t2", "completed", usage=Usage(5, 5, 1))
    any_store.finish_job("t3", "failed", "ValueError: boom (after 3 attempts)")
    failed = any_store.get_job("t3")
    assert (
        failed is not None
        and failed.status == "failed"
        and failed.error == "ValueError: boom (after 3 attempts)"
    )
    assert failed.usage == Usage() and failed.added == ()
    assert any_store.token_usage("u1") == Usage(101, 22, 3)
    assert any_store.token_usage("u2") == Usage(5, 5, 1)
    assert any_store.token_usage() == Usage(106, 27, 4)
    assert any_store.token_usage("nobody") == Usage()
    assert not any_store.renew_lease("t1", "w", 60_000)


def test_a_released_job_waits_for_its_backoff_and_keeps_its_place(any_store: Store) -> None:
    add(any_store, "t0")
    time.sleep(0.003)  # distinct creation times (the same millisecond is the next test's case)
    add(any_store, "t1")
    claimed = any_store.claim_job("w", 60_000)
    assert claimed is not None and claimed.id == "t0"
    any_store.release_job("t0", "TimeoutError: slow model", 60_000)
    job = any_store.get_job("t0")
    assert job is not None and job.status == "running" and job.error == "TimeoutError: slow model"
    assert not any_store.renew_lease("t0", "w", 60_000)  # released: no longer leased to w
    add(any_store, "other", user="u2")
    other = any_store.claim_job("w", 60_000)
    assert other is not None and other.id == "other"
    assert any_store.claim_job("w", 60_000) is None  # t0 backs off, and t1 waits behind it
    any_store.release_job("t0", "TimeoutError: slow model", 1)
    time.sleep(0.02)  # the 1 ms backoff has passed
    again = any_store.claim_job("w", 60_000)
    assert again is not None and again.id == "t0" and again.attempts == 2


def test_a_retried_job_precedes_a_later_job_stored_in_the_same_millisecond(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_module = sys.modules[type(any_store).ingest.__module__]  # where ingest reads the clock
    with monkeypatch.context() as frozen:  # both jobs are stored in the same millisecond
        moment = int(time.time() * 1000)
        frozen.setattr(store_module, "now_ms", lambda: moment)
        first, second = add(any_store, "u1-a", user="u1"), add(any_store, "u1-b", user="u1")
    assert first.job.create_time == second.job.create_time
    claimed = any_store.claim_job("w", 60_000)
    assert claimed is not None and claimed.id == first.job.id
    any_store.release_job(claimed.id, "TimeoutError: slow model", 1)
    time.sleep(0.02)  # the 1 ms backoff has passed
    assert claim_all(any_store) == [first.job.id, second.job.id]


def test_count_and_list_jobs(any_store: Store) -> None:
    for job_id, user in (("j1", "u1"), ("j2", "u2"), ("j3", "u1"), ("j4", "u1")):
        add(any_store, job_id, user=user)
        time.sleep(0.003)  # distinct creation times, so "newest first" is one order
    any_store.finish_job("j1", "completed")
    any_store.finish_job("j3", "failed", "boom")
    assert (
        any_store.count_jobs("running"),
        any_store.count_jobs("completed"),
        any_store.count_jobs("failed"),
    ) == (
        2,
        1,
        1,
    )
    assert ids(any_store.list_jobs()) == ["j4", "j3", "j2", "j1"]
    assert ids(any_store.list_jobs(user_id="u1")) == ["j4", "j3", "j1"]
    assert ids(any_store.list_jobs(status="running")) == ["j4", "j2"]
    assert ids(any_store.list_jobs(user_id="u1", status="failed")) == ["j3"]
    assert ids(any_store.list_jobs(limit=2, offset=1)) == ["j3", "j2"]
    assert any_store.list_jobs(user_id="nobody") == []
    assert any_store.list_jobs()[1] == any_store.get_job("j3")


# -- memory items -------------------------------------------------------------------------------------


def test_items_round_trip_and_update(any_store: Store) -> None:
    original = replace(
        item("i1", "用户喜欢文化景点", agent="a1", app="p1"),
        confidence=0.85,
        tags=("旅行", "travel"),
        sources=("m1", "m2"),
        payload={"preference_type": "explicit_preference", "nested": {"list": [1, 2.5, None]}, "中文": "是"},
    )
    any_store.insert_item(original, unit(8, 1), E1)
    assert any_store.get_item("i1") == original
    changed = replace(
        original,
        key="culture",
        text="用户喜欢博物馆",
        status="archived",
        confidence=0.6,
        tags=(),
        sources=("m3",),
        payload={},
        update_time=99,
    )
    any_store.update_item(changed)
    assert any_store.get_item("i1") == changed
    assert any_store.vectors_of("items", ["i1"], 8)["i1"] == pytest.approx(
        unit(8, 1)
    )  # kept without a vector
    any_store.update_item(changed, unit(8, 2), E1)
    assert any_store.vectors_of("items", ["i1"], 8, E1)["i1"] == pytest.approx(unit(8, 2))
    any_store.update_item(item("missing"))  # an unknown item is no error and creates nothing
    assert any_store.get_item("missing") is None


def test_get_items_follows_the_requested_order(any_store: Store) -> None:
    for item_id in ("i1", "i2", "i3"):
        any_store.insert_item(item(item_id), None, None)
    assert [i.id for i in any_store.get_items(["i3", "missing", "i1"])] == ["i3", "i1"]
    assert any_store.get_items([]) == []


def test_list_items_by_kind_status_and_scope_newest_first(any_store: Store) -> None:
    rows = [
        item("f1", create_time=1),
        item("p1", kind="preference", create_time=2),
        item("f2", agent="a1", create_time=3),
        item("f3", status="archived", create_time=4),
        item("t1", kind="tool", app="p1", create_time=5),
        item("f4", agent="a2", app="p1", create_time=6),
        item("x1", user="u2", create_time=7),
    ]
    for row in rows:
        any_store.insert_item(row, None, None)
    assert ids(any_store.list_items(Scope("u1"), ["fact"])) == ["f4", "f2", "f1"]
    assert ids(any_store.list_items(Scope("u1"), ["fact", "tool"], ("activated", "archived"))) == [
        "f4",
        "t1",
        "f3",
        "f2",
        "f1",
    ]
    assert ids(any_store.list_items(Scope("u1"), ["fact"], ("archived",))) == ["f3"]
    assert ids(any_store.list_items(Scope("u1", agent_id="a1"), ["fact"])) == ["f2"]
    assert ids(any_store.list_items(Scope("u1", app_id="p1"), ["fact", "tool"])) == ["f4", "t1"]
    assert ids(any_store.list_items(Scope("u1", "a2", "p1"), ["fact", "tool"])) == ["f4"]
    assert ids(any_store.list_items(Scope("u2"), ["fact", "preference", "tool"])) == ["x1"]


def test_list_items_linked_to_clusters(any_store: Store) -> None:
    linked = [("p1", "clu_a"), ("p2", "clu_b"), ("p3", None), ("p4", "clu_a")]
    for number, (item_id, cluster) in enumerate(linked):
        row = item(item_id, kind="preference", create_time=number)
        any_store.insert_item(replace(row, payload={"cluster_id": cluster} if cluster else {}), None, None)
    other = replace(item("x1", user="u2", kind="preference"), payload={"cluster_id": "clu_a"})
    any_store.insert_item(other, None, None)
    assert ids(any_store.list_items(Scope("u1"), ["preference"], cluster_ids=["clu_a"])) == ["p4", "p1"]
    assert ids(any_store.list_items(Scope("u1"), ["preference"], cluster_ids=["clu_b", "clu_c"])) == ["p2"]
    assert any_store.list_items(Scope("u1"), ["preference"], cluster_ids=[]) == []
    assert ids(any_store.list_items(Scope("u1"), ["preference"])) == ["p4", "p3", "p2", "p1"]


def test_item_tokens_are_those_of_the_key_and_text(any_store: Store) -> None:
    texts = {"i1": ("成都行程", "我是不走回头路的特种兵, likes Museums_2"), "i2": ("k", "plain words here")}
    for item_id, (key, text) in texts.items():
        any_store.insert_item(item(item_id, text, key=key), None, None)
    expected = {item_id: tokens(key + " " + text) for item_id, (key, text) in texts.items()}
    assert any_store.item_tokens(["i1", "i2", "missing"]) == expected
    any_store.update_item(replace(item("i2", "changed text 已修改"), update_time=5))
    assert any_store.item_tokens(["i2"]) == {"i2": tokens("k changed text 已修改")}
    assert any_store.item_tokens([]) == {}


def test_a_tool_lesson_is_indexed_with_the_requests_it_served(any_store: Store) -> None:
    lesson = replace(
        item("t1", "get_weather(city='Chengdu') → sunny", kind="tool", key="get_weather"),
        payload={"requests": ["每次规划前先查一下天气"], "experiences": ["city 用英文名"]},
    )
    any_store.insert_item(lesson, None, None)
    assert keyword(any_store, "查天气", kind="tool") == ["t1"]
    assert any_store.item_tokens(["t1"]) == {"t1": tokens(lesson.search_text)}
    assert "每次规划前先查一下天气" in lesson.search_text and "city 用英文名" in lesson.search_text
    # A new request changes only the payload: the index follows it.
    served = replace(
        lesson, payload={**lesson.payload, "requests": ["下周去西安，帮我看看温度"]}, update_time=5
    )
    any_store.update_item(served)
    assert (
        keyword(any_store, "温度", kind="tool") == ["t1"] and keyword(any_store, "查天气", kind="tool") == []
    )
    assert any_store.item_tokens(["t1"]) == {"t1": tokens(served.search_text)}


def test_delete_items(any_store: Store) -> None:
    for item_id in ("i1", "i2", "i3"):
        any_store.insert_item(item(item_id, "likes museums"), unit(8, 1), E1)
    assert any_store.delete_items(["i1", "missing", "i3"]) == 2
    assert any_store.delete_items(["i1"]) == 0
    assert [i.id for i in any_store.get_items(["i1", "i2", "i3"])] == ["i2"]
    assert keyword(any_store, "museums") == ["i2"]
    assert nearest(any_store, unit(8, 1)) == ["i2"]


def test_delete_user_removes_everything_of_one_user_only(any_store: Store) -> None:
    for user in ("u1", "u2"):
        add(any_store, "t-" + user, ["我想去成都看熊猫"], user=user)
        any_store.finish_job("t-" + user, "completed", usage=Usage(3, 4, 1))
        add(any_store, "t2-" + user, ["熊猫 pending"], user=user, conversation="c2")
        any_store.insert_item(item("i-" + user, "用户喜欢熊猫", user=user), unit(8, 1), E1)
        any_store.insert_item(item("p-" + user, "slow pace", user=user, kind="preference"), None, None)
        any_store.save_cluster(cluster("k-" + user, user=user))
        any_store.add_task_record(record("r-" + user, "k-" + user, "c1", 1, user=user))
        any_store.save_skill(skill("s-" + user, user=user, cluster="k-" + user), "熊猫 trip", unit(8, 2), E1)
    any_store.save_api_key(ApiKeyRow("key1", "hash1", "msk_ab", None, "", 1))

    assert any_store.delete_user("u1") == 2
    gone, kept = Scope("u1"), Scope("u2")
    match = match_query("熊猫")
    assert match is not None
    assert any_store.recent_messages("u1", "c1", 10) == [] and any_store.conversation_ids("u1") == []
    assert any_store.get_job("t-u1") is None and any_store.list_jobs(user_id="u1") == []
    assert any_store.token_usage("u1") == Usage() and any_store.pending_message_hits(gone, match, 10) == []
    assert any_store.get_item("i-u1") is None and any_store.list_items(gone, ["fact", "preference"]) == []
    assert keyword(any_store, "熊猫", gone) == [] and nearest(any_store, unit(8, 1), gone) == []
    assert any_store.list_clusters(gone) == [] and any_store.get_task_record("r-u1") is None
    assert any_store.latest_task_record("u1", "c1") is None
    assert any_store.get_skill("s-u1") is None and any_store.skill_versions("s-u1") == []
    assert (
        any_store.list_skills(gone) == [] and any_store.vector_search(gone, "skills", "", unit(8, 2), 5) == []
    )
    assert any_store.user_ids() == ["u2"] and [u.user_id for u in any_store.user_overview()] == ["u2"]
    assert any_store.api_key_by_id("key1") is not None

    assert [m.id for m in any_store.recent_messages("u2", "c1", 10)] == ["t-u2-0"]
    assert any_store.get_job("t-u2") is not None and any_store.token_usage("u2") == Usage(3, 4, 1)
    assert len(any_store.pending_message_hits(kept, match, 10)) == 1
    assert keyword(any_store, "熊猫", kept) == ["i-u2"] and nearest(any_store, unit(8, 1), kept) == ["i-u2"]
    assert [c.id for c in any_store.list_clusters(kept)] == ["k-u2"]
    assert any_store.get_task_record("r-u2") is not None and any_store.get_skill("s-u2") is not None
    assert keyword(any_store, "熊猫", kept, table="skills", kind="") == ["s-u2"]
    assert any_store.delete_user("nobody") == 0

    again = add(any_store, "t-u1", ["我想去成都看熊猫"])  # the same call after deletion is new again
    assert not again.duplicate and again.new_message_ids == ("t-u1-0",)


# -- vector search ------------------------------------------------------------------------------------


def test_vector_search_ranks_by_cosine(any_store: Store) -> None:
    query = unit(8, 100)
    cosines = {"a": 0.9, "b": 0.5, "c": -0.2, "d": 0.7, "e": 0.1}
    for n, (item_id, cosine) in enumerate(cosines.items()):
        any_store.insert_item(item(item_id), at_cosine(query, cosine, n), E1)
    hits = any_store.vector_search(Scope("u1"), "items", "fact", query, 10)
    assert [h.id for h in hits] == ["a", "d", "b", "e", "c"]
    assert [h.score for h in hits] == pytest.approx([0.9, 0.7, 0.5, 0.1, -0.2], abs=1e-4)
    top = any_store.vector_search(Scope("u1"), "items", "fact", query, 2, E1)
    assert [h.id for h in top] == ["a", "d"]
    assert any_store.vector_search(Scope("u1"), "items", "fact", query, 1)[0].score == pytest.approx(
        0.9, abs=1e-4
    )
    assert any_store.vector_search(Scope("u1"), "items", "preference", query, 10) == []
    assert any_store.vector_search(Scope("nobody"), "items", "fact", query, 10) == []


def test_vector_search_filters_user_kind_status_embedder_and_dimension(any_store: Store) -> None:
    query = unit(8, 100)
    any_store.insert_item(item("mine"), at_cosine(query, 0.5, 1), E1)
    any_store.insert_item(item("theirs", user="u2"), query, E1)
    any_store.insert_item(item("preference", kind="preference"), query, E1)
    any_store.insert_item(item("archived", status="archived"), query, E1)
    any_store.insert_item(item("old", text="old"), at_cosine(query, 0.8, 2), E0)
    any_store.insert_item(item("wide"), unit(16, 3), E1)
    any_store.insert_item(item("none"), None, None)
    assert nearest(any_store, query) == ["old", "mine"]
    assert nearest(any_store, query, embedder_id=E1) == ["mine"]
    assert nearest(any_store, query, embedder_id="never") == []
    assert nearest(any_store, query, Scope("u2")) == ["theirs"]
    assert nearest(any_store, query, kind="preference") == ["preference"]
    assert nearest(any_store, unit(16, 3)) == ["wide"]
    assert any_store.vector_search(Scope("u1"), "items", "fact", unit(16, 3), 5)[0].score == pytest.approx(
        1.0, abs=1e-4
    )


def test_vector_search_masks_agent_and_app(any_store: Store) -> None:
    query = unit(8, 100)
    layout = {"plain": (None, None), "a1": ("a1", None), "a2": ("a2", "p1"), "p1": (None, "p1")}
    for n, (item_id, (agent, app)) in enumerate(layout.items()):
        any_store.insert_item(item(item_id, agent=agent, app=app), at_cosine(query, 0.9 - 0.1 * n, n), E1)
    assert nearest(any_store, query) == ["plain", "a1", "a2", "p1"]
    assert nearest(any_store, query, Scope("u1", agent_id="a1")) == ["a1"]
    assert nearest(any_store, query, Scope("u1", app_id="p1")) == ["a2", "p1"]
    assert nearest(any_store, query, Scope("u1", "a2", "p1")) == ["a2"]
    assert nearest(any_store, query, Scope("u1", "a1", "p1")) == []


def test_vector_search_sees_every_change(any_store: Store) -> None:
    query = unit(8, 100)
    original = item("i1")
    any_store.insert_item(original, at_cosine(query, 0.3, 1), E1)
    assert any_store.vector_search(Scope("u1"), "items", "fact", query, 5)[0].score == pytest.approx(
        0.3, abs=1e-4
    )
    any_store.update_item(original, at_cosine(query, 0.8, 1), E1)
    assert any_store.vector_search(Scope("u1"), "items", "fact", query, 5)[0].score == pytest.approx(
        0.8, abs=1e-4
    )
    any_store.update_item(replace(original, status="archived"))
    assert nearest(any_store, query) == []
    any_store.update_item(original)
    assert nearest(any_store, query) == ["i1"]
    any_store.insert_item(item("i2"), query, E1)
    assert nearest(any_store, query) == ["i2", "i1"]
    any_store.delete_items(["i2"])
    assert nearest(any_store, query) == ["i1"]


def test_vector_search_over_skills(any_store: Store) -> None:
    query = unit(8, 100)
    any_store.save_skill(skill("s1"), "trip", at_cosine(query, 0.6, 1), E1)
    any_store.save_skill(skill("s2", create_time=2), "trip", at_cosine(query, 0.9, 2), E1)
    any_store.save_skill(skill("s3", status="archived"), "trip", query, E1)
    any_store.save_skill(skill("s4", user="u2"), "trip", query, E1)
    any_store.save_skill(skill("s5", agent="a1"), "trip", at_cosine(query, 0.4, 3), E0)
    any_store.save_skill(skill("s6"), "trip", None, None)
    hits = any_store.vector_search(Scope("u1"), "skills", "", query, 10)
    assert [h.id for h in hits] == ["s2", "s1", "s5"]
    assert [h.score for h in hits] == pytest.approx([0.9, 0.6, 0.4], abs=1e-4)
    assert [h.id for h in any_store.vector_search(Scope("u1"), "skills", "", query, 10, E1)] == ["s2", "s1"]
    assert [h.id for h in any_store.vector_search(Scope("u1", "a1"), "skills", "", query, 10)] == ["s5"]
    assert any_store.vector_search(Scope("u1"), "skills", "", unit(16, 1), 10) == []


def test_vectors_of(any_store: Store) -> None:
    any_store.insert_item(item("i1"), unit(8, 1), E1)
    any_store.insert_item(item("i2"), unit(8, 2), E0)
    any_store.insert_item(item("i3"), unit(16, 3), E1)
    any_store.insert_item(item("i4"), None, None)
    found = any_store.vectors_of("items", ["i1", "i2", "i3", "i4", "missing"], 8)
    assert sorted(found) == ["i1", "i2"]
    for item_id, seed in (("i1", 1), ("i2", 2)):
        assert found[item_id].shape == (8,)
        assert found[item_id] == pytest.approx(unit(8, seed), abs=1e-6)
    assert sorted(any_store.vectors_of("items", ["i1", "i2", "i3"], 8, E1)) == ["i1"]
    assert sorted(any_store.vectors_of("items", ["i1", "i2", "i3"], 16)) == ["i3"]
    assert any_store.vectors_of("items", [], 8) == {}
    any_store.save_skill(skill("s1"), "trip", unit(8, 9), E1)
    assert any_store.vectors_of("skills", ["s1"], 8, E1)["s1"] == pytest.approx(unit(8, 9), abs=1e-6)


# -- keyword search -----------------------------------------------------------------------------------


def test_keyword_search_in_chinese_and_english(any_store: Store) -> None:
    any_store.insert_item(item("zh", "用户喜欢去成都看大熊猫"), None, None)
    any_store.insert_item(item("zh2", "用户喜欢爬山"), None, None)
    any_store.insert_item(item("en", "Likes HIKING in the mountains"), None, None)
    any_store.insert_item(item("keyed", "prefers quiet places", key="museum"), None, None)
    any_store.insert_item(item("mixed", "周末去 museum 看展"), None, None)
    assert keyword(any_store, "大熊猫") == ["zh"]
    assert keyword(any_store, "成都的熊猫") == ["zh"]
    assert keyword(any_store, "hiking") == ["en"]
    assert keyword(any_store, "Mountains") == ["en"]
    assert sorted(keyword(any_store, "museum")) == ["keyed", "mixed"]  # the key is searched too
    assert keyword(any_store, "看展") == ["mixed"]
    assert keyword(any_store, "skiing") == []


def test_keyword_search_filters_user_status_kind_and_scope(any_store: Store) -> None:
    any_store.insert_item(item("mine", "用户喜欢文化景点"), None, None)
    any_store.insert_item(item("theirs", "用户喜欢文化景点", user="u2"), None, None)
    any_store.insert_item(item("archived", "用户喜欢文化景点", status="archived"), None, None)
    any_store.insert_item(item("preference", "用户喜欢文化景点", kind="preference"), None, None)
    any_store.insert_item(item("agent", "用户喜欢文化景点", agent="a1", app="p1"), None, None)
    assert sorted(keyword(any_store, "文化景点")) == ["agent", "mine"]
    assert keyword(any_store, "文化景点", Scope("u2")) == ["theirs"]
    assert keyword(any_store, "文化景点", kind="preference") == ["preference"]
    assert keyword(any_store, "文化景点", Scope("u1", agent_id="a1")) == ["agent"]
    assert keyword(any_store, "文化景点", Scope("u1", app_id="p1")) == ["agent"]
    assert keyword(any_store, "文化景点", Scope("u1", "a2")) == []
    assert keyword(any_store, "文化景点", Scope("nobody")) == []


def test_keyword_search_ranks_more_matching_words_first(any_store: Store) -> None:
    for n, filler in enumerate(["likes tea", "plays chess", "reads novels", "cooks pasta", "rides bikes"]):
        any_store.insert_item(item(f"f{n}", filler), None, None)
    any_store.insert_item(item("one", "visits museum weekly"), None, None)
    any_store.insert_item(item("both", "museum hiking weekly"), None, None)
    hits = any_store.keyword_search(Scope("u1"), "items", "fact", match_query("museum hiking") or "", 10)
    assert [h.id for h in hits] == ["both", "one"]
    assert hits[0].score > hits[1].score
    assert (
        len(any_store.keyword_search(Scope("u1"), "items", "fact", match_query("museum hiking") or "", 1))
        == 1
    )


def test_updates_reindex_and_archiving_leaves_search(any_store: Store) -> None:
    original = item("a", "likes museums")
    any_store.insert_item(original, unit(4, 1), E1)
    any_store.update_item(replace(original, text="likes hiking"))
    assert keyword(any_store, "museums") == []
    assert keyword(any_store, "hiking") == ["a"]
    any_store.update_item(replace(original, text="likes hiking", key="outdoors"))
    assert keyword(any_store, "outdoors") == ["a"]
    any_store.update_item(replace(original, text="likes hiking", status="archived"))
    assert keyword(any_store, "hiking") == []
    assert any_store.vector_search(Scope("u1"), "items", "fact", unit(4, 1), 10) == []


def test_keyword_search_over_skills(any_store: Store) -> None:
    any_store.save_skill(skill("s1"), "trip-planning 旅行规划 itinerary", None, None)
    any_store.save_skill(skill("s2"), "code review checklist", None, None)
    any_store.save_skill(skill("s3", status="archived"), "旅行规划 archived", None, None)
    any_store.save_skill(skill("s4", user="u2"), "旅行规划", None, None)
    assert keyword(any_store, "旅行规划", table="skills", kind="") == ["s1"]
    assert keyword(any_store, "checklist", table="skills", kind="") == ["s2"]
    any_store.save_skill(skill("s1", version=2), "budget travel", None, None)  # search text replaced
    assert keyword(any_store, "旅行规划", table="skills", kind="") == []
    assert keyword(any_store, "budget", table="skills", kind="") == ["s1"]
    any_store.delete_skill("s2")
    assert keyword(any_store, "checklist", table="skills", kind="") == []


# -- re-embedding -------------------------------------------------------------------------------------


def test_stale_item_vectors_are_found_in_id_order_and_replaced(any_store: Store) -> None:
    any_store.insert_item(item("i1"), unit(8, 1), E1)  # current
    any_store.insert_item(item("i2"), unit(8, 2), E0)  # another embedder
    any_store.insert_item(item("i3"), unit(16, 3), E1)  # another length
    any_store.insert_item(item("i4"), None, None)  # no vector: nothing to redo
    any_store.insert_item(item("i5", user="u2"), unit(8, 5), E0)
    assert any_store.stale_vectors("items", E1, 8, 10) == ["i2", "i3", "i5"]
    assert any_store.stale_vectors("items", E1, 8, 2) == ["i2", "i3"]
    assert any_store.stale_vectors("items", E1, 8, 10, after="i3") == ["i5"]
    assert any_store.stale_vectors("items", E1, None, 10) == ["i2", "i5"]
    assert any_store.count_stale_vectors("items", E1, 8) == 3
    assert any_store.count_stale_vectors("items", E1, None) == 2

    assert nearest(any_store, unit(8, 2), embedder_id=E1) == ["i1"]
    assert any_store.set_vector("items", "i2", unit(8, 2), E1)
    assert nearest(any_store, unit(8, 2), embedder_id=E1)[0] == "i2"  # searchable at once
    assert not any_store.set_vector("items", "i2", unit(8, 6), E1)  # already current: left alone
    assert any_store.vectors_of("items", ["i2"], 8, E1)["i2"] == pytest.approx(unit(8, 2), abs=1e-6)
    assert not any_store.set_vector("items", "i1", unit(8, 6), E1)
    assert any_store.set_vector("items", "i3", unit(8, 3), E1)
    assert not any_store.set_vector("items", "missing", unit(8, 3), E1)
    assert any_store.stale_vectors("items", E1, 8, 10) == ["i5"]
    assert any_store.count_stale_vectors("items", E1, 8) == 1


def test_stale_skill_vectors(any_store: Store) -> None:
    any_store.save_skill(skill("s1"), "a", unit(8, 1), E1)
    any_store.save_skill(skill("s2"), "b", unit(8, 2), E0)
    any_store.save_skill(skill("s3"), "c", None, None)
    assert any_store.stale_vectors("skills", E1, 8, 10) == ["s2"]
    assert any_store.count_stale_vectors("skills", E1, 8) == 1
    assert any_store.set_vector("skills", "s2", unit(8, 2), E1)
    assert any_store.count_stale_vectors("skills", E1, 8) == 0
    assert [h.id for h in any_store.vector_search(Scope("u1"), "skills", "", unit(8, 2), 1, E1)] == ["s2"]


def test_clusters_are_stale_while_their_user_has_stale_vectors(any_store: Store) -> None:
    any_store.save_cluster(cluster("k1", dim=8))
    any_store.save_cluster(cluster("k2", user="u2", dim=16))
    any_store.save_cluster(cluster("k3", user="u3", dim=8))
    any_store.insert_item(item("i1"), unit(8, 1), E0)
    any_store.insert_item(item("i3", user="u3"), unit(8, 1), E1)
    any_store.save_skill(skill("s3", user="u3"), "x", unit(8, 3), E1)
    assert any_store.stale_vectors("clusters", E1, 8, 10) == ["k1", "k2"]
    assert any_store.count_stale_vectors("clusters", E1, 8) == 2
    assert any_store.stale_vectors("clusters", E1, 8, 10, after="k1") == ["k2"]
    centroid = unit(8, 42)
    assert any_store.set_vector("clusters", "k2", centroid, E1)
    assert any_store.list_clusters(Scope("u2"))[0].centroid == pytest.approx(centroid, abs=1e-6)
    assert any_store.stale_vectors("clusters", E1, 8, 10) == ["k1"]
    any_store.set_vector("items", "i1", unit(8, 1), E1)
    assert any_store.count_stale_vectors("clusters", E1, 8) == 0
    any_store.save_skill(skill("s1"), "x", unit(8, 3), E0)
    assert any_store.stale_vectors("clusters", E1, 8, 10) == ["k1"]
    assert not any_store.set_vector("clusters", "missing", centroid, E1)


# -- clusters and task records ------------------------------------------------------------------------


def test_clusters_are_saved_listed_and_updated(any_store: Store) -> None:
    first, second = cluster("k1", create_time=1), cluster("k2", agent="a1", create_time=2)
    any_store.save_cluster(second)
    any_store.save_cluster(first)
    any_store.save_cluster(cluster("k3", user="u2"))
    listed = any_store.list_clusters(Scope("u1"))
    assert [c.id for c in listed] == ["k1", "k2"]
    got = listed[1]
    assert (got.user_id, got.agent_id, got.app_id, got.title, got.size, got.skill_id) == (
        "u1",
        "a1",
        None,
        "trip planning",
        1,
        None,
    )
    assert (got.create_time, got.update_time) == (2, 2)
    assert got.centroid.dtype == np.float32 and got.centroid == pytest.approx(second.centroid, abs=1e-6)
    assert [c.id for c in any_store.list_clusters(Scope("u1", agent_id="a1"))] == ["k2"]
    moved = replace(first, title="行程规划", centroid=unit(8, 9), size=3, skill_id="s1", update_time=50)
    any_store.save_cluster(moved)
    updated = any_store.list_clusters(Scope("u1"))[0]
    assert (updated.id, updated.title, updated.size, updated.skill_id, updated.update_time) == (
        "k1",
        "行程规划",
        3,
        "s1",
        50,
    )
    assert updated.centroid == pytest.approx(unit(8, 9), abs=1e-6) and updated.create_time == 1
    assert len(any_store.list_clusters(Scope("u1"))) == 2


def test_task_records(any_store: Store) -> None:
    rows = [record("r1", "k1", "c1", 10), record("r2", "k2", "c1", 30), record("r3", "k1", "c2", 20)]
    for row in rows:
        any_store.add_task_record(row)
    assert any_store.get_task_record("r2") == rows[1]
    assert any_store.get_task_record("missing") is None
    assert any_store.task_records("k1") == [rows[0], rows[2]]
    assert any_store.latest_task_record("u1", "c1") == rows[1]
    assert any_store.latest_task_record("u1", "c2") == rows[2]
    assert any_store.latest_task_record("u2", "c1") is None
    assert any_store.conversation_records("u1", "c1") == [rows[0], rows[1]]
    assert any_store.conversation_records("u2", "c1") == []
    tied = record("r4", "k1", "c1", 30)  # same time as r2: the later stored one is the latest
    any_store.add_task_record(tied)
    assert any_store.latest_task_record("u1", "c1") == tied
    assert any_store.task_records("k1") == [rows[0], rows[2], tied]
    rewritten = replace(rows[0], cluster_id="k2", record={"title": "改过", "steps": []})
    any_store.add_task_record(rewritten)
    assert any_store.get_task_record("r1") == rewritten
    assert [r.id for r in any_store.task_records("k1")] == ["r3", "r4"]
    assert [r.id for r in any_store.task_records("k2")] == ["r1", "r2"]


def test_deleting_a_task_record_takes_a_cluster_it_leaves_empty(any_store: Store) -> None:
    any_store.save_cluster(cluster("k1"))
    any_store.save_cluster(cluster("k2"))
    for row in (record("r1", "k1", "c1", 10), record("r2", "k1", "c1", 20), record("r3", "k2", "c1", 30)):
        any_store.add_task_record(row)
    any_store.delete_task_record("r1")
    any_store.delete_task_record("missing")
    assert any_store.get_task_record("r1") is None
    assert [r.id for r in any_store.task_records("k1")] == ["r2"]
    assert {c.id for c in any_store.list_clusters(Scope("u1"))} == {"k1", "k2"}
    any_store.delete_task_record("r3")
    assert [c.id for c in any_store.list_clusters(Scope("u1"))] == ["k1"]


# -- skills -------------------------------------------------------------------------------------------


def test_saving_a_skill_appends_immutable_versions(any_store: Store) -> None:
    first = skill("s1")
    any_store.save_skill(first, "trip", unit(8, 1), E1)
    assert any_store.get_skill("s1") == first
    assert any_store.skill_versions("s1") == [first.current]
    second = replace(skill("s1", version=2, name="travel-planning"), confidence=0.9, tags=("new",))
    any_store.save_skill(second, "travel", unit(8, 2), E1)
    assert any_store.get_skill("s1") == second
    assert any_store.skill_versions("s1") == [first.current, second.current]
    rewritten = replace(second, current=replace(second.current, markdown="# changed"), confidence=0.95)
    any_store.save_skill(rewritten, "travel", unit(8, 2), E1)
    stored = any_store.get_skill("s1")
    assert stored is not None and stored.confidence == 0.95
    assert stored.current == second.current  # a stored version is never rewritten
    assert any_store.skill_versions("s1") == [first.current, second.current]
    assert any_store.get_skill("missing") is None and any_store.skill_versions("missing") == []
    any_store.save_skill(skill("s2"), "other", None, None)
    batch = any_store.get_skills(["s1", "missing", "s2"])
    assert batch == {"s1": any_store.get_skill("s1"), "s2": skill("s2")} and any_store.get_skills([]) == {}


def test_list_skills_by_scope_and_status(any_store: Store) -> None:
    any_store.save_skill(skill("s1", create_time=1), "a", None, None)
    any_store.save_skill(skill("s2", agent="a1", create_time=2), "b", None, None)
    any_store.save_skill(skill("s3", status="archived", create_time=3), "c", None, None)
    any_store.save_skill(skill("s4", app="p1", create_time=4), "d", None, None)
    any_store.save_skill(skill("s5", user="u2"), "e", None, None)
    assert ids(any_store.list_skills(Scope("u1"))) == ["s1", "s2", "s4"]
    assert ids(any_store.list_skills(Scope("u1"), ("activated", "archived"))) == ["s1", "s2", "s3", "s4"]
    assert ids(any_store.list_skills(Scope("u1"), ("archived",))) == ["s3"]
    assert ids(any_store.list_skills(Scope("u1", agent_id="a1"))) == ["s2"]
    assert ids(any_store.list_skills(Scope("u1", app_id="p1"))) == ["s4"]
    assert any_store.list_skills(Scope("u1"))[0] == skill("s1", create_time=1)
    any_store.save_skill(skill("s1", version=2, create_time=1), "a", None, None)
    assert ids(any_store.list_skills(Scope("u1"))) == ["s1", "s2", "s4"]  # a new version keeps its place
    assert any_store.list_skills(Scope("u1"))[0].current.version == 2


def test_delete_skill_removes_its_versions_and_frees_its_cluster(any_store: Store) -> None:
    any_store.save_cluster(replace(cluster("k1"), skill_id="s1"))
    any_store.save_skill(skill("s1", cluster="k1"), "trip", unit(8, 1), E1)
    any_store.save_skill(skill("s1", version=2, cluster="k1"), "trip", unit(8, 1), E1)
    any_store.save_skill(skill("s2", cluster="k2"), "other", None, None)
    assert any_store.delete_skill("s1")
    assert any_store.get_skill("s1") is None and any_store.skill_versions("s1") == []
    assert [s.id for s in any_store.list_skills(Scope("u1"))] == ["s2"]
    assert any_store.vector_search(Scope("u1"), "skills", "", unit(8, 1), 5) == []
    assert any_store.list_clusters(Scope("u1"))[0].skill_id is None
    assert not any_store.delete_skill("s1")
    assert len(any_store.skill_versions("s2")) == 1


def test_a_skills_state_feedback_authors_and_history(any_store: Store) -> None:
    """State, served version and feedback counts change without a new version; who made a version and
    what it held out are kept; the history is in order, and goes with the skill."""
    edited = replace(skill("s1").current, version=2, author="lin@team", held_out=("procedure: x — why",))
    candidate = replace(skill("s1"), state="candidate", status="archived")
    any_store.save_skill(candidate, "trip", None, None)
    any_store.save_skill(replace(candidate, current=edited), "trip", None, None)
    stored = any_store.get_skill("s1")
    assert stored is not None and stored.state == "candidate" and stored.current == edited
    assert any_store.list_skills(Scope("u1")) == []
    any_store.set_skill_state(replace(stored, state="active", status="activated", live_version=1, helpful=2))
    again = any_store.get_skill("s1")
    assert again == replace(stored, state="active", status="activated", live_version=1, helpful=2)
    assert [s.id for s in any_store.list_skills(Scope("u1"))] == ["s1"]
    events = [SkillEvent("s1", 5, "memskill", "created", 1), SkillEvent("s1", 9, "ops", "approved", 2, "ok")]
    for event in events:
        any_store.add_skill_event(event)
    any_store.add_skill_event(SkillEvent("s2", 7, "ops", "retired", 1))
    assert any_store.skill_events("s1") == events
    assert any_store.delete_skill("s1")
    assert any_store.skill_events("s1") == [] and len(any_store.skill_events("s2")) == 1


# -- users, keys and overviews ------------------------------------------------------------------------


def test_user_ids_are_the_users_with_messages(any_store: Store) -> None:
    assert any_store.user_ids() == []
    for n, user in enumerate(("u3", "u1", "u2", "u1")):
        add(any_store, f"t{n}", user=user)
    assert any_store.user_ids() == ["u1", "u2", "u3"]


def test_api_keys(any_store: Store) -> None:
    first = ApiKeyRow("key1", "hash1", "msk_aaaa", None, "ops", 100)
    second = ApiKeyRow("key2", "hash2", "msk_bbbb", "app1", "读者", 200)
    any_store.save_api_key(second)
    any_store.save_api_key(first)
    assert any_store.api_key_by_hash("hash2") == second
    assert any_store.api_key_by_id("key1") == first
    assert any_store.api_key_by_hash("nope") is None and any_store.api_key_by_id("nope") is None
    assert any_store.list_api_keys() == [first, second]
    assert any_store.revoke_api_key("key1", 300)
    assert any_store.api_key_by_id("key1") == replace(first, revoke_time=300)
    assert not any_store.revoke_api_key("key1", 400)  # already revoked: the first time is kept
    assert any_store.api_key_by_hash("hash1") == replace(first, revoke_time=300)
    assert any_store.revoke_api_key("msk_bbbb", 500)  # by prefix
    assert any_store.api_key_by_id("key2") == replace(second, revoke_time=500)
    assert not any_store.revoke_api_key("unknown", 600)
    assert [k.revoke_time for k in any_store.list_api_keys()] == [300, 500]


def test_user_overview_counts(any_store: Store) -> None:
    add(any_store, "t1", ["a", "b"], conversation="c1")
    add(any_store, "t2", ["c"], conversation="c2")
    add(any_store, "t3", ["d"], user="u2")
    any_store.finish_job("t1", "completed", usage=Usage(10, 5, 1))
    any_store.finish_job("t2", "failed", "boom", usage=Usage(1, 1, 1))
    for row in (
        item("f1"),
        item("f2"),
        item("f3", status="archived"),
        item("p1", kind="preference"),
        item("t1", kind="tool"),
    ):
        any_store.insert_item(row, None, None)
    any_store.save_skill(skill("s1"), "a", None, None)
    any_store.save_skill(skill("s2", status="archived"), "b", None, None)
    overview = {u.user_id: u for u in any_store.user_overview()}
    assert sorted(overview) == ["u1", "u2"]
    first = overview["u1"]
    assert (first.memories, first.preferences, first.tool_memories, first.skills) == (2, 1, 1, 1)
    assert (first.conversations, first.messages, first.tokens, first.failed_jobs) == (2, 3, 17, 1)
    last = max(job.update_time for job in any_store.list_jobs(user_id="u1"))
    assert first.last_active == last
    second = overview["u2"]
    assert (second.memories, second.skills, second.conversations, second.messages, second.tokens) == (
        0,
        0,
        1,
        1,
        0,
    )
    assert second.failed_jobs == 0 and second.last_active == any_store.get_job("t3").update_time  # type: ignore[union-attr]
    listed = any_store.user_overview()
    assert listed == sorted(listed, key=lambda u: (-u.last_active, u.user_id))


# -- transactions and threads -------------------------------------------------------------------------


def test_a_failed_transaction_writes_nothing(any_store: Store) -> None:
    with pytest.raises(RuntimeError), any_store.transaction():
        add(any_store, "t1", ids=["m1"])
        any_store.insert_item(item("i1"), unit(8, 1), E1)
        any_store.save_skill(skill("s1"), "trip", None, None)
        any_store.save_cluster(cluster("k1"))
        any_store.add_task_record(record("r1", "k1", "c1", 1))
        any_store.save_api_key(ApiKeyRow("key1", "hash1", "msk_a", None, "", 1))
        assert any_store.get_item("i1") is not None  # a transaction reads its own writes
        raise RuntimeError("boom")
    assert any_store.get_job("t1") is None and any_store.messages_by_ids(["m1"]) == []
    assert any_store.get_item("i1") is None and nearest(any_store, unit(8, 1)) == []
    assert keyword(any_store, "museums") == []
    assert any_store.get_skill("s1") is None and any_store.list_clusters(Scope("u1")) == []
    assert any_store.get_task_record("r1") is None and any_store.api_key_by_id("key1") is None
    assert add(any_store, "t1", ids=["m1"]).new_message_ids == ("m1",)  # the store is usable afterwards


def test_nested_transactions_join_the_outer_one(any_store: Store) -> None:
    with pytest.raises(RuntimeError), any_store.transaction():
        any_store.insert_item(item("outer"), None, None)
        with any_store.transaction():
            any_store.insert_item(item("inner"), None, None)
        assert any_store.get_item("inner") is not None
        raise RuntimeError("boom")
    assert any_store.get_items(["outer", "inner"]) == []
    with any_store.transaction():
        any_store.insert_item(item("outer"), None, None)
        with any_store.transaction():
            any_store.insert_item(item("inner"), None, None)
    assert [i.id for i in any_store.get_items(["outer", "inner"])] == ["outer", "inner"]


def test_threads_ingest_at_once(any_store: Store) -> None:
    def ingest(thread: int) -> None:
        for n in range(25):
            result = add(
                any_store, f"t{thread}-{n}", [f"thread {thread} message {n}"], conversation=f"c{thread}-{n}"
            )
            assert not result.duplicate and len(result.new_message_ids) == 1

    in_threads(4, ingest)
    assert any_store.count_jobs("running") == 100
    assert len(any_store.conversation_ids("u1")) == 100
    assert len(any_store.list_jobs(limit=1000)) == 100


def test_concurrent_claims_hand_out_each_job_once_and_one_per_user(any_store: Store) -> None:
    users = [f"u{n}" for n in range(10)]
    for round_ in range(3):
        for user in users:
            add(any_store, f"{user}-j{round_}", [f"{user} {round_}"], user=user)
    held: list[str] = []
    lock = threading.Lock()

    def hold(worker: int) -> None:
        while (job := any_store.claim_job(f"w{worker}", 60_000)) is not None:
            with lock:
                held.append(job.id)

    in_threads(4, hold)
    assert sorted(held) == sorted(f"{user}-j0" for user in users)  # each user's first job, once

    for job_id in held:
        any_store.finish_job(job_id, "completed")
    order: list[str] = []

    def work(worker: int) -> None:
        while (job := any_store.claim_job(f"w{worker}", 60_000)) is not None:
            with lock:
                order.append(job.id)
            any_store.finish_job(job.id, "completed")

    in_threads(4, work)
    assert sorted(order) == sorted(f"{user}-j{r}" for user in users for r in (1, 2))
    for user in users:
        assert [j for j in order if j.startswith(user + "-")] == [f"{user}-j1", f"{user}-j2"]
    assert any_store.count_jobs("completed") == 30
    assert all(job.attempts == 1 for job in any_store.list_jobs(limit=100))


def test_keyword_searches_of_several_lists_equal_one_search_each(any_store: Store) -> None:
    for n, text in enumerate(["museum hiking weekly", "visits museum", "museum", "likes tea"]):
        any_store.insert_item(item(f"f{n}", text), None, None)
    any_store.insert_item(item("p", "prefers the museum", kind="preference"), None, None)
    any_store.insert_item(item("other", "museum hiking", user="u2"), None, None)
    any_store.save_skill(skill("s1"), "museum trip", unit(8, 2), E1)
    match = match_query("museum hiking") or ""
    lists = [("items", "fact"), ("items", "preference"), ("items", "tool"), ("skills", "")]
    for limit in (2, 10):
        together = any_store.keyword_searches(Scope("u1"), lists, match, limit)
        assert set(together) == set(lists)
        for table, kind in lists:
            alone = any_store.keyword_search(Scope("u1"), table, kind, match, limit)
            assert [h.id for h in together[table, kind]] == [h.id for h in alone], (table, kind, limit)
    together = any_store.keyword_searches(Scope("u1"), lists, match, 10)
    assert together["items", "fact"][0].id == "f0"  # both words first
    assert {h.id for h in together["items", "fact"]} == {"f0", "f1", "f2"}
    assert [h.id for h in together["items", "preference"]] == ["p"]
    assert [h.id for h in together["skills", ""]] == ["s1"]
    assert together["items", "tool"] == []
    assert any_store.keyword_searches(Scope("u1"), [], match, 10) == {}


def test_a_rolled_back_write_leaves_no_trace_in_the_vector_index(any_store: Store) -> None:
    """A job whose writes roll back (its lease was lost) may have searched after writing, inside its
    transaction. The next write to commit moves the user's revision to the number the rolled-back one
    had; the index must still hold what was committed, not what was rolled back."""
    any_store.insert_item(item("kept"), unit(8, 1), E1)
    assert nearest(any_store, unit(8, 1)) == ["kept"]
    with pytest.raises(RuntimeError), any_store.transaction():
        any_store.insert_item(item("rolled-back", "likes trains"), unit(8, 2), E1)
        nearest(any_store, unit(8, 2))  # (SQLite's index reads the write; PostgreSQL's searches do not)
        raise RuntimeError("the lease was lost")
    any_store.insert_item(item("committed", "likes boats"), unit(8, 3), E1)
    found = nearest(any_store, unit(8, 3))
    assert "committed" in found and "rolled-back" not in found

"""End-to-end semantics of `Memory` against a real SQLite file and the real offline embedder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memskill.config import Settings
from memskill.demo import demo_data, send
from memskill.engine import Memory
from memskill.errors import InvalidRequest, MissingField, NotFound
from memskill.models import Scope
from memskill.providers.embedders import OfflineEmbedder
from memskill.skillfile import parse, validate, validate_folder

QUERY = "清明节我打算去云南，帮我规划7天的行程。"
FAST, SLOW = "demo-traveller-fast", "demo-traveller-slow"


def ingest_demo(memory: Memory) -> None:
    for user in demo_data()["users"]:
        for conversation in user["conversations"]:
            ids = (user["user_id"], conversation["conversation_id"])
            for reply in send(memory, *ids, conversation["messages"]):
                assert reply["status"] == "completed", memory.get_status(task_id=reply["task_id"])


@pytest.fixture(scope="module")
def demo_memory(
    tmp_path_factory: pytest.TempPathFactory, offline_embedder: OfflineEmbedder
) -> Iterator[Memory]:
    engine = Memory(
        settings=Settings(data_dir=tmp_path_factory.mktemp("demo"), workers=0), embedder=offline_embedder
    )
    ingest_demo(engine)
    yield engine
    engine.close()


def travel_skill(memory: Memory, user: str) -> dict:
    skills = memory.get_skill(user_id=user)["skill_detail_list"]
    travel = [s for s in skills if s["skill_value"]["name"].startswith("travel-itinerary-planning")]
    assert len(travel) == 1, [s["skill_value"]["name"] for s in skills]  # one skill per kind of task
    return travel[0]


def test_each_traveller_gets_one_travel_skill_with_their_own_preferences(demo_memory: Memory) -> None:
    fast = travel_skill(demo_memory, FAST)
    slow = travel_skill(demo_memory, SLOW)
    fast_text = fast["skill_markdown"]
    experience = fast["skill_value"]["experience"]
    assert any("Chengdu" in lesson and "成都市" in lesson for lesson in experience)
    assert not any("成功" in lesson or "succeeded" in lesson for lesson in experience)  # only what failed
    for wish in ("回头路", "文化", "天气"):
        assert wish in fast_text
        assert wish in " ".join(fast["skill_value"]["preference"])
        assert wish in fast["skill_value"]["procedure"]
    slow_preferences = " ".join(slow["skill_value"]["preference"])
    slow_wishes = slow_preferences + slow["skill_value"]["procedure"]  # "十点以后再出门" is read as a step
    assert any(late in slow_wishes for late in ("起得晚", "十点", "起不来"))
    assert "小众" in slow_preferences or "人少" in slow_preferences
    for other in ("回头路", "特种兵", "天气"):
        assert other not in slow["skill_markdown"]
    for other in ("起得晚", "小众"):
        assert other not in fast_text


def test_the_post_written_between_two_trip_turns_holds_nothing_of_the_trip(demo_memory: Memory) -> None:
    """The fast traveller asks for a post, then "好的。回到行程，住宿你建议住哪？我不想每天来回折腾。": the
    approval opens a turn that returns to the trip, so the hotel question and its answer are the trip's."""
    skills = {s["skill_value"]["name"]: s for s in demo_memory.get_skill(user_id=FAST)["skill_detail_list"]}
    post = skills["social-post-writing"]["skill_markdown"]
    assert "安逸" in post
    for trip in ("折腾", "酒店", "住宿"):
        assert trip not in post
    assert "折腾" in travel_skill(demo_memory, FAST)["skill_markdown"]


def test_answers_to_the_assistants_questions_and_one_day_changes_are_not_steps(demo_memory: Memory) -> None:
    """ "住宿还没订，看你路线怎么顺就住哪 … 交通就地铁加打车" answers the questions the skill now asks first;
    "第二天能不能把小雁塔也加上" changes one day of one plan."""
    procedure = travel_skill(demo_memory, FAST)["skill_value"]["procedure"]
    assert "市内主要坐地铁还是打车" in procedure  # what to confirm first
    for one_off in ("看你路线怎么顺", "交通就地铁加打车", "小雁塔"):
        assert one_off not in procedure


def test_skills_are_spec_valid_and_generalised(demo_memory: Memory) -> None:
    for user in (FAST, SLOW):
        for skill in demo_memory.get_skill(user_id=user)["skill_detail_list"]:
            name = skill["skill_value"]["name"]
            assert validate(skill["skill_markdown"], name) == []
            procedure = skill["skill_value"]["procedure"]
            assert "成都" not in procedure and "大理" not in procedure
    fast = travel_skill(demo_memory, FAST)
    assert "成都" not in fast["skill_value"]["description"]
    assert fast["version"] >= 2


def test_search_returns_the_users_travel_skill_for_a_new_trip(demo_memory: Memory) -> None:
    for user, wish in ((FAST, "回头路"), (SLOW, "人少")):
        reply = demo_memory.search_memory(query=QUERY, user_id=user, include_skill=True)
        skills = reply["skill_detail_list"]
        assert skills and skills[0]["skill_value"]["name"] == "travel-itinerary-planning"
        assert 0.45 <= skills[0]["relativity"] <= 1
        assert wish in " ".join(p["preference"] for p in reply["preference_detail_list"])
        assert reply["preference_note"]


def test_searches_never_cross_users(demo_memory: Memory) -> None:
    fast_ids = {m["id"] for m in demo_memory.get_memory(user_id=FAST, size=50)["memory_detail_list"]}
    reply = demo_memory.search_memory(
        query=QUERY, user_id=SLOW, include_skill=True, include_tool_memory=True, relativity=0
    )
    seen = {
        item["id"]
        for key in (
            "memory_detail_list",
            "preference_detail_list",
            "tool_memory_detail_list",
            "skill_detail_list",
        )
        for item in reply[key]
    }
    assert not seen & fast_ids
    assert all(
        s["id"] not in {x["id"] for x in demo_memory.get_skill(user_id=FAST)["skill_detail_list"]}
        for s in reply["skill_detail_list"]
    )


def test_a_task_the_user_never_did_matches_no_skill(demo_memory: Memory) -> None:
    reply = demo_memory.search_memory(query="帮我用Python写一个快速排序", user_id=FAST, include_skill=True)
    assert reply["skill_detail_list"] == []


def test_tool_lessons_say_what_failed_and_what_fixed_it(demo_memory: Memory) -> None:
    reply = demo_memory.search_memory(
        query="查一下成都的天气", user_id=FAST, include_tool_memory=True, relativity=0
    )
    [tool] = [
        t for t in reply["tool_memory_detail_list"] if t["tool_used_status"][0]["used_tool"] == "get_weather"
    ]
    assert "city not found" in tool["experience"] and "Chengdu" in tool["experience"]
    assert 0 < tool["tool_used_status"][0]["success_rate"] < 1


def test_a_tool_lesson_is_found_by_a_request_of_its_kind_at_the_default_floor(demo_memory: Memory) -> None:
    """Indexed with the requests it served, the get_weather lesson answers a new city's weather request
    and a new trip; before, only the tool's name found it (its text is the last call's log)."""

    def tools(query: str) -> list[str]:
        reply = demo_memory.search_memory(query=query, user_id=FAST, include_tool_memory=True)
        return [t["tool_used_status"][0]["used_tool"] for t in reply["tool_memory_detail_list"]]

    assert tools("查一下昆明的天气") == ["get_weather"]
    assert tools("帮我规划一下去昆明的行程") == ["get_weather"]
    assert tools("写一条朋友圈文案") == []
    assert tools("推荐一本小说") == []
    [lesson] = demo_memory.store.list_items(Scope(FAST), ["tool"])
    assert any("先查天气" in request for request in lesson.payload["requests"])


def test_versions_are_kept_and_immutable(demo_memory: Memory) -> None:
    skill = travel_skill(demo_memory, FAST)
    [with_versions] = demo_memory.get_skill(user_id=FAST, skill_id=skill["id"], include_versions=True)[
        "skill_detail_list"
    ]
    versions = with_versions["versions"]
    assert [v["version"] for v in versions] == list(range(1, skill["version"] + 1))
    assert versions[-1]["skill_markdown"] == skill["skill_markdown"]
    assert versions[0]["skill_markdown"] != versions[-1]["skill_markdown"]
    assert parse(versions[0]["skill_markdown"]).metadata["version"] == "1"


def test_export_writes_valid_skill_folders(demo_memory: Memory, tmp_path: Path) -> None:
    done = demo_memory.export_skills(FAST, tmp_path / ".claude" / "skills")
    assert done and {e.action for e in done} == {"written"}
    for folder in (e.folder for e in done):
        assert validate_folder(folder) == []
        assert (folder / "SKILL.md").read_text(encoding="utf-8").startswith("---\nname: " + folder.name)


def test_export_never_overwrites_what_it_did_not_write(demo_memory: Memory, tmp_path: Path) -> None:
    """Two users with a skill of the same name into one folder, a folder written by hand, a second run."""
    target = tmp_path / "skills"
    travel = "travel-itinerary-planning"
    first = {e.name: e.action for e in demo_memory.export_skills(FAST, target)}
    assert first[travel] == "written"
    fast_text = (target / travel / "SKILL.md").read_text(encoding="utf-8")
    again = {e.name: e.action for e in demo_memory.export_skills(FAST, target)}
    assert again == dict.fromkeys(first, "unchanged")

    slow = {e.name: e for e in demo_memory.export_skills(SLOW, target)}
    assert slow[travel].action == "skipped" and "--prefix" in slow[travel].reason
    assert (target / travel / "SKILL.md").read_text(encoding="utf-8") == fast_text  # the first user's stays
    prefixed = {e.name: e.action for e in demo_memory.export_skills(SLOW, target, prefix="slow")}
    assert prefixed["slow-" + travel] == "written"
    assert validate_folder(target / ("slow-" + travel)) == []
    manifest = json.loads((target / ".memskill.json").read_text(encoding="utf-8"))
    written = {name for name, e in slow.items() if e.action == "written"}  # names FAST had not taken
    assert set(manifest["folders"]) == {*first, *written, *prefixed}

    by_hand = tmp_path / "by-hand"
    (by_hand / travel).mkdir(parents=True)
    (by_hand / travel / "SKILL.md").write_text("mine", encoding="utf-8")
    [kept] = [e for e in demo_memory.export_skills(FAST, by_hand) if e.name == travel]
    assert kept.action == "skipped" and "--force" in kept.reason
    assert (by_hand / travel / "SKILL.md").read_text(encoding="utf-8") == "mine"
    [forced] = [e for e in demo_memory.export_skills(FAST, by_hand, force=True) if e.name == travel]
    assert forced.action == "written" and validate_folder(by_hand / travel) == []


def test_sync_removes_only_the_folders_of_deleted_skills_it_wrote(
    demo_memory: Memory, tmp_path: Path
) -> None:
    target = tmp_path / "skills"
    demo_memory.export_skills(FAST, target)
    manifest = json.loads((target / ".memskill.json").read_text(encoding="utf-8"))
    gone = next(iter(manifest["folders"]))
    manifest["folders"][gone]["user_id"] = FAST
    manifest["folders"]["an-old-skill"] = {"skill_id": "skill_old", "user_id": FAST, "sha256": ""}
    (target / "an-old-skill").mkdir()
    (target / ".memskill.json").write_text(json.dumps(manifest), encoding="utf-8")
    (target / "by-hand").mkdir()
    done = {e.name: e.action for e in demo_memory.export_skills(FAST, target, sync=True)}
    assert done["an-old-skill"] == "removed" and not (target / "an-old-skill").exists()
    assert (target / "by-hand").is_dir() and done[gone] == "unchanged"


def test_async_add_is_searchable_at_once_and_finishes_after_a_restart(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    settings = Settings(data_dir=tmp_path, workers=0)
    message = {"role": "user", "content": "我下周要去哈尔滨看冰雕，帮我列一个保暖装备清单"}
    with Memory(settings=settings, embedder=offline_embedder) as first:
        reply = first.add_message(user_id="u1", conversation_id="c1", messages=[message])
        assert reply["status"] == "running"
        found = first.search_memory(query="冰雕", user_id="u1")["memory_detail_list"]
        assert [m["memory_value"] for m in found] == ["user: " + message["content"]]
        assert first.get_status(task_id=reply["task_id"])["status"] == "running"
    restarted = Settings(data_dir=tmp_path, workers=1)
    with Memory(settings=restarted, embedder=offline_embedder) as second:
        status = second.wait(reply["task_id"], timeout=60)
        assert status["status"] == "completed"
        assert status["memory_views"]["added"]
        found = second.search_memory(query="冰雕", user_id="u1", relativity=0)["memory_detail_list"]
        assert found and "unprocessed" not in found[0]["tags"]


def test_the_same_call_twice_is_stored_once(memory: Memory) -> None:
    messages = [
        {"role": "user", "content": "I prefer aisle seats on long flights."},
        {"role": "assistant", "content": "Noted, aisle seats it is."},
    ]
    first = memory.add_message(user_id="u1", conversation_id="c1", messages=messages, async_mode=False)
    again = memory.add_message(user_id="u1", conversation_id="c1", messages=messages, async_mode=False)
    assert first["task_id"] == again["task_id"] and again["status"] == "completed"
    assert len(memory.get_message(user_id="u1", conversation_id="c1")["message_detail_list"]) == 2
    preferences = memory.get_memory(user_id="u1")["preference_detail_list"]
    assert [p["preference"] for p in preferences].count(preferences[0]["preference"]) == 1


def test_a_sync_call_runs_its_queued_duplicate_when_no_worker_would(memory: Memory) -> None:
    """Without worker threads, a synchronous call whose job an earlier asynchronous one queued runs it
    (it waited 120 s for a worker that did not exist)."""
    messages = [{"role": "user", "content": "I prefer window seats on short flights."}]
    queued = memory.add_message(user_id="u1", conversation_id="c1", messages=messages)
    assert queued["status"] == "running"
    again = memory.add_message(user_id="u1", conversation_id="c1", messages=messages, async_mode=False)
    assert again["task_id"] == queued["task_id"] and again["status"] == "completed"
    feedback = {"user_id": "u1", "conversation_id": "c1", "feedback_content": "Aisle seats, actually."}
    memory.add_feedback(**feedback)
    assert memory.add_feedback(**feedback, async_mode=False)["status"] == "completed"


def test_feedback_updates_preferences_and_the_matching_skill(memory: Memory) -> None:
    conversation = [
        {"role": "user", "content": "帮我写一封请假邮件给王经理，下周三请一天假，回答控制在500字以内"},
        {"role": "assistant", "content": "王经理您好：……（一封很长的邮件）"},
        {"role": "user", "content": "语气正式一点，再改一版"},
        {"role": "assistant", "content": "王经理：您好！……"},
    ]
    memory.add_message(user_id="u1", conversation_id="c1", messages=conversation, async_mode=False)
    [skill] = memory.get_skill(user_id="u1")["skill_detail_list"]
    reply = memory.add_feedback(
        user_id="u1", conversation_id="c1", feedback_content="太长了，以后控制在200字以内", async_mode=False
    )
    assert memory.get_status(task_id=reply["task_id"])["status"] == "completed"
    [updated] = memory.get_skill(user_id="u1")["skill_detail_list"]
    assert updated["id"] == skill["id"] and updated["version"] == skill["version"] + 1
    assert "500字" in " ".join(skill["skill_value"]["preference"])  # the request's limit, kept with the task
    assert "200字" in " ".join(updated["skill_value"]["preference"])
    assert "500字" not in " ".join(updated["skill_value"]["preference"])  # the correction replaced it
    active = memory.search_memory(query="写邮件", user_id="u1", relativity=0)["preference_detail_list"]
    assert any("200字" in p["preference"] for p in active)
    assert not any("500字" in p["preference"] for p in active)


def test_memories_can_be_read_updated_and_deleted_by_their_owner(memory: Memory) -> None:
    memory.add_message(
        user_id="u1",
        conversation_id="c1",
        async_mode=False,
        messages=[{"role": "user", "content": "我住在杭州，是一名产品经理"}],
    )
    facts = memory.get_memory(user_id="u1")["memory_detail_list"]
    assert facts
    memory_id = facts[0]["id"]
    assert memory.get_memory_by_id(memory_id, user_id="u1")["id"] == memory_id
    with pytest.raises(NotFound):
        memory.get_memory_by_id(memory_id, user_id="someone-else")
    updated = memory.update_memory(memory_id=memory_id, content="用户住在苏州", user_id="u1")
    assert updated["memory_value"] == "用户住在苏州"
    assert (
        memory.search_memory(query="苏州", user_id="u1", relativity=0)["memory_detail_list"][0]["id"]
        == memory_id
    )
    assert memory.delete_memory(memory_ids=[memory_id], user_id="intruder")["deleted"] == 0
    assert memory.delete_memory(memory_ids=[memory_id], user_id="u1")["deleted"] == 1
    with pytest.raises(NotFound):
        memory.get_memory_by_id(memory_id)


def test_delete_by_filter_must_name_the_user(fast_memory: Memory) -> None:
    fast_memory.add_message(
        user_id="u1",
        conversation_id="c1",
        async_mode=False,
        tags=["trip"],
        messages=[{"role": "user", "content": "I live in Lisbon and I hate early flights."}],
    )
    with pytest.raises(InvalidRequest):
        fast_memory.delete_memory(filter={"tags": "trip"})
    with pytest.raises(InvalidRequest):
        fast_memory.delete_memory(memory_ids=["x"], filter={"user_id": "u1"})
    assert fast_memory.delete_memory(user_id="u1", memory_ids=["x"])["deleted"] == 0
    deleted = fast_memory.delete_memory(filter={"user_id": "u1", "tags": "trip"})["deleted"]
    assert deleted >= 1
    assert fast_memory.get_memory(user_id="u1")["memory_detail_list"] == []


def test_app_scope_keeps_apps_apart(fast_memory: Memory) -> None:
    for app in ("app-a", "app-b"):
        fast_memory.add_message(
            user_id="u1",
            conversation_id=f"c-{app}",
            app_id=app,
            async_mode=False,
            messages=[{"role": "user", "content": f"I work at {app} headquarters in Oslo."}],
        )
    found = fast_memory.search_memory(query="headquarters Oslo", user_id="u1", app_id="app-a", relativity=0)
    assert found["memory_detail_list"]
    assert all(m["app_id"] == "app-a" for m in found["memory_detail_list"])


def test_a_failing_job_is_retried_then_marked_failed_with_its_error(
    fast_memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job: object, heartbeat: object = None, worker: object = None) -> None:
        raise RuntimeError("extractor exploded")

    monkeypatch.setattr(fast_memory.pipeline, "run", broken)
    monkeypatch.setattr("memskill.jobs.RETRY_BACKOFF_MS", (0, 0, 0))
    reply = fast_memory.add_message(
        user_id="u1", conversation_id="c1", messages=[{"role": "user", "content": "hi"}]
    )
    fast_memory.workers.count = 1
    fast_memory.workers.poll_seconds = 0.01
    fast_memory.workers.start()
    status = fast_memory.wait(reply["task_id"], timeout=30)
    assert status["status"] == "failed"
    assert "extractor exploded" in status["error"] and "3 attempts" in status["error"]
    # the messages stay stored: nothing acknowledged is lost
    assert fast_memory.get_message(user_id="u1", conversation_id="c1")["message_detail_list"]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"query": ""}, MissingField),
        ({"memory_limit_number": 26}, InvalidRequest),
        ({"relativity": 1.5}, InvalidRequest),
        ({"include_skill": "yes"}, InvalidRequest),
        ({"filter": {"colour": "red"}}, InvalidRequest),
    ],
)
def test_bad_search_arguments_are_refused(
    fast_memory: Memory, arguments: dict, error: type[Exception]
) -> None:
    with pytest.raises(error):
        fast_memory.search_memory(**{"query": "x", "user_id": "u1", **arguments})


def test_unknown_task_and_skill_are_not_found(fast_memory: Memory) -> None:
    with pytest.raises(NotFound):
        fast_memory.get_status(task_id="task_nope")
    with pytest.raises(NotFound):
        fast_memory.get_skill(user_id="u1", skill_id="skill_nope")
    with pytest.raises(NotFound):
        fast_memory.delete_skill(skill_id="skill_nope")


def test_a_job_taken_over_by_another_worker_commits_nothing_from_the_first(fast_memory: Memory) -> None:
    from memskill.jobs import run_job

    reply = fast_memory.add_message(
        user_id="u1",
        conversation_id="c1",
        messages=[
            {"role": "user", "content": "帮我规划成都三天的行程，我不喜欢太赶"},
            {"role": "assistant", "content": "好的"},
        ],
        async_mode=True,
    )
    store = fast_memory.store
    first = store.claim_job("worker-a", 1)
    assert first is not None
    time.sleep(0.02)  # worker-a's lease lapses; worker-b takes the job over
    second = store.claim_job("worker-b", 60_000)
    assert second is not None and second.id == first.id == reply["task_id"]
    run_job(store, fast_memory.pipeline, first, "worker-a")  # finishes late: its writes must roll back
    job = store.get_job(first.id)
    assert job is not None and job.status == "running" and job.added == ()
    assert fast_memory.get_memory(user_id="u1")["memory_detail_list"] == []
    run_job(store, fast_memory.pipeline, second, "worker-b")
    job = store.get_job(first.id)
    assert job is not None and job.status == "completed" and job.added


def test_a_chinese_preference_is_explained_in_chinese(memory: Memory) -> None:
    """Even feedback the tagger finds no wish in ("这个不行") is stored with a reason in its language."""
    messages = [
        {"role": "user", "content": "帮我写一封请假邮件给经理"},
        {"role": "assistant", "content": "经理您好：……"},
    ]
    memory.add_message(user_id="u1", conversation_id="c1", messages=messages, async_mode=False)
    memory.add_feedback(user_id="u1", conversation_id="c1", feedback_content="这个不行", async_mode=False)
    [stored] = memory.get_memory(user_id="u1")["preference_detail_list"]
    assert stored["preference"] == "这个不行" and "用户" in stored["reasoning"], stored


class SpyEmbedder:
    """A caching embedder that records the texts it had to embed while a write transaction was open."""

    def __init__(self, inner: OfflineEmbedder) -> None:
        self.inner, self.id, self.dim = inner, inner.id, inner.dim
        self.seen: set[str] = set()
        self.in_transaction: list[str] = []
        self.writing = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.writing:
            self.in_transaction += [text for text in texts if text not in self.seen]
        self.seen.update(texts)
        return self.inner.embed(texts)


def test_memories_are_embedded_before_the_write_transaction(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    """A job embeds its memories' texts in one call before it takes the write lock; inside, the
    embedder's cache answers (only skill texts, known after the transaction reads the skill, are new)."""
    spy = SpyEmbedder(offline_embedder)
    with Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=spy) as memory:
        opened = memory.store.transaction

        @contextmanager
        def watched() -> Iterator[None]:
            spy.writing = True
            try:
                with opened():
                    yield
            finally:
                spy.writing = False

        memory.store.transaction = watched  # type: ignore[method-assign]
        user = demo_data()["users"][0]
        conversation = user["conversations"][0]
        replies = list(send(memory, "spy-user", conversation["conversation_id"], conversation["messages"]))
        assert all(reply["status"] == "completed" for reply in replies)
        items = memory.store.list_items(Scope("spy-user"), ("fact", "preference"))
        assert items
        late = [item.text for item in items if any(item.text in text for text in spy.in_transaction)]
        assert late == []


def test_a_like_reverses_only_the_dislike_of_the_same_thing(memory: Memory) -> None:
    """ "孩子爱吃番茄" does not undo "孩子不爱吃胡萝卜" (another food); "我现在不吃辣了" undoes
    "我喜欢吃辣"."""
    turns = [
        [{"role": "user", "content": "帮我安排下周的晚餐，孩子不爱吃胡萝卜。"}],
        [{"role": "user", "content": "再找几个鱼的菜谱，孩子爱吃番茄。"}],
        [{"role": "user", "content": "我喜欢吃辣。"}],
        [{"role": "user", "content": "我现在不吃辣了。"}],
    ]
    for turn in turns:
        memory.add_message(user_id="u-food", conversation_id="c-food", messages=turn, async_mode=False)
    stored = memory.get_memory(user_id="u-food")["preference_detail_list"]
    active = [p["preference"] for p in stored if p["status"] == "activated"]
    assert any("胡萝卜" in text for text in active) and any("番茄" in text for text in active)
    assert not any("喜欢吃辣" in text for text in active), active
    assert any("不吃辣" in text for text in active), active


def send_dev_conversation(memory: Memory, dev_user: str, index: int, as_user: str) -> str:
    """Send one conversation of a dev-set user (`bench/devset_extra.json`) turn by turn; its id."""
    from importlib import resources

    users = json.loads(resources.files("memskill.bench").joinpath("devset_extra.json").read_text("utf-8"))
    [user] = [user for user in users["users"] if user["user_id"] == dev_user]
    conversation = user["conversations"][index]
    for _ in send(memory, as_user, conversation["conversation_id"], conversation["messages"]):
        pass
    return str(conversation["conversation_id"])


def assert_items_cite_stored_records(memory: Memory, user: str) -> None:
    """Every item of the user's skills cites only task records that are stored."""
    scope = Scope(user)
    records = {row.id for c in memory.store.list_clusters(scope) for row in memory.store.task_records(c.id)}
    for skill in memory.store.list_skills(scope):
        for item in skill.current.items:
            assert set(item.sources) <= records, (item.text, item.sources)


def test_no_two_task_records_of_a_conversation_hold_the_same_message(memory: Memory) -> None:
    # A potter's conversation sent turn by turn: small talk, then a kiln request that the small talk's
    # chunk held until the request's next turn moved the boundary. The chunk that is gone leaves no
    # record behind, so the kiln task makes one skill, not two.
    send_dev_conversation(memory, "dev-jude", 0, "jude")
    held: dict[str, str] = {}
    for cluster in memory.store.list_clusters(Scope("jude")):
        for row in memory.store.task_records(cluster.id):
            for source in row.record.get("sources", []):
                assert source not in held, (row.record["title"], held.get(source))
                held[source] = row.record["title"]
    kiln = [s for s in memory.store.list_skills(Scope("jude")) if "1222" in s.current.markdown]
    assert len(kiln) == 1, [s.current.name for s in kiln]
    # What a removed record said is withdrawn from its skill: every item cites records that exist.
    assert_items_cite_stored_records(memory, "jude")


def test_a_task_longer_than_the_context_is_read_from_its_start(memory: Memory) -> None:
    # A museum officer's second conversation: labels, then catalogue records with tool calls, over the
    # sixteen messages a job reads. Its part in the window was recorded again as a task of its own on
    # each turn (a record starting at a tool result), and what it said counted three times.
    conversation_id = send_dev_conversation(memory, "dev-nell", 1, "nell")
    rows = memory.store.conversation_records("nell", conversation_id)
    firsts = memory.store.messages_by_ids([row.record["sources"][0] for row in rows])
    assert all(message.role == "user" for message in firsts), [m.content[:40] for m in firsts]
    held = [source for row in rows for source in row.record["sources"]]
    assert len(held) == len(set(held))


def test_a_skill_cites_only_records_that_exist(memory: Memory) -> None:
    # A household-budget conversation whose boundaries move as it goes: a follow-up ("外卖这块你再帮我
    # check一下") is a chunk of its own for a turn, then merges back into the review. The gone chunk's
    # record shared a cluster with the review's, and its support stayed in the skill.
    send_dev_conversation(memory, "dev-xu", 0, "xu")
    assert_items_cite_stored_records(memory, "xu")


def test_a_tool_failure_fixed_in_an_earlier_turn_stays_in_the_skill(memory: Memory) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "search_venues", "arguments": ""}}
    turns: list[list[dict[str, Any]]] = [
        [
            {
                "role": "user",
                "content": "这周五部门团建，帮我出个方案，人均预算上限150元，一定要有雨天备选。",
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [_with(call, '{"budget_per_person": "150元以内"}')],
            },
            {
                "role": "tool",
                "tool_call_id": "c1",
                "content": '{"error": "budget_per_person: expected an integer"}',
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [_with(call, '{"budget_per_person": 150}', "c2")],
            },
            {"role": "tool", "tool_call_id": "c2", "content": '{"venues": [{"name": "茶园营地"}]}'},
            {
                "role": "assistant",
                "content": "方案：\n13:30 出发\n14:15 茶园徒步\n17:40 农家晚餐\n19:00 返程",
            },
        ],
        [
            {"role": "user", "content": "大巴的钱你没算吧？以后算人均都要把交通费算进去。"},
            {"role": "assistant", "content": "已改：\n13:30 出发\n14:15 茶园徒步\n费用：含大巴，人均143元"},
        ],
        [{"role": "user", "content": "这版清楚了，就按这个报给领导。"}],
        [
            {"role": "user", "content": "帮我写篇小红书笔记，推我们店新上的香薰蜡烛，标题不超过20字。"},
            {
                "role": "assistant",
                "content": "标题：下班后，给房间点一支蜡烛\n正文：\n加班回家，点一支蜡烛。\n#香薰蜡烛",
            },
        ],
    ]
    for turn in turns:
        memory.add_message(user_id="u", conversation_id="c", messages=turn, async_mode=False)
    [events] = [s for s in memory.store.list_skills(Scope("u")) if "search_venues" in s.current.markdown]
    # The next task's job re-read the outing with its record; the failure fixed in it still teaches.
    assert "budget_per_person 要传数字（如 150）" in events.current.markdown.split("## Experience")[1]


def _with(call: dict[str, Any], arguments: str, call_id: str = "c1") -> dict[str, Any]:
    return {**call, "id": call_id, "function": {**call["function"], "arguments": arguments}}


def test_a_record_is_written_again_when_a_boundary_of_its_chunk_moved() -> None:
    from memskill.models import Message, TaskChunk
    from memskill.rechunk import moved
    from memskill.stores.base import TaskRecordRow

    stored = TaskRecordRow("rec_1", "u", "clu_1", "c", {"sources": ["a", "b"]}, 1)

    def chunk(*ids: str) -> TaskChunk:
        return TaskChunk("c", "", tuple(Message("user", ids_, id=ids_) for ids_ in ids))

    assert not moved(stored, chunk("a", "b", "c"), fresh={"c"})  # the task went on: this job records it
    assert moved(stored, chunk("a", "b", "c"))  # it took the messages of a chunk that is gone
    assert moved(stored, chunk("a"))  # it lost messages to the next chunk
    assert not moved(None, chunk("a"))


def test_a_job_reads_back_to_its_tasks_start_by_a_bounded_number_of_messages() -> None:
    from memskill.models import Job, Message
    from memskill.rechunk import TASK_REACH, with_task_start
    from memskill.stores.base import TaskRecordRow

    ids = [f"m{n}" for n in range(200)]

    class Records:
        def conversation_records(self, user_id: str, conversation_id: str) -> list[TaskRecordRow]:
            return [TaskRecordRow("rec_1", "u", "clu_1", "c", {"sources": ids}, 1)]

        def messages_by_ids(self, wanted: list[str]) -> list[Message]:
            return [Message("user", i, id=i) for i in wanted]

    job = Job(id="j", user_id="u", conversation_id="c", kind="ingest", status="running")
    window = [Message("user", i, id=i) for i in ids[-16:]]
    read = with_task_start(Records(), job, window)  # type: ignore[arg-type]
    assert [m.id for m in read] == ids[-16 - TASK_REACH :]

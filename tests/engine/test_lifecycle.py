"""Skills a team can trust: states, the evidence check, review, edits, rollback and feedback per skill.

Every test drives the real engine on a real SQLite file with the offline embedder (the model path
through the fake OpenAI-compatible server on loopback), and reads what `search/memory`, `get/skill`
and the skill's history say.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from paths import DATA
from test_llm_path import TRIP, good_script, make_memory

from memskill import Memory
from memskill.config import Settings
from memskill.errors import InvalidRequest, NotFound
from memskill.evidence import check, technical_tokens
from memskill.models import SkillItem
from memskill.providers.embedders import OfflineEmbedder
from memskill.testing import FakeOpenAI, RecordedRequest

BRIEF: dict[str, Any] = json.loads((DATA / "brief_conversation.json").read_text(encoding="utf-8"))
USER = BRIEF["user_id"]
QUERY = "清明节我打算去云南，帮我规划7天的行程。"


def memory_with(tmp_path: Path, embedder: OfflineEmbedder, **settings: Any) -> Memory:
    return Memory(settings=Settings(data_dir=tmp_path, workers=0, **settings), embedder=embedder)


def add_brief(memory: Memory, conversation_id: str = "c-brief") -> None:
    memory.add_message(
        user_id=USER, conversation_id=conversation_id, messages=BRIEF["messages"], async_mode=False
    )


def served(memory: Memory) -> list[dict[str, Any]]:
    """The skills `search/memory` returns for the brief's kind of request."""
    found = memory.search_memory(query=QUERY, user_id=USER, include_skill=True)
    return list(found["skill_detail_list"])


def only_skill(memory: Memory) -> Any:
    skills = memory.store.list_skills(memory._scope(USER), statuses=("activated", "archived"))
    assert len(skills) == 1, [s.current.name for s in skills]
    return skills[0]


def test_by_default_the_briefs_skill_is_active_and_served(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory)
        skill = only_skill(memory)
        hits = served(memory)
        _, _, events = memory.review.history(skill.id)
    assert skill.state == "active" and skill.status == "activated"
    assert [hit["id"] for hit in hits] == [skill.id]
    assert hits[0]["state"] == "active" and hits[0]["reliability"] == 0.5
    assert (events[0].actor, events[0].action) == ("memskill", "created")


def test_a_skill_short_of_tasks_is_a_candidate_until_they_come(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder, skill_min_tasks=2) as memory:
        add_brief(memory, "c1")
        assert only_skill(memory).state == "candidate"
        assert served(memory) == []
        # A search may ask for candidates too: they come marked as such.
        asked = memory.search_memory(query=QUERY, user_id=USER, include_skill=True, include_candidates=True)
        assert [(s["id"], s["state"]) for s in asked["skill_detail_list"]] == [
            (only_skill(memory).id, "candidate")
        ]
        add_brief(memory, "c2")  # a second task of the same kind
        skill = only_skill(memory)
        assert skill.state == "active", skill
        assert [hit["id"] for hit in served(memory)] == [skill.id]


def test_with_review_required_a_skill_and_each_later_version_wait_for_approval(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder, skill_review="required") as memory:
        add_brief(memory, "c1")
        skill = only_skill(memory)
        assert skill.state == "candidate" and served(memory) == []
        approved = memory.review.approve(skill.id, "ops@team")
        assert approved.state == "active"
        [hit] = served(memory)
        assert hit["version"] == skill.current.version
        # memskill's next version waits; the approved one is still what agents get.
        memory.add_feedback(
            user_id=USER, conversation_id="c1", feedback_content="以后每天最多安排三个景点", async_mode=False
        )
        newer = only_skill(memory)
        assert newer.current.version > skill.current.version
        assert newer.live_version == skill.current.version
        [hit] = served(memory)
        assert hit["version"] == skill.current.version and "三个景点" not in hit["skill_markdown"]
        memory.review.approve(skill.id, "ops@team")
        [hit] = served(memory)
        assert hit["version"] == newer.current.version and "三个景点" in hit["skill_markdown"]
        _, _, events = memory.review.history(skill.id)
    assert [e.action for e in events if e.actor == "ops@team"] == ["approved", "approved"]


def test_reject_retire_and_approve_again(tmp_path: Path, offline_embedder: OfflineEmbedder) -> None:
    with memory_with(tmp_path, offline_embedder, skill_review="required") as memory:
        add_brief(memory)
        skill = only_skill(memory)
        rejected = memory.review.reject(skill.id, "ops", "too specific")
        assert rejected.state == "retired" and served(memory) == []
        with pytest.raises(InvalidRequest, match="nothing to reject"):
            memory.review.reject(skill.id, "ops")
        assert memory.review.approve(skill.id, "ops").state == "active"
        assert len(served(memory)) == 1
        assert memory.review.retire(skill.id, "ops", "outdated").state == "retired"
        assert served(memory) == []
        with pytest.raises(NotFound):
            memory.review.retire("skill_missing", "ops")
        _, _, events = memory.review.history(skill.id)
    assert [(e.action, e.detail) for e in events if e.actor == "ops"] == [
        ("rejected", "too specific"),
        ("approved", ""),
        ("retired", "outdated"),
    ]


def test_a_persons_edit_survives_the_next_machine_version(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory, "c1")
        skill = only_skill(memory)
        steps = [i.text for i in skill.current.items if i.section == "procedure"]
        # The tool step is proposed again by the next task of the kind: the edit must hold against it.
        dropped, reworded = next(s for s in steps if "get_weather" in s), steps[-1]
        number = steps.index(dropped) + 1
        markdown = skill.current.markdown.replace(f"{number}. {dropped}\n", "").replace(
            reworded, reworded + "（人工改写）"
        )
        edited = memory.review.edit(skill.id, markdown, "lin@team")
        assert edited.current.author == "lin@team"
        add_brief(memory, "c2")  # the same kind of task again: memskill builds on the edit
        later = only_skill(memory)
        texts = [i.text for i in later.current.items if i.section == "procedure"]
    assert later.current.version > edited.current.version and later.current.author == "memskill"
    assert dropped not in texts, "a step the person removed does not come back"
    assert reworded + "（人工改写）" in texts
    assert any("a person removed it" in reason for reason in later.current.held_out), later.current.held_out


def test_what_a_person_removed_stays_out_of_every_later_version(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    """The removed items travel in each version's held-out list, so two machine versions after the edit
    (the second reading only its previous version) still keep the person's removal."""
    from memskill.lifecycle import removed_by_people

    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory, "c1")
        skill = only_skill(memory)
        step = next(
            i.text for i in skill.current.items if i.section == "procedure" and "get_weather" in i.text
        )
        number = [i.text for i in skill.current.items if i.section == "procedure"].index(step) + 1
        memory.review.edit(skill.id, skill.current.markdown.replace(f"{number}. {step}\n", ""), "lin")
        for conversation in ("c2", "c3"):
            memory.add_message(
                user_id=USER, conversation_id=conversation, messages=BRIEF["messages"], async_mode=False
            )
            latest = only_skill(memory).current
            assert latest.author == "memskill"
            assert step not in [i.text for i in latest.items]
            assert ("procedure", step) in removed_by_people(latest, None)


def test_an_edit_must_keep_the_name_and_be_valid(tmp_path: Path, offline_embedder: OfflineEmbedder) -> None:
    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory)
        skill = only_skill(memory)
        renamed = skill.current.markdown.replace(f"name: {skill.current.name}", "name: other-name", 1)
        with pytest.raises(InvalidRequest, match="keep the name"):
            memory.review.edit(skill.id, renamed, "ops")
        with pytest.raises(InvalidRequest):
            memory.review.edit(skill.id, "not a skill file", "ops")
        assert only_skill(memory).current.version == skill.current.version


def test_rollback_makes_a_new_version_equal_to_the_old_one(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory)
        first = only_skill(memory)
        memory.add_feedback(
            user_id=USER,
            conversation_id="c-brief",
            feedback_content="以后行程里不要安排夜市",
            async_mode=False,
        )
        changed = only_skill(memory)
        assert "夜市" in changed.current.markdown
        back = memory.review.rollback(first.id, first.current.version, "ops")
        [hit] = served(memory)
        versions = memory.store.skill_versions(first.id)
    assert back.current.version == changed.current.version + 1
    assert back.current.items == first.current.items and "夜市" not in hit["skill_markdown"]
    assert hit["version"] == back.current.version
    assert versions[-1].note == f"rolled back by ops (to version {first.current.version})"


def test_feedback_moves_the_score_and_demotes_a_skill(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    with memory_with(tmp_path, offline_embedder) as memory:
        add_brief(memory)
        skill = only_skill(memory)
        for text in ("完美，就按这个来！",):
            memory.add_feedback(
                user_id=USER, conversation_id="x", feedback_content=text, skill_id=skill.id, async_mode=False
            )
        assert only_skill(memory).helpful == 1
        [hit] = served(memory)
        assert hit["reliability"] == round(2 / 3, 4)
        for text in ("Wrong, the dates are off.", "Too long.", "这个不对，日期错了。", "Too long again."):
            memory.add_feedback(
                user_id=USER, conversation_id="x", feedback_content=text, skill_id=skill.id, async_mode=False
            )
        demoted = only_skill(memory)
        assert demoted.unhelpful == 4 and demoted.reliability < 0.3
        assert demoted.state == "candidate" and served(memory) == []
        with pytest.raises(NotFound):
            memory.add_feedback(
                user_id=USER, conversation_id="x", feedback_content="ok", skill_id="skill_nope"
            )
        assert memory.review.approve(skill.id, "ops").reliability == 0.5
        _, _, events = memory.review.history(skill.id)
    actions = [e.action for e in events]
    assert actions.count("helpful") == 1 and actions.count("unhelpful") == 4
    assert any("demoted" in e.detail for e in events)


def test_the_evidence_check_names_what_no_source_backs() -> None:
    sources = "call query_db with query='select * from `order`' and read report.sql; get_weather(city)"
    assert technical_tokens("Call `get_weather` with city=Chengdu") == ["get_weather", "Chengdu"]
    kept, held_out = check(
        [
            SkillItem("procedure", "Call get_weather(city) before planning", 1, ("r1",)),
            SkillItem("procedure", "Run `get_weather_v2` for each day", 1, ("r1",)),
            SkillItem("experience", "Quote `order`, a reserved word", 1, ("r1",)),
            SkillItem("preference", "Prefers short answers", 1, ()),
            SkillItem("procedure", "Save the result to /tmp/out.csv", 1, ("r1",)),
            SkillItem("example", "`anything` goes in a quoted answer", 1, ()),
        ],
        sources,
    )
    assert [i.text for i in kept] == [
        "Call get_weather(city) before planning",
        "Quote `order`, a reserved word",
        "`anything` goes in a quoted answer",
    ]
    assert held_out == [
        "procedure: Run `get_weather_v2` for each day — no source message names `get_weather_v2`",
        "preference: Prefers short answers — cites no source message",
        "procedure: Save the result to /tmp/out.csv — no source message names `/tmp/out.csv`",
    ]


@pytest.fixture
def fake() -> Any:
    from memskill.prompts import schemas

    with FakeOpenAI(api_key="sk-test", schemas=schemas()) as server:
        yield server


def test_a_tool_the_model_made_up_is_kept_out_of_the_stored_version(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    review = script["memskill_skill_update"]

    def made_up(request: RecordedRequest) -> dict[str, Any]:
        answer = review(request)
        answer["verdicts"][1]["text"] = "Book every train with `kyoto_rail_planner` (model)"
        return dict(answer)

    script["memskill_skill_update"] = made_up
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id="u-llm", conversation_id="c1", messages=TRIP, async_mode=False)
        [skill] = memory.store.list_skills(memory._scope("u-llm"))
        reply = memory.get_skill(user_id="u-llm", skill_id=skill.id, include_versions=True)
    assert "kyoto_rail_planner" not in skill.current.markdown
    assert "Confirm the dates first (model)" in skill.current.markdown, "the rest of the answer is used"
    [reason] = [r for r in skill.current.held_out if "kyoto_rail_planner" in r]
    assert reason.endswith("no source message names `kyoto_rail_planner`")
    assert any("kyoto_rail_planner" in r for r in reply["skill_detail_list"][0]["versions"][-1]["held_out"])


def test_the_cli_reviews_skills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`memskill skills pending|approve|retire|edit|rollback|history` with who and when in the history."""
    import io

    from memskill.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, "--data-dir", str(tmp_path / "data")], out, err)
        return code, out.getvalue(), err.getvalue()

    conversation = tmp_path / "brief.json"
    conversation.write_text(json.dumps(BRIEF["messages"], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("MEMSKILL_SKILL_REVIEW", "required")
    assert run("add", str(conversation), "--user", USER, "--conversation", "c1")[0] == 0
    code, out, _ = run("skills", "pending", "--user", USER)
    assert code == 0 and out.endswith("candidate\n"), out
    skill_id = out.split()[0]
    assert run("skills", "list", "--user", USER)[1] == "", "a candidate is not listed as served"
    code, out, _ = run("skills", "approve", skill_id, "--by", "ops@team")
    assert code == 0 and out.endswith("active\n")
    approved = int(out.split()[2].lstrip("v"))
    assert skill_id in run("skills", "list", "--user", USER)[1]
    code, markdown, _ = run("skills", "show", skill_id)
    edited = tmp_path / "SKILL.md"
    added = markdown.replace("## Experience", "## Experience\n\n- 人工补充的经验")
    edited.write_text(added, encoding="utf-8")
    code, out, _ = run("skills", "edit", skill_id, "--file", str(edited), "--by", "lin@team")
    assert code == 0 and f" v{approved + 1} " in out
    assert "人工补充的经验" in run("skills", "show", skill_id)[1]
    code, out, err = run("skills", "rollback", skill_id)
    assert code == 2 and "needs the version to return to" in err
    assert run("skills", "rollback", skill_id, "--version", "1", "--by", "ops@team")[0] == 0
    assert "人工补充的经验" not in run("skills", "show", skill_id)[1]
    assert run("skills", "retire", skill_id, "--reason", "outdated", "--by", "ops@team")[0] == 0
    code, out, _ = run("skills", "history", skill_id)
    assert code == 0 and "retired" in out.splitlines()[0]
    assert "by lin@team" in out and "ops@team  approved" in out
    assert f"ops@team  retired  v{approved + 2}  (outdated)" in out
    code, _, err = run("skills", "approve", "skill_missing")
    assert code == 2 and "not found" in err


def test_review_over_http_and_feedback_naming_a_skill(
    tmp_path: Path, offline_embedder: OfflineEmbedder
) -> None:
    """The extension endpoints `/skill/review` and `/skill/history` beside the compatible API, under
    the same keys; `add/feedback` may name its skill; the OpenAPI document lists them under their tag."""
    from fastapi.testclient import TestClient

    from memskill.server import create_app

    settings = Settings(data_dir=tmp_path, workers=0, api_key="k-test", skill_review="required")
    with (
        Memory(settings=settings, embedder=offline_embedder) as memory,
        TestClient(create_app(memory)) as client,
    ):
        auth = {"Authorization": "Token k-test"}
        add_brief(memory)
        skill = only_skill(memory)

        def post(path: str, body: dict[str, Any], headers: dict[str, str] = auth) -> Any:
            return client.post(f"/api/openmem/v1{path}", json=body, headers=headers)

        ids = {"user_id": USER, "skill_id": skill.id}
        reply = post("/skill/review", {**ids, "action": "approve", "actor": "lin"})
        assert reply.status_code == 200 and reply.json()["data"]["state"] == "active"
        found = post("/search/memory", {"user_id": USER, "query": QUERY, "include_skill": True}).json()
        assert [s["id"] for s in found["data"]["skill_detail_list"]] == [skill.id]
        feedback = {
            "user_id": USER,
            "conversation_id": "x",
            "feedback_content": "Too long.",
            "skill_id": skill.id,
        }
        assert post("/add/feedback", {**feedback, "async_mode": False}).status_code == 200
        history = post("/skill/history", ids).json()["data"]
        assert history["reliability"] == round(1 / 3, 4)
        events = [(e["actor"], e["action"]) for e in history["events"]]
        approver = next(actor for actor, action in events if action == "approved")
        assert approver.startswith("lin via key:"), events
        assert ("feedback", "unhelpful") in events and events[0] == ("memskill", "created")
        assert all("author" in v and "held_out" in v for v in history["versions"])
        bad = post("/skill/review", {**ids, "action": "rollback"})
        assert bad.status_code == 400 and "needs the version to return to" in bad.json()["message"]
        unknown = post("/skill/review", {**ids, "action": "explode"})
        assert unknown.status_code == 400
        elsewhere = post(
            "/skill/review", {"user_id": "someone-else", "skill_id": skill.id, "action": "retire"}
        )
        assert elsewhere.status_code == 404
        assert post("/skill/history", ids, {"Authorization": "Token wrong"}).status_code == 401
        assert only_skill(memory).state == "active", "nothing changed by the refused calls"
        tags = {
            tag
            for path in client.get("/openapi.json").json()["paths"].values()
            for op in path.values()
            for tag in op.get("tags", [])
        }
        assert "Skill review (extension)" in tags


def test_a_lesson_quoting_a_structured_argument_is_backed_by_the_calls_json() -> None:
    lesson = SkillItem(
        "experience",
        "search_papers: pass year_range={'from': 2021, 'to': 9}, not year_range='2021 onwards'",
        1,
        ("rec",),
    )
    sources = 'search_papers {"year_range": "2021 onwards"} {"year_range": {"from": 2021, "to": 9}}'
    kept, held = check([lesson], sources.lower())
    assert kept == [lesson] and not held

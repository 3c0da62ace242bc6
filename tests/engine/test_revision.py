"""A task whose boundary a later turn moves is recorded again, and its skill follows.

dev-maya's third conversation opens with a one-off question (how to explain a confidence interval),
then asks for a SQL query. Sent turn by turn, the first cut keeps both in one task; the next turn moves
the boundary to the SQL request. The first task's record must then shrink to the question, the SQL
steps must leave the question's skill (which, a single answered question, is worth no skill at all),
and the SQL task must join the user's SQL skill.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memskill import Memory, Settings
from memskill.bench.skills import load
from memskill.demo import turns
from memskill.models import Scope, SkillItem
from memskill.providers.embedders import OfflineEmbedder
from memskill.skill_items import withdraw

USER = "dev-maya"
CONVERSATIONS = {
    c["conversation_id"]: c
    for u in load("devset.json")["users"]
    if u["user_id"] == USER
    for c in u["conversations"]
}


def _skills(memory: Memory) -> dict[str, dict[str, Any]]:
    listed = memory.get_skill(user_id=USER)["skill_detail_list"]
    return {s["skill_value"]["name"]: s for s in listed}


@pytest.fixture
def memory(tmp_path: Path, offline_embedder: OfflineEmbedder) -> Iterator[Memory]:
    engine = Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=offline_embedder)
    yield engine
    engine.close()


def test_a_moved_boundary_rewrites_the_earlier_task_and_its_skill(memory: Memory) -> None:
    for conversation_id in ("maya-churn-and-letter", "maya-letter-and-retention"):
        for turn in turns(CONVERSATIONS[conversation_id]["messages"]):
            memory.add_message(user_id=USER, conversation_id=conversation_id, messages=turn, async_mode=False)
    messages = CONVERSATIONS["maya-ci-and-orders"]["messages"]
    sent = list(turns(messages))
    replies = [
        memory.add_message(
            user_id=USER, conversation_id="maya-ci-and-orders", messages=turn, async_mode=False
        )
        for turn in sent
    ]
    # What the scenario needs: at the second turn the question and the SQL request were one task.
    status = [memory.get_status(task_id=r["task_id"]) for r in replies]
    deleted = [view for s in status for view in s.get("memory_views", {}).get("deleted", [])]
    assert deleted, "the question's skill, made from the first cut, should be removed when the cut moves"

    skills = _skills(memory)
    assert sorted(skills) == ["data-analysis", "job-application-writing"], sorted(skills)
    sql = skills["data-analysis"]["skill_markdown"]
    assert "order count" in sql and "confidence interval" not in sql.lower()
    assert all(
        skill_id not in {s["id"] for s in memory.get_skill(user_id=USER)["skill_detail_list"]}
        for skill_id in deleted
    )

    # The question's record holds its own two messages only.
    scope = Scope(USER, None, None)
    records = [
        row
        for cluster in memory.store.list_clusters(scope)
        for row in memory.store.task_records(cluster.id)
        if row.conversation_id == "maya-ci-and-orders"
    ]
    question = next(r for r in records if "confidence interval" in str(r.record["goal"]))
    assert len(question.record["sources"]) == 2
    assert not any("order" in step.lower() for step in question.record["steps"])


def test_withdraw_removes_what_only_that_record_said() -> None:
    items = [
        SkillItem("procedure", "Run the query", 2, ("rec_a", "rec_b")),
        SkillItem("procedure", "Explain it without math", 1, ("rec_a",)),
        SkillItem("preference", "Prefer CTEs", 1, ("rec_b",)),
    ]
    kept, log = withdraw(items, "rec_a")
    assert kept == [
        SkillItem("procedure", "Run the query", 1, ("rec_b",)),
        SkillItem("preference", "Prefer CTEs", 1, ("rec_b",)),
    ]
    assert log == ["withdraw procedure: Explain it without math"]

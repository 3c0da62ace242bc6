"""End-to-end regression over memskill's own labelled development set (`memskill/bench/devset.json`).

All users' conversations go through one engine (a real SQLite file, the real offline embedder), one
`add_message` call per turn, the way an agent sends them. Then skills, preferences and searches are
checked against the gold labels. The users share one store, so the tests also check that nothing of one
user reaches another.

Which skill belongs to which task type: every task record a skill was built from keeps the ids of the
messages it read, and message ids are content hashes, so the test recomputes them from the data set and
knows the gold task of each one. A skill *serves* a task type when one of its records read a user message
of that type's segments. This rule does not depend on skill names or on how a skill is worded: a task
type split over two skills shows up as two skills serving it, and two task types merged into one skill
show up as one skill serving both.

Where the pipeline does not yet meet a label, the case is marked `xfail(strict=True)` with the reason,
so fixing the pipeline turns the mark into a failure that asks for its removal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import pytest
from paths import ROOT

from memskill.config import Settings
from memskill.demo import turns
from memskill.engine import Memory
from memskill.ingest import normalise_messages
from memskill.models import Message, Scope
from memskill.providers.embedders import OfflineEmbedder
from memskill.segment import segment


def load_devset() -> dict[str, Any]:
    """The data set as installed package data, else from the source tree (editable installs)."""
    resource = resources.files("memskill.bench").joinpath("devset.json")
    if resource.is_file():
        text = resource.read_text(encoding="utf-8")
    else:
        path = ROOT / "src" / "memskill" / "bench" / "devset.json"
        text = path.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


DEVSET = load_devset()
USERS: dict[str, dict[str, Any]] = {user["user_id"]: user for user in DEVSET["users"]}
CJK = re.compile(r"[\u4e00-\u9fff]")


def message_tasks(conversation: dict[str, Any]) -> list[str]:
    """The gold task of each message of a conversation."""
    tasks = [""] * len(conversation["messages"])
    for part in conversation["segments"]:
        for index in range(part["start"], part["end"] + 1):
            tasks[index] = part["task"]
    return tasks


def task_types(user: dict[str, Any]) -> set[str]:
    return {part["task"] for c in user["conversations"] for part in c["segments"]}


def said(user: dict[str, Any], keep: Callable[[str], bool]) -> list[str]:
    """Texts of the user's messages (any role, tool arguments included) whose task passes `keep`."""
    texts = []
    for conversation in user["conversations"]:
        for message, task in zip(conversation["messages"], message_tasks(conversation)):
            if keep(task):
                calls = [call["function"]["arguments"] for call in message.get("tool_calls", [])]
                texts.append(" ".join([message.get("content") or "", *calls]))
    return texts


def substantive_types(user: dict[str, Any]) -> set[str]:
    """Task types worth a skill: two or more user requests, or a stated preference, or a tool call."""
    user_messages: dict[str, int] = {}
    with_tools: set[str] = set()
    for conversation in user["conversations"]:
        for message, task in zip(conversation["messages"], message_tasks(conversation)):
            user_messages[task] = user_messages.get(task, 0) + (message["role"] == "user")
            if message.get("tool_calls"):
                with_tools.add(task)
    preferred = {p["task"] for p in user["preferences"]}
    return {task for task, count in user_messages.items() if count >= 2} | preferred | with_tools


# ---- known failures -----------------------------------------------------------------------------

KNOWN_FAILURES: dict[tuple[str, str], str] = {}
"""(test, case id) → why the pipeline fails it today; each becomes a strict xfail."""


def cases(test: str, items: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    params = []
    for case_id, values in items:
        reason = KNOWN_FAILURES.get((test, case_id))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(*values, id=case_id, marks=marks))
    return params


EXPECTED = [
    (f"{user_id}/{skill['task']}", (user_id, skill))
    for user_id, u in USERS.items()
    for skill in u["expected_skills"]
]
PREFERENCES = [
    (f"{user_id}/{p['task']}#{n}", (user_id, p))
    for user_id, u in USERS.items()
    for n, p in enumerate(u["preferences"])
]
NEVER_DID = [
    (f"{user_id}#{n}", (user_id, q)) for user_id, u in USERS.items() for n, q in enumerate(u["never_did"])
]
PER_USER = [(user_id, (user_id,)) for user_id in USERS]


# ---- the data set itself --------------------------------------------------------------------------


def test_devset_size_and_languages() -> None:
    users = DEVSET["users"]
    assert DEVSET["version"] == 1 and DEVSET["description"]
    assert 4 <= len(users) <= 6
    assert len(USERS) == len(users)
    assert {u["language"] for u in users} == {"zh", "en"}
    conversation_ids = [c["conversation_id"] for u in users for c in u["conversations"]]
    assert len(set(conversation_ids)) == len(conversation_ids)
    for user in users:
        assert 2 <= len(user["conversations"]) <= 4, user["user_id"]
    assert sum(len(c["messages"]) for u in users for c in u["conversations"]) >= 150


def test_segments_cover_every_message_in_order() -> None:
    for user in DEVSET["users"]:
        for conversation in user["conversations"]:
            messages, parts = conversation["messages"], conversation["segments"]
            where = conversation["conversation_id"]
            assert parts[0]["start"] == 0 and parts[-1]["end"] == len(messages) - 1, where
            for previous, following in zip(parts, parts[1:]):
                assert following["start"] == previous["end"] + 1, where
                assert following["task"] != previous["task"], where  # a boundary changes the task
            for part in parts:
                assert part["start"] <= part["end"], where
                assert messages[part["start"]]["role"] == "user", (where, part)  # tasks start with a request
            times = [datetime.fromisoformat(m["chat_time"]) for m in messages if "chat_time" in m]
            assert times == sorted(times), where


def test_tool_calls_are_answered_inside_the_task_they_serve() -> None:
    for user in DEVSET["users"]:
        for conversation in user["conversations"]:
            tasks = message_tasks(conversation)
            called: dict[str, int] = {}
            answered: set[str] = set()
            for index, message in enumerate(conversation["messages"]):
                assert message["role"] in ("user", "assistant", "tool")
                for call in message.get("tool_calls", []):
                    assert message["role"] == "assistant" and call["type"] == "function"
                    assert isinstance(json.loads(call["function"]["arguments"]), dict)
                    called[call["id"]] = index
                if message["role"] == "tool":
                    call_index = called[message["tool_call_id"]]
                    assert tasks[call_index] == tasks[index], (conversation["conversation_id"], index)
                    answered.add(message["tool_call_id"])
            assert answered == set(called), conversation["conversation_id"]


def test_labels_refer_to_tasks_of_the_segments() -> None:
    for user in DEVSET["users"]:
        types = task_types(user)
        conversations_with = {
            task: sum(task in {p["task"] for p in c["segments"]} for c in user["conversations"])
            for task in types
        }
        expected = {skill["task"]: skill for skill in user["expected_skills"]}
        assert {p["task"] for p in user["preferences"]} <= types
        assert set(expected) <= types
        for task, skill in expected.items():
            assert 1 <= skill["min_conversations"] <= conversations_with[task], (user["user_id"], task)
            assert skill["query"].strip()
        recurring = {task for task, count in conversations_with.items() if count >= 2}
        assert recurring | {p["task"] for p in user["preferences"]} <= set(expected), user["user_id"]
        assert len(user["never_did"]) == 2
        for request in user["never_did"]:
            assert bool(CJK.search(request)) == (user["language"] == "zh"), request


def test_each_preference_substring_is_said_only_in_its_own_task() -> None:
    """So that finding it anywhere else (another task's skill, another user) can only be a leak."""
    for user in DEVSET["users"]:
        for preference in user["preferences"]:
            needle, task = preference["contains"], preference["task"]
            assert any(needle in text for text in said(user, task.__eq__)), (user["user_id"], needle)
            assert not any(needle in text for text in said(user, task.__ne__)), (user["user_id"], needle)
            for other in DEVSET["users"]:
                if other is not user:
                    everything = said(other, lambda _: True)
                    assert not any(needle in text for text in everything), (needle, other["user_id"])


# ---- the pipeline over the data set ----------------------------------------------------------------


@dataclass(frozen=True)
class DevRun:
    memory: Memory
    skills: dict[str, dict[str, dict[str, Any]]]
    """user → skill id → the skill as get/skill returns it (with versions)."""
    serving: dict[str, dict[str, dict[str, set[str]]]]
    """user → task type → id of a skill serving it → conversations whose messages of that type it read."""

    def others(self, user_id: str, task: str) -> set[str]:
        """Ids of the user's skills that serve some other task type."""
        return {
            skill for other, by_skill in self.serving[user_id].items() if other != task for skill in by_skill
        }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, offline_embedder: OfflineEmbedder) -> Iterator[DevRun]:
    memory = Memory(
        tmp_path_factory.mktemp("devset"), settings=Settings(workers=0), embedder=offline_embedder
    )
    gold: dict[str, dict[str, tuple[str, str]]] = {}
    for user_id, user in USERS.items():
        gold[user_id] = {}
        for conversation in user["conversations"]:
            tasks = message_tasks(conversation)
            position = 0
            for turn in turns(conversation["messages"]):
                ids = normalise_messages(turn, conversation["conversation_id"], user_id, memory.limits)
                for message in ids:
                    if message.role == "user":
                        gold[user_id][message.id] = (conversation["conversation_id"], tasks[position])
                    position += 1
                reply = memory.add_message(
                    user_id=user_id,
                    conversation_id=conversation["conversation_id"],
                    messages=turn,
                    async_mode=False,
                )
                assert reply["status"] == "completed", memory.get_status(task_id=reply["task_id"])
                assert len(memory.store.messages_by_ids([m.id for m in ids])) == len(ids)
    skills: dict[str, dict[str, dict[str, Any]]] = {}
    serving: dict[str, dict[str, dict[str, set[str]]]] = {}
    for user_id in USERS:
        listed = memory.get_skill(user_id=user_id, include_versions=True)["skill_detail_list"]
        skills[user_id] = {skill["id"]: skill for skill in listed}
        serving[user_id] = {task: {} for task in task_types(USERS[user_id])}
        for skill in memory.store.list_skills(Scope(user_id)):
            for record in memory.store.task_records(skill.cluster_id):
                for source in record.record.get("sources", []):
                    if source in gold[user_id]:
                        conversation_id, task = gold[user_id][source]
                        serving[user_id][task].setdefault(skill.id, set()).add(conversation_id)
    yield DevRun(memory, skills, serving)
    memory.close()


def describe(run: DevRun, user_id: str, skill_ids: set[str] | list[str]) -> list[str]:
    return [f"{run.skills[user_id][s]['skill_value']['name']} ({s})" for s in sorted(skill_ids)]


@pytest.mark.slow
@pytest.mark.parametrize(("user_id", "expected"), cases("one_skill", EXPECTED))
def test_each_expected_task_type_gives_exactly_one_skill_of_its_own(
    run: DevRun, user_id: str, expected: dict[str, Any]
) -> None:
    task = expected["task"]
    serving = run.serving[user_id][task]
    assert len(serving) == 1, f"{task} is served by {describe(run, user_id, set(serving))}"
    [(skill_id, conversations)] = serving.items()
    shared = {
        other for other, by_skill in run.serving[user_id].items() if other != task and skill_id in by_skill
    }
    assert not shared, f"the skill of {task} also serves {sorted(shared)}"
    assert len(conversations) >= expected["min_conversations"], sorted(conversations)
    assert conversations <= set(run.skills[user_id][skill_id]["conversation_ids"])


@pytest.mark.slow
@pytest.mark.parametrize("user_id", cases("skill_count", PER_USER))
def test_no_more_skills_than_substantive_task_types(run: DevRun, user_id: str) -> None:
    limit = len(substantive_types(USERS[user_id]))
    names = describe(run, user_id, list(run.skills[user_id]))
    assert len(run.skills[user_id]) <= limit, f"{len(names)} skills for {limit} task types: {names}"


@pytest.mark.slow
@pytest.mark.parametrize(("user_id", "preference"), cases("preference_in_own_skill", PREFERENCES))
def test_each_preference_is_in_the_skill_of_its_task_type_only(
    run: DevRun, user_id: str, preference: dict[str, Any]
) -> None:
    needle, task = preference["contains"], preference["task"]
    own = run.serving[user_id][task]
    stated = {s: run.skills[user_id][s]["skill_value"]["preference"] for s in own}
    # A preference is written as an instruction, so an English one may open with a capital letter.
    assert any(needle.lower() in text.lower() for texts in stated.values() for text in texts), (
        f"{needle!r} is in no `## User Preferences` of {task}'s skills: {stated}"
    )
    leaked = [
        s
        for s in run.others(user_id, task)
        if needle.lower() in run.skills[user_id][s]["skill_markdown"].lower()
    ]
    assert not leaked, (
        f"{needle!r} ({task}) is in the skills of other tasks: {describe(run, user_id, leaked)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("user_id", cases("isolation", PER_USER))
def test_preferences_never_reach_another_user(run: DevRun, user_id: str) -> None:
    for other in USERS:
        if other == user_id:
            continue
        skills = json.dumps(list(run.skills[other].values()), ensure_ascii=False)
        for preference in USERS[user_id]["preferences"]:
            needle = preference["contains"]
            reply = run.memory.search_memory(
                query=needle, user_id=other, include_skill=True, include_tool_memory=True, relativity=0
            )
            found = json.dumps(reply, ensure_ascii=False)
            assert needle not in skills, f"{needle!r} of {user_id} is in a skill of {other}"
            assert needle not in found, f"{needle!r} of {user_id} is in a search of {other}"


@pytest.mark.slow
@pytest.mark.parametrize(("user_id", "request_text"), cases("never_did", NEVER_DID))
def test_a_task_the_user_never_did_matches_no_skill(run: DevRun, user_id: str, request_text: str) -> None:
    reply = run.memory.search_memory(query=request_text, user_id=user_id, include_skill=True)
    found = [(s["skill_value"]["name"], s["relativity"]) for s in reply["skill_detail_list"]]
    assert found == []


@pytest.mark.slow
@pytest.mark.parametrize(("user_id", "expected"), cases("finds_skill", EXPECTED))
def test_a_new_request_of_a_known_kind_finds_its_skill_first(
    run: DevRun, user_id: str, expected: dict[str, Any]
) -> None:
    reply = run.memory.search_memory(query=expected["query"], user_id=user_id, include_skill=True)
    found = reply["skill_detail_list"]
    serving = run.serving[user_id][expected["task"]]
    assert found, (
        f"no skill for {expected['query']!r} (the task is served by {describe(run, user_id, set(serving))})"
    )
    ranked = [(s["skill_value"]["name"], s["relativity"]) for s in found]
    assert found[0]["id"] in serving, f"{expected['task']}: got {ranked}"


# ---- segmentation quality ------------------------------------------------------------------------


def segment_index(starts: list[int], count: int) -> list[int]:
    """For each message, the number of the segment holding it."""
    out, current = [], -1
    for index in range(count):
        if index in starts:
            current += 1
        out.append(current)
    return out


def pk_errors(gold: list[int], guess: list[int], k: int) -> tuple[int, int]:
    """Pk's (disagreements, probes): do messages i and i + k share a segment in both?"""
    probes = range(len(gold) - k)
    errors = sum((gold[i] == gold[i + k]) != (guess[i] == guess[i + k]) for i in probes)
    return errors, len(probes)


@pytest.mark.slow
def test_segmentation_finds_task_boundaries_better_than_none(offline_embedder: OfflineEmbedder) -> None:
    conversations = [(u, c) for u in DEVSET["users"] for c in u["conversations"]]
    lengths = [p["end"] - p["start"] + 1 for _, c in conversations for p in c["segments"]]
    k = max(1, round(sum(lengths) / len(lengths) / 2))
    ours = [0, 0]
    none = [0, 0]
    found = total = extra = 0
    for user, conversation in conversations:
        messages: list[Message] = normalise_messages(
            conversation["messages"], conversation["conversation_id"], user["user_id"], Settings().limits
        )
        gold_starts = [p["start"] for p in conversation["segments"]]
        guess_starts = [part.start for part in segment(messages, offline_embedder)]
        gold = segment_index(gold_starts, len(messages))
        for tally, starts in ((ours, guess_starts), (none, [0])):
            errors, probes = pk_errors(gold, segment_index(starts, len(messages)), k)
            tally[0] += errors
            tally[1] += probes
        for boundary in gold_starts[1:]:
            total += 1
            found += any(abs(boundary - guess) <= 1 for guess in guess_starts[1:])
        extra += sum(all(abs(guess - gold) > 1 for gold in gold_starts[1:]) for guess in guess_starts[1:])
    pk, pk_none = ours[0] / ours[1], none[0] / none[1]
    print(
        f"\ndev set segmentation: Pk = {pk:.3f} (k = {k}; no boundaries: {pk_none:.3f}); "
        f"gold boundaries found within ±1 message: {found}/{total} = {found / total:.2f}; "
        f"boundaries with no gold one within ±1: {extra}"
    )
    assert pk < pk_none

"""The LLM path end to end: the real OpenAI-compatible client against the fake server on loopback.

With answers that fit the schemas, stored memories and skills carry the model's words; with broken
answers, 500s or a dead endpoint, every item falls back to its algorithmic stage and jobs complete,
with the fallback and its reason visible in `get/status`.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memskill import Memory
from memskill.cli import main
from memskill.config import Endpoint, Settings
from memskill.errors import InvalidRequest, UpstreamError
from memskill.prompts import schemas
from memskill.providers.chat import MAX_TOKENS, OpenAIChat
from memskill.providers.embedders import HashingEmbedder
from memskill.testing import FakeOpenAI, RecordedRequest

USER = "u-llm"
TRIP = [
    {"role": "user", "content": "Plan a three-day trip to Kyoto for me, I want temples and quiet gardens."},
    {"role": "assistant", "content": "Day 1: Fushimi Inari early. Day 2: Arashiyama. Day 3: Kinkaku-ji."},
    {"role": "user", "content": "Too packed. Never more than two sights a day, and I always take the train."},
    {"role": "assistant", "content": "Day 1: Fushimi Inari and Tofuku-ji by train. Day 2: Arashiyama."},
    {"role": "user", "content": "Good. I own a red kayak, by the way, so add a river if you can."},
    {"role": "assistant", "content": "Added a Hozugawa river paddle on day 2."},
]


def _user_text(request: RecordedRequest) -> str:
    assert request.body is not None
    return str(request.body["messages"][-1]["content"]) if request.body["messages"] else ""


def _message_count(request: RecordedRequest) -> int:
    assert request.body is not None
    first_user = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
    return len(re.findall(r"^\[\d+\]", first_user, re.M))


def _candidate(request: RecordedRequest, text: str) -> int:
    """The number the prompt gives the candidate that says `text`."""
    found = re.search(rf"^\[(\d+)\] [a-z]+: {re.escape(text)} —", _user_text(request), re.M)
    assert found, _user_text(request)
    return int(found.group(1))


def _review(request: RecordedRequest) -> dict[str, Any]:
    """The model refines two of the algorithm's candidates, in words no algorithm would write."""
    return {
        "description": "Plans short city trips around a few calm sights per day (model).",
        "verdicts": [
            {
                "candidate": _candidate(request, "Ask how many days and which sights matter"),
                "verdict": "refines",
                "text": "Confirm the dates first (model)",
            },
            {
                "candidate": _candidate(request, "Travels by train"),
                "verdict": "refines",
                "text": "Goes everywhere by train (model)",
            },
        ],
    }


def good_script() -> dict[str, Any]:
    """Replies that fit every schema, with words no algorithmic stage would write."""
    return {
        "memskill_segments": lambda r: {
            "segments": [{"start": 1, "end": _message_count(r), "title": "Kyoto trip (model)"}]
        },
        "memskill_task_record": [
            {
                "title": "Trip planning (model)",
                "goal": "Plan a short temple trip",
                "steps": ["Ask how many days and which sights matter", "Keep each day to two sights"],
                "corrections": ["Two sights a day at most"],
                "preferences": ["Travels by train"],
                "tools": [],
                "outcome": "A three-day plan with a river paddle",
                "language": "en",
            }
        ],
        "memskill_facts": [
            {
                "facts": [
                    {
                        "key": "Kayak",
                        "value": "The user owns a red kayak (model)",
                        "kind": "user",
                        "message": 5,
                    }
                ],
                "preferences": [
                    {
                        "text": "At most two sights per day (model)",
                        "explicit": True,
                        "topic": "pace",
                        "polarity": 0,
                        "correction": True,
                        "message": 3,
                    }
                ],
            }
        ],
        "memskill_skill_update": _review,
    }


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test", schemas=schemas()) as server:
        yield server


def make_memory(tmp_path: Path, fake: FakeOpenAI, workers: int = 0, timeout_s: float = 5.0) -> Memory:
    endpoint = Endpoint(fake.base_url, "fake-model", "sk-test", timeout_s)
    chat = OpenAIChat(endpoint, backoff_s=(0.05, 0.1))
    settings = Settings(data_dir=tmp_path, workers=workers, llm=endpoint)
    return Memory(settings=settings, embedder=HashingEmbedder(), chat=chat)


def all_texts(memory: Memory) -> str:
    listed = memory.get_memory(user_id=USER, size=50)
    skills = memory.store.list_skills(memory._scope(USER))
    return json.dumps(listed, ensure_ascii=False) + "\n".join(s.current.markdown for s in skills)


def test_stored_memories_and_skills_are_the_models_words(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    assert status["status"] == "completed"
    assert status["llm"]["mode"] == "llm", status["llm"]
    assert {s["stage"] for s in status["llm"]["stages"]} == {
        "segment",
        "task_record",
        "facts",
        "skill_update",
    }
    assert "The user owns a red kayak (model)" in texts
    assert "At most two sights per day (model)" in texts
    assert "Confirm the dates first (model)" in texts
    assert "Plans short city trips around a few calm sights per day (model)." in texts
    assert status["llm"]["usage"]["calls"] == 4
    assert status["llm"]["usage"]["prompt_tokens"] > 0


def test_requests_carry_model_key_and_schema(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
    requests = fake.chat_requests()
    assert requests
    for request in requests:
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.body is not None and request.body["model"] == "fake-model"
        assert request.body["max_tokens"] == MAX_TOKENS, "every call caps its answer"
        response_format = request.body["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["name"] == request.task
        assert response_format["json_schema"]["schema"]["additionalProperties"] is False


def test_without_a_model_every_stage_says_algorithmic(tmp_path: Path) -> None:
    with Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=HashingEmbedder()) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
    assert status["llm"]["mode"] == "algorithmic"
    assert all(stage["mode"] == "algorithmic" for stage in status["llm"]["stages"])
    assert status["llm"]["usage"]["calls"] == 0


def algorithmic_texts(tmp_path: Path) -> str:
    with Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=HashingEmbedder()) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        return all_texts(memory)


@pytest.mark.parametrize("fault", ["not_json", "http_500", "empty", "drop", "timeout", "down"])
def test_broken_answers_fall_back_and_async_jobs_complete(
    tmp_path: Path, fake: FakeOpenAI, fault: str
) -> None:
    if fault == "down":
        fake.stop()
    else:
        fake.fault = fault
        fake.delay_s = 1.0 if fault == "timeout" else 0.0
    with make_memory(tmp_path / "llm", fake, workers=1, timeout_s=0.2) as memory:
        started = time.monotonic()
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=True)
        assert reply["status"] == "running"
        status = memory.get_status(task_id=reply["task_id"])
        while status["status"] == "running" and time.monotonic() - started < 150:
            time.sleep(0.05)
            status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    assert status["status"] == "completed", status
    stages = status["llm"]["stages"]
    assert stages and all(stage["mode"] == "fallback" for stage in stages), stages
    assert all(stage["reason"] for stage in stages)
    assert status["llm"]["mode"] == "fallback"
    # the fallback's result is exactly what the algorithmic stages store on their own
    expected = _memory_values(algorithmic_texts(tmp_path / "algo"))
    assert expected and _memory_values(texts) == expected


def _memory_values(texts: str) -> set[str]:
    return set(re.findall(r'"memory_value": "([^"]*)"', texts)) | set(
        re.findall(r'"preference": "([^"]*)"', texts)
    )


def test_an_unusable_reply_is_repaired_once(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_task_record"] = [
        "Sure! The record is below, hope it helps.",
        *script["memskill_task_record"],
    ]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
    record_requests = fake.chat_requests(task="memskill_task_record")
    assert len(record_requests) == 2
    repair = _user_text(record_requests[1])
    assert "could not be used" in repair and "no JSON object" in repair
    assert [s["mode"] for s in status["llm"]["stages"] if s["stage"] == "task_record"] == ["llm"]


def test_segments_that_leave_a_gap_are_refused_with_the_reason(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_segments"] = [
        {"segments": [{"start": 1, "end": 2, "title": "a"}, {"start": 4, "end": 6, "title": "b"}]}
    ]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
    segment_requests = fake.chat_requests(task="memskill_segments")
    assert len(segment_requests) == 2
    assert "leave a gap at message 3" in _user_text(segment_requests[1])
    (segment_run,) = [s for s in status["llm"]["stages"] if s["stage"] == "segment"]
    assert segment_run["mode"] == "fallback" and "gap" in segment_run["reason"]


def test_a_cited_message_that_does_not_exist_falls_back(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_facts"] = [
        {"facts": [{"key": "k", "value": "invented", "kind": "user", "message": 42}], "preferences": []}
    ]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    (facts_run,) = [s for s in status["llm"]["stages"] if s["stage"] == "facts"]
    assert facts_run["mode"] == "fallback" and "message 42 does not exist" in facts_run["reason"]
    assert "invented" not in texts


def test_the_ladder_steps_down_to_json_mode_and_remembers(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    fake.fault = "reject_json_schema"
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
    formats = [(r.body or {}).get("response_format", {}).get("type") for r in fake.chat_requests()]
    assert formats[0] == "json_schema"
    assert formats[1:] and set(formats[1:]) == {"json_object"}
    assert status["llm"]["mode"] == "llm"


def test_plain_text_answers_in_fences_are_used(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    fake.fault = "reject_response_format"
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        fake.fault = "fenced"
        reply = memory.add_message(
            user_id=USER,
            conversation_id="c2",
            messages=[{**m, "content": m["content"] + " (again)"} for m in TRIP],
            async_mode=False,
        )
        status = memory.get_status(task_id=reply["task_id"])
    last = fake.chat_requests()[-1]
    assert last.body is not None and "response_format" not in last.body
    assert "memskill_" in last.body["messages"][0]["content"]  # the schema name is in the system message
    assert status["llm"]["mode"] == "llm", status["llm"]


def test_retries_then_success_costs_no_fallback(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    fake.fault = "http_500"
    fake.fail_first = 2
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
    assert status["llm"]["mode"] == "llm"
    assert len(fake.chat_requests(task="memskill_segments")) == 3


def test_token_usage_is_counted_per_job_and_per_user(tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.script = good_script()
    with make_memory(tmp_path, fake) as memory:
        first = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        memory.add_message(user_id="someone-else", conversation_id="c1", messages=TRIP, async_mode=False)
        job = memory.get_status(task_id=first["task_id"])["llm"]["usage"]
        mine = memory.token_usage(USER)
        everyone = memory.token_usage()
    assert mine == job
    assert everyone["calls"] == 2 * mine["calls"]
    served = fake.usage
    assert everyone["prompt_tokens"] == served["prompt_tokens"]
    assert everyone["completion_tokens"] == served["completion_tokens"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMSKILL_EMBEDDER", "hashing")
        assert main(["status", "--data-dir", str(tmp_path)], out, io.StringIO()) == 0
    shown = json.loads(out.getvalue())
    assert shown["tokens_by_user"] == {USER: mine, "someone-else": mine}
    assert shown["tokens"] == everyone


def test_feedback_uses_the_models_preferences_and_operations(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_feedback"] = [
        {
            "preferences": [{"text": "Start every day after nine (model)", "topic": "pace", "polarity": 0}],
            "operations": [{"op": "add", "section": "preference", "item": 0, "text": "Late starts (model)"}],
        }
    ]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        reply = memory.add_feedback(
            user_id=USER, conversation_id="c1", feedback_content="I hate early mornings.", async_mode=False
        )
        status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    assert [s["mode"] for s in status["llm"]["stages"]] == ["llm"]
    assert "Start every day after nine (model)" in texts
    assert "Late starts (model)" in texts


def test_a_skill_update_without_operations_keeps_the_tasks_preferences(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    script = good_script()
    script["memskill_skill_update"] = [{"description": "", "verdicts": []}]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
        [skill] = memory.store.list_skills(memory._scope(USER))
    assert {s["mode"] for s in status["llm"]["stages"] if s["stage"] == "skill_update"} == {"llm"}
    # The model had nothing to change; the record's own preferences and steps still reach the skill.
    preferences = [item.text for item in skill.current.items if item.section == "preference"]
    assert "Travels by train" in preferences
    assert any(item.section == "procedure" for item in skill.current.items)


def test_feedback_without_operations_still_reaches_the_skill(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_feedback"] = [
        {
            "preferences": [{"text": "Start every day after nine (model)", "topic": "pace", "polarity": 0}],
            "operations": [],
        }
    ]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        before = memory.store.list_skills(memory._scope(USER))[0].current.version
        memory.add_feedback(
            user_id=USER, conversation_id="c1", feedback_content="I hate early mornings.", async_mode=False
        )
        [skill] = memory.store.list_skills(memory._scope(USER))
    assert skill.current.version == before + 1
    assert any("after nine" in item.text for item in skill.current.items if item.section == "preference")


def test_feedback_the_model_finds_no_preference_in_stores_none(tmp_path: Path, fake: FakeOpenAI) -> None:
    script = good_script()
    script["memskill_feedback"] = [{"preferences": [], "operations": []}]
    fake.script = script
    with make_memory(tmp_path, fake) as memory:
        memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        before = json.dumps(memory.get_memory(user_id=USER, size=50), ensure_ascii=False)
        reply = memory.add_feedback(
            user_id=USER, conversation_id="c1", feedback_content="Thanks, that was fun!", async_mode=False
        )
        status = memory.get_status(task_id=reply["task_id"])
        after = json.dumps(memory.get_memory(user_id=USER, size=50), ensure_ascii=False)
    assert [s["mode"] for s in status["llm"]["stages"]] == ["llm"], "an empty list is a valid answer"
    assert "that was fun" not in after and "that was fun" not in before


def test_unusable_operations_are_skipped_one_by_one_and_removal_needs_evidence() -> None:
    from memskill.models import SkillItem
    from memskill.prompts.skill_update import Operation, SkillUpdate
    from memskill.skill_items import apply_operations

    items = [
        SkillItem("preference", "Two sights a day at most", 3, ("r1", "r2", "r3")),
        SkillItem("preference", "Travels by train", 1, ("r1",)),
    ]
    update = SkillUpdate(
        description="",
        operations=[
            Operation(op="remove", section="preference", item=1, text=""),
            Operation(op="edit", section="preference", item=7, text="nothing there"),
            Operation(op="add", section="preference", item=0, text="Travels by train"),
            Operation(op="add", section="preference", item=0, text="Likes quiet temples"),
        ],
    )
    kept, log = apply_operations(items, update, "r4", may_remove=False)
    texts = [item.text for item in kept]
    assert "Two sights a day at most" in texts, "three tasks support it and nothing corrected it"
    assert texts.count("Travels by train") == 1 and "Likes quiet temples" in texts
    assert [line.split(":")[0] for line in log] == [
        "skip remove preference",
        "skip edit",
        "agree preference",
        "add preference",
    ]
    kept, _ = apply_operations(items, update, "r4", may_remove=True)
    assert "Two sights a day at most" not in [item.text for item in kept]


def test_the_small_model_profile_asks_only_for_the_record_and_the_skill(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    fake.script = good_script()
    endpoint = Endpoint(fake.base_url, "fake-model", "sk-test", 5.0)
    settings = Settings(data_dir=tmp_path, workers=0, llm=endpoint, llm_profile="small")
    chat = OpenAIChat(endpoint, backoff_s=(0.05, 0.1))
    with Memory(settings=settings, embedder=HashingEmbedder(), chat=chat) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    runs = status["llm"]["stages"]
    asked = [run for run in runs if run["mode"] == "llm"]
    assert {run["stage"] for run in runs} >= {"segment", "facts"}
    assert all(run["mode"] == "algorithmic" for run in runs if run["stage"] in ("segment", "facts"))
    assert {run["stage"] for run in asked} == {"task_record", "skill_update"}
    records = sum(run["stage"] == "task_record" for run in runs)
    assert status["llm"]["usage"]["calls"] == len(asked) <= 2 * records, "two calls per task at most"
    assert "Confirm the dates first (model)" in texts, "the skill update still asks the model"


def test_an_unknown_llm_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidRequest, match=r"MEMSKILL_LLM_PROFILE='tiny'.*full, small"):
        Settings.from_env(environ={"MEMSKILL_LLM_PROFILE": "tiny"})
    assert Settings.from_env(environ={"MEMSKILL_LLM_PROFILE": "Small"}).llm_profile == "small"


def test_the_in_process_fake_chat_answers_from_the_same_scripts(tmp_path: Path) -> None:
    """FakeChat serves a script without HTTP: the engine stores the model's words, a fault with a reply
    (prose instead of JSON) falls back for that item, one without (a 500) raises as an endpoint would."""
    from memskill.testing import FakeChat, Fault

    script = good_script()
    script["memskill_facts"] = [Fault("not_json")]
    chat = FakeChat(script, schemas=schemas())
    settings = Settings(data_dir=tmp_path, workers=0)
    with Memory(settings=settings, embedder=HashingEmbedder(), chat=chat) as memory:
        reply = memory.add_message(user_id=USER, conversation_id="c1", messages=TRIP, async_mode=False)
        status = memory.get_status(task_id=reply["task_id"])
        texts = all_texts(memory)
    assert "Confirm the dates first (model)" in texts
    modes = {stage["stage"]: stage["mode"] for stage in status["llm"]["stages"]}
    assert modes["skill_update"] == "llm" and modes["facts"] != "llm", modes
    assert [r.task for r in chat.requests][:1] == ["memskill_segments"] and chat.usage.calls == len(
        chat.requests
    )
    broken = FakeChat({"*": [Fault("http_500")]})
    with pytest.raises(UpstreamError, match="http_500"):
        broken.complete([{"role": "user", "content": "hi"}], "memskill_segments", {"type": "object"})

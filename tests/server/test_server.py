"""The HTTP contract of DESIGN §2, end to end: the FastAPI app over a real SQLite file, through HTTP.

Every reply is checked for its envelope `{code, message, data}`; errors for their HTTP status, their
5-digit code, a message that says something, and `data: null`.
"""

from __future__ import annotations

import io
import math
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from memskill.config import Limits, Settings
from memskill.engine import Memory
from memskill.models import now_ms
from memskill.server import create_app
from memskill.server.keys import create_key

API = "/api/openmem/v1"
PREFIXES = ("/api/openmem/v1", "/v1")
KEY = "test-key"
AUTH = {"Authorization": f"Token {KEY}"}
ALICE, BOB = "user-alice", "user-bob"

TRIP = [
    {
        "role": "user",
        "content": "我打算五一去成都玩5天，帮我规划一下行程。我是不走回头路的特种兵，喜欢文化景点，"
        "不喜欢商场。请先帮我查一下天气。",
    },
    {
        "role": "assistant",
        "content": "好的！五一期间成都天气晴朗，气温20到28度。第一天：武侯祠、锦里；第二天：杜甫草堂、"
        "宽窄巷子；第三天：熊猫基地；第四天：三星堆博物馆；第五天：青城山。",
    },
    {
        "role": "user",
        "content": "第三天不要去熊猫基地，换成四川博物院，另外每天的行程要按地理位置顺路安排。",
    },
    {"role": "assistant", "content": "好的，第三天改为四川博物院，行程已按地理位置顺路安排。"},
]
SKILL_KEYS = {
    "id",
    "skill_value",
    "skill_markdown",
    "skill_url",
    "skill_type",
    "version",
    "create_time",
    "update_time",
    "conversation_id",
    "status",
    "confidence",
    "tags",
    "relativity",
}
LISTS = ("memory_detail_list", "preference_detail_list", "tool_memory_detail_list", "skill_detail_list")


# -- fixtures and small tools -------------------------------------------------------------------------


Build = Callable[..., tuple[Memory, TestClient]]


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Build]:
    """Opens an engine over `tmp_path` (hashing embedder, key `test-key`) and a client for its app;
    everything opened is closed after the test."""
    opened: list[tuple[Memory, TestClient]] = []

    def open_app(workers: int = 0, **settings: Any) -> tuple[Memory, TestClient]:
        memory = Memory(
            settings=Settings(data_dir=tmp_path, embedder="hashing", api_key=KEY, workers=workers, **settings)
        )
        client = TestClient(create_app(memory))
        opened.append((memory, client))
        return memory, client

    yield open_app
    for memory, client in opened:
        client.close()
        memory.close()


@pytest.fixture
def served(build: Build) -> tuple[Memory, TestClient]:
    return build()


@pytest.fixture
def client(served: tuple[Memory, TestClient]) -> TestClient:
    return served[1]


def data(response: Any) -> Any:
    """The `data` of a successful reply, after checking the envelope."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["message"] == "ok", body
    return body["data"]


def refused(response: Any, status: int, code: int | None = None) -> str:
    """Checks an error reply (HTTP status, 5-digit code, non-empty message, no data); its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "data"}, body
    assert body["data"] is None, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert isinstance(body["code"], int) and 10000 <= body["code"] <= 99999, body
    if code is not None:
        assert body["code"] == code, body
    return str(body["message"])


def post(client: TestClient, path: str, body: Any, prefix: str = API, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", AUTH)
    return client.post(prefix + path, json=body, headers=headers, **kwargs)


def add(
    client: TestClient,
    user: str = ALICE,
    messages: list[dict[str, Any]] | None = None,
    conversation: str = "trip",
    prefix: str = API,
    headers: dict[str, str] = AUTH,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "user_id": user,
        "conversation_id": conversation,
        "messages": TRIP if messages is None else messages,
        "async_mode": False,
        **fields,
    }
    reply: dict[str, Any] = data(post(client, "/add/message", body, prefix, headers=headers))
    return reply


def search(client: TestClient, user: str = ALICE, headers: dict[str, str] = AUTH, **fields: Any) -> Any:
    body = {"user_id": user, "query": "帮我规划成都5天的行程，不走回头路", "relativity": 0, **fields}
    return data(post(client, "/search/memory", body, headers=headers))


def everything(client: TestClient, user: str = ALICE, headers: dict[str, str] = AUTH, **fields: Any) -> Any:
    return data(post(client, "/get/memory", {"user_id": user, "size": 50, **fields}, headers=headers))


def messages_of(client: TestClient, user: str = ALICE, conversation: str = "trip", **fields: Any) -> Any:
    body = {"user_id": user, "conversation_id": conversation, "message_limit_number": 50, **fields}
    return data(post(client, "/get/message", body))["message_detail_list"]


def skills_of(client: TestClient, user: str = ALICE, headers: dict[str, str] = AUTH, **fields: Any) -> Any:
    return data(post(client, "/get/skill", {"user_id": user, **fields}, headers=headers))["skill_detail_list"]


def one_skill(client: TestClient, user: str = ALICE) -> dict[str, Any]:
    skills = skills_of(client, user)
    assert len(skills) == 1, [s["skill_value"]["name"] for s in skills]
    skill: dict[str, Any] = skills[0]
    return skill


def ids_in(listing: dict[str, Any]) -> set[str]:
    return {item["id"] for name in LISTS for item in listing.get(name, [])}


def get_by_id(client: TestClient, item_id: str, headers: dict[str, str] = AUTH, **params: str) -> Any:
    return client.get(f"{API}/get/memory/{item_id}", params=params, headers=headers)


def path_of(url: str) -> str:
    """A link's path and query, to send through the test client whatever host it names."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.path}?{urlencode({**query, **changes})}"


# -- add/message, get/status, get/message -------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_add_message_in_sync_mode_completes_and_a_retry_stores_nothing_new(
    client: TestClient, prefix: str
) -> None:
    first = add(client, prefix=prefix)
    assert first["success"] is True and first["status"] == "completed"
    assert first["task_id"].startswith("task_")

    again = add(client, prefix=prefix)  # a client retry of the same call
    assert again["task_id"] == first["task_id"]

    stored = messages_of(client)
    assert [m["content"] for m in stored] == [m["content"] for m in TRIP]
    assert [m["role"] for m in stored] == [m["role"] for m in TRIP]
    assert all(m["conversation_id"] == "trip" and m["id"] for m in stored)

    status = data(post(client, "/get/status", {"task_id": first["task_id"]}, prefix))
    assert status["task_id"] == first["task_id"] and status["status"] == "completed"
    assert set(status["memory_views"]) == {"added", "updated", "deleted"}
    assert status["memory_views"]["added"], status


def test_add_message_in_async_mode_returns_at_once_and_completes_in_the_background(build: Build) -> None:
    _, client = build(workers=1)
    reply = add(client, async_mode=True)
    assert reply["success"] is True and reply["status"] in ("running", "completed")
    assert len(messages_of(client)) == len(TRIP)  # stored before the reply

    deadline = time.monotonic() + 60
    status = data(post(client, "/get/status", {"task_id": reply["task_id"]}, "/v1"))
    while status["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = data(post(client, "/get/status", {"task_id": reply["task_id"]}, "/v1"))
    assert status["status"] == "completed", status
    assert status["memory_views"]["added"]
    assert one_skill(client)["skill_value"]["name"].startswith("travel-itinerary")

    retry = add(client, async_mode=True)
    assert retry["task_id"] == reply["task_id"] and retry["status"] == "completed"
    assert len(messages_of(client)) == len(TRIP)


def test_async_messages_are_searchable_by_keyword_before_extraction(client: TestClient) -> None:
    """No worker runs here, so the job stays queued: the raw text is found all the same."""
    reply = add(
        client,
        messages=[{"role": "user", "content": "我下周要去成都出差，顺便看看熊猫基地"}],
        async_mode=True,
    )
    assert reply["status"] == "running"
    assert data(post(client, "/get/status", {"task_id": reply["task_id"]}))["status"] == "running"
    found = search(client, query="熊猫基地")["memory_detail_list"]
    assert any("熊猫基地" in m["memory_value"] for m in found), found


def test_message_content_may_be_a_list_of_text_parts(client: TestClient) -> None:
    parts = [{"type": "text", "text": "记住：我对花生过敏"}, {"type": "text", "text": "以后推荐餐厅要避开"}]
    add(client, messages=[{"role": "user", "content": parts, "chat_time": "2025-04-01T10:00:00Z"}])
    stored = messages_of(client)
    assert len(stored) == 1 and "花生过敏" in str(stored[0]["content"])
    assert "以后推荐餐厅要避开" in str(stored[0]["content"])


# -- search/memory ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_search_returns_the_four_lists_with_relativity_in_range(client: TestClient, prefix: str) -> None:
    add(client)
    body = {"user_id": ALICE, "query": "帮我规划成都5天的行程", "relativity": 0, "include_tool_memory": True}
    found = data(post(client, "/search/memory", body, prefix))
    assert set(LISTS) <= set(found) and isinstance(found["preference_note"], str)
    assert found["memory_detail_list"] and found["preference_detail_list"]
    assert found["skill_detail_list"] == []  # include_skill defaults to false
    for name in LISTS:
        for item in found[name]:
            assert isinstance(item["relativity"], (int, float)), item
            assert 0 <= item["relativity"] <= 1, item
    memory = found["memory_detail_list"][0]
    assert {"id", "memory_key", "memory_value", "memory_type", "create_time", "status", "sources"} <= set(
        memory
    )
    assert memory["memory_type"] in ("LongTermMemory", "UserMemory")
    preference = found["preference_detail_list"][0]
    assert preference["preference_type"] in ("explicit_preference", "implicit_preference")
    assert "回头路" in found["preference_note"] or "文化" in found["preference_note"]


def test_search_honours_limits(client: TestClient) -> None:
    add(client)
    found = search(client, memory_limit_number=1, preference_limit_number=2, include_skill=True)
    assert len(found["memory_detail_list"]) == 1
    assert len(found["preference_detail_list"]) == 2
    nothing = search(client, memory_limit_number=0, include_preference=False, skill_limit_number=0)
    assert nothing["memory_detail_list"] == [] and nothing["preference_detail_list"] == []
    assert nothing["skill_detail_list"] == []


def test_search_with_include_skill_gives_skills_with_absolute_download_links(client: TestClient) -> None:
    add(client)
    skills = search(client, include_skill=True)["skill_detail_list"]
    assert len(skills) == 1
    skill = skills[0]
    assert set(skill) >= SKILL_KEYS
    assert skill["skill_type"] in ("auto_create", "upload") and skill["version"] >= 1
    assert 0 <= skill["relativity"] <= 1
    value = skill["skill_value"]
    assert {"name", "description", "procedure", "experience", "preference", "examples"} <= set(value)
    assert value["name"].startswith("travel-itinerary")
    assert skill["skill_markdown"].startswith("---") and "## Procedure" in skill["skill_markdown"]
    link = urlsplit(skill["skill_url"])
    assert link.scheme in ("http", "https") and link.netloc, skill["skill_url"]
    assert link.path == f"{API}/skills/{skill['id']}/download"


# -- get/memory, GET get/memory/{id}, update/memory ------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_memory_pages_through_the_memories(client: TestClient, prefix: str) -> None:
    add(client)
    add(client, messages=[{"role": "user", "content": "我叫李明，今年28岁，在腾讯工作。"}], conversation="me")
    whole = data(post(client, "/get/memory", {"user_id": ALICE, "size": 50}, prefix))
    total = whole["total"]
    assert total >= 2 and len(whole["memory_detail_list"]) == total
    assert whole["preference_detail_list"] and whole["skill_detail_list"]  # included by default
    assert (whole["size"], whole["current"], whole["pages"]) == (50, 1, 1)

    seen: list[str] = []
    for page in (1, 2):
        part = data(post(client, "/get/memory", {"user_id": ALICE, "size": 1, "page": page}, prefix))
        assert (part["total"], part["size"], part["current"]) == (total, 1, page)
        assert part["pages"] == math.ceil(total / 1)
        assert len(part["memory_detail_list"]) == 1
        seen.append(part["memory_detail_list"][0]["id"])
    assert len(set(seen)) == 2

    beyond = data(post(client, "/get/memory", {"user_id": ALICE, "size": 10, "page": 99}, prefix))
    assert beyond["memory_detail_list"] == [] and beyond["current"] == 99

    lean = data(
        post(
            client,
            "/get/memory",
            {
                "user_id": ALICE,
                "include_preference": False,
                "include_skill": False,
                "include_tool_memory": False,
            },
            prefix,
        )
    )
    assert lean["preference_detail_list"] == [] and lean["skill_detail_list"] == []


def test_get_memory_by_id_with_and_without_user_id(client: TestClient) -> None:
    add(client)
    listing = everything(client)
    memory = listing["memory_detail_list"][0]
    for params in ({}, {"user_id": ALICE}):
        item = data(get_by_id(client, memory["id"], **params))
        assert item["id"] == memory["id"] and item["memory_value"] == memory["memory_value"]
    preference = listing["preference_detail_list"][0]
    assert data(get_by_id(client, preference["id"]))["preference"] == preference["preference"]
    skill = listing["skill_detail_list"][0]
    shown = data(client.get(f"/v1/get/memory/{skill['id']}", headers=AUTH))
    assert shown["id"] == skill["id"] and shown["skill_url"].startswith("http")


def test_update_memory_changes_content_and_status(client: TestClient) -> None:
    add(client)
    memory = everything(client)["memory_detail_list"][0]
    body = {"memory_id": memory["id"], "content": "用户五一去成都旅行，玩五天"}
    updated = data(post(client, "/update/memory", body))
    assert updated["id"] == memory["id"] and updated["memory_value"] == body["content"]
    assert data(get_by_id(client, memory["id"]))["memory_value"] == body["content"]

    archived = data(post(client, "/update/memory", {"memory_id": memory["id"], "status": "archived"}, "/v1"))
    assert archived["status"] == "archived"
    assert data(get_by_id(client, memory["id"]))["status"] == "archived"

    refused(post(client, "/update/memory", {"memory_id": memory["id"], "status": "gone"}), 400, 40000)
    refused(post(client, "/update/memory", {"memory_id": "mem_nowhere", "content": "x"}), 404, 40400)


# -- delete/memory ------------------------------------------------------------------------------------


def test_delete_memory_by_ids(client: TestClient) -> None:
    add(client)
    memory = everything(client)["memory_detail_list"][0]
    reply = data(post(client, "/delete/memory", {"memory_ids": [memory["id"]]}))
    assert reply == {"success": True, "deleted": 1}
    refused(get_by_id(client, memory["id"]), 404, 40400)
    assert memory["id"] not in ids_in(everything(client))


def test_delete_memory_by_filter_naming_the_user(client: TestClient) -> None:
    add(client)
    add(client, user=BOB)
    before = everything(client)
    facts = len(before["memory_detail_list"]) + len(before["preference_detail_list"])
    reply = data(post(client, "/delete/memory", {"filter": {"user_id": ALICE}}, "/v1"))
    assert reply["success"] is True and reply["deleted"] == facts
    after = everything(client)
    assert after["memory_detail_list"] == [] and after["preference_detail_list"] == []
    assert everything(client, BOB)["memory_detail_list"]  # the other user keeps theirs


def test_delete_memory_by_user_id_removes_everything_of_that_user(client: TestClient) -> None:
    add(client)
    add(client, user=BOB)
    reply = data(post(client, "/delete/memory", {"user_id": ALICE}))
    assert reply["success"] is True and reply["deleted"] > 0
    assert ids_in(everything(client)) == set()
    assert skills_of(client) == []
    assert ids_in(everything(client, BOB))


def test_delete_memory_needs_exactly_one_selector(client: TestClient) -> None:
    refused(post(client, "/delete/memory", {}), 400, 40002)
    both = {"memory_ids": ["mem_a"], "filter": {"user_id": ALICE}}
    refused(post(client, "/delete/memory", both), 400, 40000)


# -- add/feedback -------------------------------------------------------------------------------------


def test_feedback_correction_becomes_a_preference_and_updates_the_skill(client: TestClient) -> None:
    add(client)
    before = one_skill(client)
    body = {
        "user_id": ALICE,
        "conversation_id": "trip",
        "feedback_content": "太长了，以后控制在200字以内",
        "async_mode": False,
    }
    reply = data(post(client, "/add/feedback", body))
    assert reply["success"] is True and reply["status"] == "completed"
    status = data(post(client, "/get/status", {"task_id": reply["task_id"]}))
    assert status["status"] == "completed"

    preferences = [p["preference"] for p in everything(client)["preference_detail_list"]]
    assert any("200字" in p for p in preferences), preferences
    after = one_skill(client)
    assert after["id"] == before["id"] and after["version"] > before["version"]
    assert "200字" in after["skill_markdown"]


# -- get/skill, delete/skill --------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_skill_with_versions_then_delete_it(client: TestClient, prefix: str) -> None:
    add(client)
    feedback = {"user_id": ALICE, "conversation_id": "trip", "feedback_content": "以后回答控制在200字以内"}
    data(post(client, "/add/feedback", {**feedback, "async_mode": False}, prefix))

    plain = data(post(client, "/get/skill", {"user_id": ALICE}, prefix))["skill_detail_list"]
    assert len(plain) == 1 and "versions" not in plain[0]
    skill = plain[0]
    assert set(skill) >= SKILL_KEYS and skill["skill_url"].startswith("http")

    body = {"user_id": ALICE, "skill_id": skill["id"], "include_versions": True}
    versioned = data(post(client, "/get/skill", body, prefix))["skill_detail_list"]
    numbers = [v["version"] for v in versioned[0]["versions"]]
    assert sorted(numbers) == list(range(1, skill["version"] + 1)) and len(numbers) >= 2
    assert all(v["skill_markdown"].startswith("---") for v in versioned[0]["versions"])

    assert data(post(client, "/delete/skill", {"skill_id": skill["id"]}, prefix)) == {"success": True}
    assert data(post(client, "/get/skill", {"user_id": ALICE}, prefix))["skill_detail_list"] == []
    refused(post(client, "/get/skill", {"user_id": ALICE, "skill_id": skill["id"]}, prefix), 404, 40400)
    refused(post(client, "/delete/skill", {"skill_id": skill["id"]}, prefix), 404, 40400)
    refused(client.get(skill["skill_url"]), 404, 40400)  # a still-valid link to a deleted skill


# -- authentication -----------------------------------------------------------------------------------


def test_requests_without_a_key_are_refused(client: TestClient) -> None:
    body = {"user_id": ALICE, "query": "行程"}
    message = refused(client.post(f"{API}/search/memory", json=body), 401, 40100)
    assert "Authorization" in message
    refused(client.post("/v1/search/memory", json=body), 401, 40100)
    refused(client.get(f"{API}/get/memory/mem_x"), 401, 40100)


@pytest.mark.parametrize(
    "header", ["Token wrong-key", "Bearer wrong-key", "Basic dGVzdC1rZXk=", "test-key", "Token", ""]
)
def test_wrong_keys_and_header_forms_are_refused(client: TestClient, header: str) -> None:
    body = {"user_id": ALICE, "query": "行程"}
    refused(post(client, "/search/memory", body, headers={"Authorization": header}), 401, 40100)


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer"])
def test_token_and_bearer_are_both_accepted(client: TestClient, scheme: str) -> None:
    found = search(client, headers={"Authorization": f"{scheme} {KEY}"})
    assert set(LISTS) <= set(found)


def test_stored_keys_work_until_revoked(served: tuple[Memory, TestClient]) -> None:
    memory, client = served
    key, row = create_key(memory.store)
    headers = {"Authorization": f"Bearer {key}"}
    add(client, headers=headers)
    assert everything(client, headers=headers)["memory_detail_list"]
    assert memory.store.revoke_api_key(row.id, now_ms())
    refused(post(client, "/get/memory", {"user_id": ALICE}, headers=headers), 401, 40100)
    assert everything(client)["memory_detail_list"]  # the data is still there for a valid key


# -- malformed requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/add/message", {"user_id": ALICE, "conversation_id": "c"}),
        ("/add/message", {"user_id": ALICE, "messages": [{"role": "user", "content": "hi"}]}),
        ("/add/message", {"conversation_id": "c", "messages": [{"role": "user", "content": "hi"}]}),
        (
            "/add/message",
            {"user_id": "", "conversation_id": "c", "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/add/message", {"user_id": ALICE, "conversation_id": "c", "messages": [{"content": "hi"}]}),
        ("/search/memory", {"user_id": ALICE}),
        ("/search/memory", {"query": "行程"}),
        ("/get/status", {}),
        ("/get/message", {"user_id": ALICE}),
        ("/get/memory", {}),
        ("/update/memory", {"content": "x"}),
        ("/add/feedback", {"user_id": ALICE, "conversation_id": "c"}),
        ("/add/feedback", {"user_id": ALICE, "conversation_id": "c", "feedback_content": ""}),
        ("/get/skill", {}),
        ("/delete/skill", {}),
    ],
)
def test_missing_fields_are_40002(client: TestClient, path: str, body: dict[str, Any]) -> None:
    refused(post(client, path, body), 400, 40002)


def test_malformed_json_and_non_object_bodies_are_400(client: TestClient) -> None:
    for raw in (b'{"user_id": "a", ', b"not json at all", b"{'single': 'quotes'}"):
        response = client.post(f"{API}/add/message", content=raw, headers=AUTH)
        refused(response, 400, 40000)
    refused(post(client, "/add/message", [{"user_id": ALICE}]), 400, 40000)
    refused(post(client, "/search/memory", "行程"), 400, 40000)
    # curl -d sends a form content type: the body is read as JSON all the same
    form = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    found = client.post(f"{API}/search/memory", content=b'{"user_id": "u", "query": "q"}', headers=form)
    assert set(LISTS) <= set(data(found))


def test_unknown_role_is_40000(client: TestClient) -> None:
    body = {"user_id": ALICE, "conversation_id": "c", "messages": [{"role": "robot", "content": "hi"}]}
    assert "role" in refused(post(client, "/add/message", body), 400, 40000)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/add/message", {"user_id": "u" * 101, "conversation_id": "c", "messages": TRIP[:1]}),
        ("post", "/add/message", {"user_id": ALICE, "conversation_id": "c" * 101, "messages": TRIP[:1]}),
        (
            "post",
            "/add/message",
            {"user_id": ALICE, "conversation_id": "c", "messages": TRIP[:1], "agent_id": "a" * 101},
        ),
        ("post", "/search/memory", {"user_id": "u" * 101, "query": "行程"}),
        ("post", "/get/status", {"task_id": "t" * 101}),
        ("post", "/get/skill", {"user_id": ALICE, "skill_id": "s" * 101}),
        ("post", "/delete/memory", {"memory_ids": ["m" * 101]}),
        ("post", "/update/memory", {"memory_id": "m" * 101, "content": "x"}),
        ("get", "/get/memory/" + "m" * 101, None),
        ("get", "/get/memory/mem_x?user_id=" + "u" * 101, None),
    ],
)
def test_ids_over_100_characters_are_40010(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.get(API + path, headers=AUTH) if method == "get" else post(client, path, body)
    assert "100" in refused(response, 400, 40010)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/search/memory", {"memory_limit_number": "abc"}),
        ("/search/memory", {"memory_limit_number": 26}),
        ("/search/memory", {"memory_limit_number": -1}),
        ("/search/memory", {"include_skill": ["yes"]}),
        ("/search/memory", {"include_skill": "true"}),
        ("/search/memory", {"skill_limit_number": 2.0}),
        ("/get/memory", {"page": True}),
        ("/search/memory", {"relativity": 1.5}),
        ("/search/memory", {"filter": "user_id = a"}),
        ("/search/memory", {"filter": {"colour": "red"}}),
        ("/get/memory", {"size": 51}),
        ("/get/memory", {"page": 0}),
        ("/get/message", {"conversation_id": "c", "message_limit_number": 51}),
        ("/add/message", {"conversation_id": "c", "messages": "hello"}),
        ("/add/message", {"conversation_id": "c", "messages": [], "async_mode": False}),
        ("/add/message", {"conversation_id": "c", "messages": TRIP[:1], "async_mode": "soon"}),
        ("/add/message", {"conversation_id": "c", "messages": TRIP[:1], "async_mode": 0}),
        ("/add/message", {"conversation_id": "c", "messages": TRIP[:1], "tags": "trip"}),
        ("/add/message", {"conversation_id": "c", "messages": [{"role": "user", "content": 42}]}),
        ("/add/message", {"conversation_id": "c", "messages": [{"role": "user", "content": "  "}]}),
        (
            "/add/message",
            {"conversation_id": "c", "messages": [{"role": "user", "content": "hi", "chat_time": "late"}]},
        ),
    ],
)
def test_wrong_types_and_ranges_are_400(client: TestClient, path: str, fields: dict[str, Any]) -> None:
    body = {"user_id": ALICE, "query": "行程", **fields}
    refused(post(client, path, body), 400, 40000)
    assert messages_of(client, conversation="c") == []


def raw_add(message: str, extra: str = "") -> str:
    """An add/message body written by hand, for what `json.dumps` would never produce."""
    return '{"user_id": "u", "conversation_id": "c", "messages": [' + message + "]" + extra + "}"


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/add/message", raw_add('{"role": "user", "content": "a\\ud800"}')),
        ("/add/message", raw_add('{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}')),
        ("/add/message", raw_add('{"role": "user", "content": "hi"}', ', "tags": ["\\ud800"]')),
        ("/add/message", raw_add('{"role": "user", "content": "hi"}', ', "info": {"\\ud800": 1}')),
        ("/add/message", raw_add('{"role": "tool", "content": "ok", "tool_call_id": "\\ud800"}')),
        ("/add/message", raw_add('{"role": "user", "content": "hi", "chat_time": NaN}')),
        ("/add/message", raw_add('{"role": "user", "content": "hi", "chat_time": Infinity}')),
        ("/add/feedback", '{"user_id": "u", "conversation_id": "c", "feedback_content": "\\ud800"}'),
        ("/search/memory", '{"user_id": "u", "query": "q", "relativity": NaN}'),
        ("/search/memory", '{"user_id": "u", "query": "q", "filter": {"tags": "\\ud800"}}'),
        ("/delete/memory", '{"memory_ids": ["\\ud800"]}'),
        ("/update/memory", '{"memory_id": "m", "content": "\\ud800"}'),
    ],
)
def test_text_that_cannot_be_stored_is_400_not_500(client: TestClient, path: str, raw: str) -> None:
    """Python's JSON parser accepts unpaired surrogates (`"\\ud800"`) and NaN/Infinity; neither can be
    stored or sent back as UTF-8 JSON, so the edge refuses them."""
    response = client.post(API + path, content=raw, headers=AUTH)
    message = refused(response, 400, 40000)
    assert "surrogate" in message or "not a JSON number" in message
    assert messages_of(client, "u", "c") == []


@pytest.mark.parametrize("chat_time", [1e30, "99999999999999999999999"])
def test_a_chat_time_out_of_range_is_400(client: TestClient, chat_time: Any) -> None:
    message = {"role": "user", "content": "hi", "chat_time": chat_time}
    body = {"user_id": ALICE, "conversation_id": "c", "messages": [message]}
    refused(post(client, "/add/message", body), 400, 40000)


# -- limits -------------------------------------------------------------------------------------------


def test_a_body_over_the_byte_limit_is_413_and_stores_nothing(build: Build) -> None:
    _, client = build(limits=Limits(max_body_bytes=2_000))
    body = {
        "user_id": ALICE,
        "conversation_id": "big",
        "messages": [{"role": "user", "content": "长" * 1_000}],
    }
    assert "2000" in refused(post(client, "/add/message", body), 413, 41300)
    # the same with no Content-Length declared: the body is counted as it arrives
    chunks = iter([b'{"user_id": "user-alice", "conversation_id": "big", "messages": [', b" " * 3_000, b"]}"])
    streamed = client.post(f"{API}/add/message", content=chunks, headers=AUTH)
    refused(streamed, 413, 41300)
    assert messages_of(client, conversation="big") == []
    add(client, messages=[{"role": "user", "content": "短消息"}], conversation="small")  # small ones pass


def test_too_many_messages_or_too_long_a_message_is_413_and_stores_nothing(build: Build) -> None:
    _, client = build(limits=Limits(max_messages_per_call=3, max_message_chars=50))
    many = [{"role": "user", "content": f"第{n}条消息"} for n in range(4)]
    body = {"user_id": ALICE, "conversation_id": "c", "messages": many, "async_mode": False}
    assert "3" in refused(post(client, "/add/message", body), 413, 41300)
    long = [{"role": "user", "content": "ok"}, {"role": "user", "content": "长" * 51}]
    refused(post(client, "/add/message", {**body, "messages": long}), 413, 41300)
    assert messages_of(client, conversation="c") == []
    add(client, messages=many[:3], conversation="c")
    assert len(messages_of(client, conversation="c")) == 3


def test_the_rate_limit_answers_429_per_key(build: Build) -> None:
    memory, client = build(limits=Limits(rate_per_minute=3))
    body = {"user_id": ALICE, "query": "行程"}
    for _ in range(3):
        data(post(client, "/search/memory", body))
    assert "3" in refused(post(client, "/search/memory", body), 429, 40300)
    other, _ = create_key(memory.store)  # another key has its own allowance
    data(post(client, "/search/memory", body, headers={"Authorization": f"Token {other}"}))


def test_unknown_paths_and_ids_are_404(client: TestClient) -> None:
    assert "/api/openmem/v1" in refused(
        client.post(f"{API}/no/such/endpoint", json={}, headers=AUTH), 404, 40400
    )
    refused(client.get("/v2/search/memory", headers=AUTH), 404, 40400)
    refused(get_by_id(client, "mem_does_not_exist"), 404, 40400)
    refused(post(client, "/get/status", {"task_id": "task_unknown"}), 404, 40400)
    wrong_method = client.get(f"{API}/search/memory", headers=AUTH)
    refused(wrong_method, 405, 40000)
    assert wrong_method.headers["allow"] == "POST"


def test_open_paths_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/api/openmem/v1" in client.get("/").text
    assert client.get("/docs").status_code == 200
    assert f"{API}/search/memory" in client.get("/openapi.json").json()["paths"]


def test_the_openapi_schema_documents_the_api_as_it_behaves(client: TestClient) -> None:
    """Invalid input is a 400 envelope, never FastAPI's 422; every operation but the signed download
    declares the key; the download says it returns a zip or markdown."""
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["key"]["scheme"] == "bearer"
    operations = {(method, path): op for path, ops in schema["paths"].items() for method, op in ops.items()}
    assert len(operations) == 14 and all(path.startswith(API) for _, path in operations)
    extensions = {
        path for (_, path), op in operations.items() if "Skill review (extension)" in op.get("tags", [])
    }
    assert extensions == {f"{API}/skill/review", f"{API}/skill/history"}
    for (_, path), operation in operations.items():
        assert "422" not in operation["responses"] and "400" in operation["responses"], path
        if path.endswith("/download"):
            assert "security" not in operation
            assert set(operation["responses"]["200"]["content"]) == {"application/zip", "text/markdown"}
        else:
            assert operation["security"] == [{"key": []}], path
            assert {"401", "429"} <= set(operation["responses"]), path
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    required = schema["components"]["schemas"]["AddMessage"]["required"]
    assert set(required) == {"user_id", "conversation_id", "messages"}


# -- isolation between users --------------------------------------------------------------------------


def test_one_user_never_reaches_another_users_data(client: TestClient) -> None:
    add(client)
    alice = everything(client)
    memory_id = alice["memory_detail_list"][0]["id"]
    skill_id = alice["skill_detail_list"][0]["id"]

    found = search(client, BOB, include_skill=True, include_tool_memory=True)
    assert all(found[name] == [] for name in LISTS) and found["preference_note"] == ""
    bob = everything(client, BOB)
    assert ids_in(bob) == set() and bob["total"] == 0
    assert messages_of(client, BOB) == []

    refused(get_by_id(client, memory_id, user_id=BOB), 404, 40400)
    refused(get_by_id(client, skill_id, user_id=BOB), 404, 40400)
    reply = data(post(client, "/delete/memory", {"memory_ids": [memory_id, skill_id], "user_id": BOB}))
    assert reply["deleted"] == 0
    update = {"memory_id": memory_id, "content": "篡改", "user_id": BOB}
    refused(post(client, "/update/memory", update), 404, 40400)
    refused(post(client, "/get/skill", {"user_id": BOB, "skill_id": skill_id}), 404, 40400)
    refused(post(client, "/delete/skill", {"skill_id": skill_id, "user_id": BOB}), 404, 40400)
    assert data(post(client, "/delete/memory", {"filter": {"user_id": BOB}}))["deleted"] == 0
    aimed = {"filter": {"user_id": ALICE}, "user_id": BOB}  # a filter naming one user, a limit another
    refused(post(client, "/delete/memory", aimed), 400, 40000)
    assert data(post(client, "/delete/memory", {"user_id": BOB}))["deleted"] == 0
    correction = {"user_id": BOB, "conversation_id": "trip", "feedback_content": "以后行程不要超过三天"}
    feedback = data(post(client, "/add/feedback", {**correction, "async_mode": False}))
    assert feedback["status"] == "completed"
    listed = data(post(client, "/get/message", {"user_id": BOB, "conversation_id": "trip"}))
    assert all("回头路" not in m["content"] for m in listed["message_detail_list"])

    assert without_links(everything(client)) == without_links(alice)  # untouched


def without_links(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without `skill_url`s, whose expiry moves with the clock."""
    skills = [{k: v for k, v in s.items() if k != "skill_url"} for s in data["skill_detail_list"]]
    return {**data, "skill_detail_list": skills}


# -- keys bound to an app -----------------------------------------------------------------------------


def test_an_app_bound_key_reaches_only_its_app(served: tuple[Memory, TestClient]) -> None:
    memory, client = served
    key, _ = create_key(memory.store, app_id="app-a")
    bound = {"Authorization": f"Token {key}"}

    add(client, headers=bound, conversation="trip-a")  # no app_id named: lands in app-a
    in_a = everything(client, app_id="app-a")["memory_detail_list"]
    assert in_a and all(m["app_id"] == "app-a" for m in in_a)
    assert everything(client, app_id="app-b")["memory_detail_list"] == []
    assert everything(client, headers=bound, app_id="app-a")["memory_detail_list"] == in_a

    naming_b = {"user_id": ALICE, "conversation_id": "x", "messages": TRIP[:1], "app_id": "app-b"}
    assert "app-a" in refused(post(client, "/add/message", naming_b, headers=bound), 403, 40100)
    refused(
        post(client, "/search/memory", {"user_id": ALICE, "query": "q", "app_id": "app-b"}, headers=bound),
        403,
    )
    refused(post(client, "/get/memory", {"user_id": ALICE, "app_id": "app-b"}, headers=bound), 403, 40100)

    add(
        client,
        messages=[{"role": "user", "content": "我喜欢安静的海边民宿"}],
        conversation="b",
        app_id="app-b",
    )
    in_b = everything(client, app_id="app-b")["memory_detail_list"]
    assert in_b
    seen_by_a = search(client, headers=bound, query="海边民宿", include_skill=True)
    assert not {m["id"] for m in in_b} & ids_in(seen_by_a)
    assert not {m["id"] for m in in_b} & ids_in(everything(client, headers=bound))
    for item in in_b:
        refused(get_by_id(client, item["id"], headers=bound), 404, 40400)
        deleted = data(post(client, "/delete/memory", {"memory_ids": [item["id"]]}, headers=bound))
        assert deleted["deleted"] == 0
        update = {"memory_id": item["id"], "content": "改掉"}
        refused(post(client, "/update/memory", update, headers=bound), 404, 40400)
    assert everything(client, app_id="app-b")["memory_detail_list"] == in_b

    # deleting the whole user with the bound key deletes only what the user holds in app-a
    assert data(post(client, "/delete/memory", {"user_id": ALICE}, headers=bound))["deleted"] > 0
    assert everything(client, app_id="app-a")["memory_detail_list"] == []
    assert everything(client, app_id="app-b")["memory_detail_list"] == in_b


# -- signed skill links -------------------------------------------------------------------------------


def test_skill_url_downloads_without_headers_as_zip_or_markdown(client: TestClient) -> None:
    add(client)
    skill = search(client, include_skill=True)["skill_detail_list"][0]
    name = skill["skill_value"]["name"]

    response = client.get(skill["skill_url"])  # no Authorization header
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [f"{name}/SKILL.md"]
    assert archive.read(f"{name}/SKILL.md").decode() == skill["skill_markdown"]

    markdown = client.get(skill["skill_url"] + "&format=md")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("---") and markdown.text == skill["skill_markdown"]
    # the same link also works under the short prefix
    assert client.get(path_of(skill["skill_url"]).replace(API, "/v1", 1)).status_code == 200


def test_skill_url_points_at_the_version_shown(client: TestClient) -> None:
    add(client)
    old = one_skill(client)
    feedback = {"user_id": ALICE, "conversation_id": "trip", "feedback_content": "以后控制在200字以内"}
    data(post(client, "/add/feedback", {**feedback, "async_mode": False}))
    new = one_skill(client)
    assert new["version"] > old["version"]
    assert client.get(old["skill_url"] + "&format=md").text == old["skill_markdown"]
    assert client.get(new["skill_url"] + "&format=md").text == new["skill_markdown"]


def test_altered_or_expired_links_are_refused(client: TestClient) -> None:
    add(client)
    skill = one_skill(client)
    url = skill["skill_url"]
    signature = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = ("1" if signature[0] != "1" else "2") + signature[1:]
    add(client, user=BOB)
    other = one_skill(client, BOB)["id"]
    expired = client.app.state.signer.url(  # type: ignore[attr-defined]
        "http://testserver", skill["id"], skill["version"], now=time.time() - 10**7
    )
    tampered = [
        with_query(url, sig=flipped),
        with_query(url, sig="é" * 32),
        with_query(url, v=str(skill["version"] + 1)),
        with_query(url, exp=str(int(time.time()) + 10**8)),
        path_of(url).replace(skill["id"], other),
        expired,
    ]
    for link in tampered:
        refused(client.get(link), 403, 40100)
    refused(client.get(path_of(url).split("?")[0]), 400, 40002)  # no query at all


def test_public_url_sets_the_base_of_skill_links(build: Build) -> None:
    _, client = build(public_url="https://mem.example.com")
    add(client)
    skill = search(client, include_skill=True)["skill_detail_list"][0]
    assert skill["skill_url"].startswith(f"https://mem.example.com{API}/skills/{skill['id']}/download?")
    assert client.get(path_of(skill["skill_url"])).status_code == 200


def test_an_app_bound_key_sees_only_its_apps_tasks(served: tuple[Memory, TestClient]) -> None:
    memory, client = served
    key_a, _ = create_key(memory.store, app_id="app-a")
    bound = {"Authorization": f"Token {key_a}"}
    task_a = add(client, headers=bound, conversation="in-a")["task_id"]
    task_b = add(
        client, messages=[{"role": "user", "content": "我喜欢海边"}], conversation="b", app_id="app-b"
    )
    assert data(post(client, "/get/status", {"task_id": task_a}, headers=bound))["status"] == "completed"
    refused(post(client, "/get/status", {"task_id": task_b["task_id"]}, headers=bound), 404, 40400)
    assert data(post(client, "/get/status", {"task_id": task_b["task_id"]}))["status"] == "completed"


def test_a_configured_signing_key_makes_links_valid_across_data_directories(tmp_path: Path) -> None:
    from memskill.server.links import Signer, load_secret

    first = Signer(load_secret(tmp_path / "a", "shared secret"), 60)
    second = Signer(load_secret(tmp_path / "b", "shared secret"), 60)
    other = Signer(load_secret(tmp_path / "c"), 60)
    url = first.url("http://x", "skill_1", 2)
    signature = url.rsplit("sig=", 1)[1]
    expires = int(url.split("exp=")[1].split("&")[0])
    assert second.valid("skill_1", 2, expires, signature)
    assert not other.valid("skill_1", 2, expires, signature)
    assert not (tmp_path / "a" / "signing.key").exists()

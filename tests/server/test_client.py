"""`memskill.Client` against a real `memskill serve` process: every method, and every error class."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import Server, free_port, running_server, server_env

import memskill
from memskill.demo import demo_data, turns

KEY = "msk_client-test-key"
QUERY = "清明节我打算去云南，帮我规划7天的行程。"
USER = "client-traveller"
TRIP = [
    {
        "role": "user",
        "content": "我想去成都玩5天，帮我排个行程。行程尽量不走回头路，别安排商场，我更喜欢文化景点。",
    },
    {
        "role": "assistant",
        "content": "好的：第1天青城山，第2天都江堰，第3天四川博物院，第4天杜甫草堂，第5天熊猫基地。",
    },
    {"role": "user", "content": "规划前请先帮我查一下天气。"},
    {"role": "assistant", "content": "天气：多云，18–27℃，第3天有阵雨，正好安排在博物馆里。"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve-client") / "data"
    with running_server(data_dir, server_env(MEMSKILL_API_KEY=KEY)) as running:
        yield running
        assert "Traceback" not in running.stderr(), running.stderr()


@pytest.fixture(scope="module")
def client(server: Server) -> memskill.Client:
    return memskill.Client(server.api, KEY, timeout=60, retries=0)


@pytest.fixture(scope="module")
def traveller(client: memskill.Client) -> str:
    """The demo's fast traveller's conversations under USER, sent turn by turn, all processed."""
    fast = demo_data()["users"][0]
    task_ids = []
    for conversation in fast["conversations"]:
        for turn in turns(conversation["messages"]):
            reply = client.add_message(
                user_id=USER, conversation_id=conversation["conversation_id"], messages=turn
            )
            assert reply["success"] is True and reply["status"] in ("running", "completed")
            task_ids.append(reply["task_id"])
    for task_id in task_ids:
        assert client.wait(task_id, timeout=60)["status"] == "completed"
    return USER


def first_skill(client: memskill.Client, user_id: str) -> dict:
    skills = client.search_memory(query=QUERY, user_id=user_id, include_skill=True)["skill_detail_list"]
    assert skills, f"no skill for {user_id}"
    return dict(skills[0])


# -- every method returns the reply's data ----------------------------------------------------------


def test_add_message_and_get_status(client: memskill.Client) -> None:
    reply = client.add_message(
        user_id="client-status", conversation_id="c1", messages=TRIP[:2], async_mode=False
    )
    assert reply == {"success": True, "task_id": reply["task_id"], "status": "completed"}
    status = client.get_status(task_id=reply["task_id"])
    assert status["task_id"] == reply["task_id"] and status["status"] == "completed"
    assert set(status["memory_views"]) == {"added", "updated", "deleted"}
    again = client.add_message(user_id="client-status", conversation_id="c1", messages=TRIP[:2])
    assert again["task_id"] == reply["task_id"]  # a retry is stored once


def test_wait_returns_the_finished_status(client: memskill.Client) -> None:
    reply = client.add_message(user_id="client-wait", conversation_id="c1", messages=TRIP)
    status = client.wait(reply["task_id"], timeout=60, interval=0.05)
    assert status["status"] == "completed" and status["task_id"] == reply["task_id"]


def test_search_memory_returns_the_skill(client: memskill.Client, traveller: str) -> None:
    data = client.search_memory(query=QUERY, user_id=traveller, include_skill=True)
    assert set(data) >= {
        "memory_detail_list",
        "preference_detail_list",
        "tool_memory_detail_list",
        "preference_note",
        "skill_detail_list",
    }
    value = data["skill_detail_list"][0]["skill_value"]
    text = value["procedure"] + "".join(value["preference"])
    assert all(wish in text for wish in ("回头路", "文化", "天气")), text


def test_get_message(client: memskill.Client, traveller: str) -> None:
    conversation = demo_data()["users"][0]["conversations"][0]
    data = client.get_message(
        user_id=traveller, conversation_id=conversation["conversation_id"], message_limit_number=3
    )
    messages = data["message_detail_list"]
    assert len(messages) == 3
    assert [m["content"] for m in messages] == [m["content"] for m in conversation["messages"][-3:]]


def test_get_memory_and_get_memory_by_id(client: memskill.Client, traveller: str) -> None:
    data = client.get_memory(user_id=traveller, size=5)
    assert data["current"] == 1 and data["size"] == 5 and data["pages"] >= 1
    assert data["preference_detail_list"] and data["skill_detail_list"]
    preference = data["preference_detail_list"][0]
    assert client.get_memory_by_id(preference["id"])["preference"] == preference["preference"]
    assert client.get_memory_by_id(preference["id"], user_id=traveller)["id"] == preference["id"]
    skill = data["skill_detail_list"][0]
    assert client.get_memory_by_id(skill["id"], user_id=traveller)["skill_value"]["name"]
    with pytest.raises(memskill.NotFound):
        client.get_memory_by_id(preference["id"], user_id="someone-else")


def test_update_and_delete_memory(client: memskill.Client) -> None:
    client.add_message(user_id="client-edit", conversation_id="c1", messages=TRIP, async_mode=False)
    listed = client.get_memory(user_id="client-edit")
    items = listed["memory_detail_list"] + listed["preference_detail_list"]
    assert items
    target = items[0]["id"]
    updated = client.update_memory(memory_id=target, content="我喜欢早上八点出门", user_id="client-edit")
    assert updated["id"] == target
    assert "我喜欢早上八点出门" in (updated.get("memory_value") or updated.get("preference"))
    archived = client.update_memory(memory_id=target, status="archived")
    assert archived["status"] == "archived"
    assert client.delete_memory(memory_ids=[target]) == {"success": True, "deleted": 1}
    with pytest.raises(memskill.NotFound):
        client.get_memory_by_id(target)


def test_add_feedback(client: memskill.Client) -> None:
    client.add_message(user_id="client-feedback", conversation_id="c1", messages=TRIP, async_mode=False)
    reply = client.add_feedback(
        user_id="client-feedback", conversation_id="c1", feedback_content="以后每天的行程控制在三个景点以内"
    )
    assert reply["success"] is True and reply["task_id"]
    assert client.wait(reply["task_id"], timeout=60)["status"] == "completed"


def test_get_skill_with_versions(client: memskill.Client, traveller: str) -> None:
    skills = client.get_skill(user_id=traveller, include_versions=True)["skill_detail_list"]
    assert skills
    skill = skills[0]
    assert skill["skill_url"].startswith("http://127.0.0.1:")
    assert [v["version"] for v in skill["versions"]] == list(range(1, skill["version"] + 1))
    assert skill["versions"][-1]["skill_markdown"] == skill["skill_markdown"]
    one = client.get_skill(user_id=traveller, skill_id=skill["id"])["skill_detail_list"]
    assert [s["id"] for s in one] == [skill["id"]]


def test_download_skill_zip_and_markdown(client: memskill.Client, traveller: str) -> None:
    skill = first_skill(client, traveller)
    name = skill["skill_value"]["name"]
    archive = zipfile.ZipFile(io.BytesIO(client.download_skill(skill["skill_url"])))
    with archive:
        assert archive.namelist() == [f"{name}/SKILL.md"]
        markdown = archive.read(f"{name}/SKILL.md").decode("utf-8")
    assert client.download_skill(skill["skill_url"], format="md").decode("utf-8") == markdown
    assert f"name: {name}\n" in markdown


def test_delete_skill(client: memskill.Client) -> None:
    client.add_message(user_id="client-skill", conversation_id="c1", messages=TRIP, async_mode=False)
    skills = client.get_skill(user_id="client-skill")["skill_detail_list"]
    assert skills
    assert client.delete_skill(skill_id=skills[0]["id"]) == {"success": True}
    with pytest.raises(memskill.NotFound):
        client.get_skill(user_id="client-skill", skill_id=skills[0]["id"])


# -- error replies raise the matching class ---------------------------------------------------------


def test_bad_key_raises_unauthorized(server: Server) -> None:
    stranger = memskill.Client(server.api, "msk_wrong", retries=0)
    with pytest.raises(memskill.Unauthorized, match="API key"):
        stranger.search_memory(query="q", user_id="u")
    with pytest.raises(memskill.Unauthorized):
        memskill.Client(server.api, retries=0).get_status(task_id="task_x")


def test_missing_field_raises_missing_field(client: memskill.Client) -> None:
    with pytest.raises(memskill.MissingField, match="messages"):
        client.add_message(user_id="u", conversation_id="c")
    with pytest.raises(memskill.MissingField, match="query"):
        client.search_memory(user_id="u")


def test_long_id_raises_id_too_long(client: memskill.Client) -> None:
    with pytest.raises(memskill.IdTooLong, match="100"):
        client.add_message(user_id="u" * 101, conversation_id="c", messages=TRIP[:1])
    with pytest.raises(memskill.IdTooLong):
        client.get_memory_by_id("m" * 101)


def test_unknown_ids_raise_not_found(client: memskill.Client) -> None:
    with pytest.raises(memskill.NotFound, match="task"):
        client.get_status(task_id="task_does_not_exist")
    with pytest.raises(memskill.NotFound):
        client.delete_skill(skill_id="skill_does_not_exist")
    with pytest.raises(memskill.NotFound):
        client.get_memory_by_id("mem_does_not_exist")


def test_invalid_values_raise_invalid_request(client: memskill.Client) -> None:
    with pytest.raises(memskill.InvalidRequest, match="role"):
        client.add_message(user_id="u", conversation_id="c", messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(memskill.InvalidRequest):
        client.search_memory(query="q", user_id="u", memory_limit_number=1000)


def test_tampered_skill_url_raises_forbidden(client: memskill.Client, traveller: str) -> None:
    url = first_skill(client, traveller)["skill_url"]
    signature = re.search(r"sig=([0-9a-f]+)", url)
    assert signature
    value = signature.group(1)
    tampered = url.replace(value, ("0" if value[0] != "0" else "1") + value[1:])
    for format in ("zip", "md"):
        with pytest.raises(memskill.Forbidden, match="link"):
            client.download_skill(tampered, format=format)


def test_closed_port_raises_internal_error_naming_the_address(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    base = f"http://127.0.0.1:{port}/api/openmem/v1"
    nowhere = memskill.Client(base, KEY, timeout=5, retries=0)
    with pytest.raises(memskill.InternalError, match=re.escape(f"127.0.0.1:{port}")):
        nowhere.search_memory(query="q", user_id="u")
    link = f"http://127.0.0.1:{port}/api/openmem/v1/skills/s/download?v=1&exp=1&sig=0"
    with pytest.raises(memskill.InternalError, match=re.escape(f"127.0.0.1:{port}")):
        nowhere.download_skill(link)

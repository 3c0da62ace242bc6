"""End to end over real HTTP: `memskill serve` in its own process, fed the demo conversations.

Covers the product scenario of DESIGN §1 (two travellers, one query, two different skills), the skill
download links of §2/§3, authentication, calls shaped exactly like MemOS Cloud's documented client code,
and the scripts in `examples/`.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from paths import ROOT
from serve_helpers import Server, get, post, running_server, server_env, wait_for_tasks

from memskill.demo import demo_data, turns

KEY = "msk_e2e-test-key"
QUERY = "清明节我打算去云南，帮我规划7天的行程。"
FAST = "demo-traveller-fast"
SLOW = "demo-traveller-slow"
NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server with the default offline embedder, holding the demo conversations."""
    data_dir = tmp_path_factory.mktemp("serve-e2e") / "data"
    with running_server(data_dir, server_env(MEMSKILL_API_KEY=KEY)) as running:
        data = demo_data()
        assert data["query"] == QUERY
        assert [u["user_id"] for u in data["users"]] == [FAST, SLOW]
        task_ids: list[str] = []
        for user in data["users"]:
            for conversation in user["conversations"]:
                parts = turns(conversation["messages"])
                for number, turn in enumerate(parts, start=1):
                    body = {
                        "user_id": user["user_id"],
                        "conversation_id": conversation["conversation_id"],
                        "messages": turn,
                        "async_mode": number < len(parts),
                    }
                    status, reply = post(running.api, "/add/message", body, KEY)
                    assert status == 200 and reply["code"] == 0, reply
                    assert reply["data"]["success"] is True
                    task_ids.append(reply["data"]["task_id"])
        wait_for_tasks(running.api, KEY, task_ids)
        yield running
        assert "Traceback" not in running.stderr(), running.stderr()


def search(server: Server, user_id: str, **extra: Any) -> dict[str, Any]:
    body = {"query": QUERY, "user_id": user_id, "include_skill": True, **extra}
    status, reply = post(server.api, "/search/memory", body, KEY)
    assert status == 200 and reply["code"] == 0, reply
    data: dict[str, Any] = reply["data"]
    return data


def top_skill(server: Server, user_id: str) -> dict[str, Any]:
    skills = search(server, user_id)["skill_detail_list"]
    assert skills, f"no skill for {user_id}"
    skill: dict[str, Any] = skills[0]
    return skill


def skill_text(skill: dict[str, Any]) -> str:
    value = skill["skill_value"]
    return value["procedure"] + "\n" + "\n".join(value["preference"])


def all_ids(data: dict[str, Any]) -> set[str]:
    lists = ("memory_detail_list", "preference_detail_list", "tool_memory_detail_list", "skill_detail_list")
    return {item["id"] for key in lists for item in data.get(key) or []}


def user_ids(server: Server, user_id: str) -> set[str]:
    """Every id stored for a user (all pages of get/memory)."""
    found: set[str] = set()
    page = 1
    while True:
        body = {"user_id": user_id, "page": page, "size": 50}
        status, reply = post(server.api, "/get/memory", body, KEY)
        assert status == 200 and reply["code"] == 0, reply
        found |= all_ids(reply["data"])
        if page >= reply["data"]["pages"]:
            return found
        page += 1


def with_changed_signature(url: str) -> str:
    match = re.search(r"sig=([0-9a-f]+)", url)
    assert match, url
    signature = match.group(1)
    changed = ("1" if signature[0] != "1" else "2") + signature[1:]
    return url.replace("sig=" + signature, "sig=" + changed)


# -- the product scenario ---------------------------------------------------------------------------


def test_search_returns_the_travellers_skill(server: Server) -> None:
    skill = top_skill(server, FAST)
    value = skill["skill_value"]
    for field in ("name", "description", "procedure", "preference"):
        assert value[field], f"skill_value.{field} is empty"
    text = skill_text(skill)
    for wish in ("回头路", "文化", "天气"):
        assert wish in text, f"{wish!r} missing from the skill's procedure and preferences:\n{text}"
    assert isinstance(skill["relativity"], (int, float)) and not isinstance(skill["relativity"], bool)
    assert 0 <= skill["relativity"] <= 1
    assert skill["skill_markdown"].startswith("---\n")


def test_skill_url_downloads_a_zip_without_any_header(server: Server) -> None:
    skill = top_skill(server, FAST)
    url = skill["skill_url"]
    assert url.startswith(server.root + "/"), url
    status, headers, body = get(url)
    assert status == 200, body[:300]
    assert headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert len(names) == 1, names
        folder, _, file_name = names[0].partition("/")
        assert file_name == "SKILL.md"
        markdown = archive.read(names[0]).decode("utf-8")
    assert NAME.match(folder) and len(folder) <= 64, folder
    front_matter = yaml.safe_load(markdown.split("---\n")[1])
    assert front_matter["name"] == folder == skill["skill_value"]["name"]

    status, headers, body = get(url + "&format=md")
    assert status == 200
    assert headers["content-type"].startswith("text/markdown")
    assert body.decode("utf-8") == markdown


def test_tampered_skill_url_is_refused(server: Server) -> None:
    url = top_skill(server, FAST)["skill_url"]
    for changed in (with_changed_signature(url), with_changed_signature(url) + "&format=md"):
        status, _, body = get(changed)
        assert status == 403
        reply = json.loads(body)
        assert reply["code"] == 40100 and reply["message"] and reply["data"] is None


def test_each_traveller_gets_their_own_skill(server: Server) -> None:
    fast, slow = top_skill(server, FAST), top_skill(server, SLOW)
    assert fast["id"] != slow["id"]
    assert fast["skill_markdown"] != slow["skill_markdown"]
    assert skill_text(fast) != skill_text(slow)
    assert "回头路" not in skill_text(slow)
    assert f"user_id: {SLOW}" in slow["skill_markdown"]


def test_search_never_crosses_users(server: Server) -> None:
    fast_ids = user_ids(server, FAST) | all_ids(search(server, FAST))
    assert fast_ids
    slow_reply = search(server, SLOW, include_tool_memory=True, relativity=0)
    assert all_ids(slow_reply)
    assert not all_ids(slow_reply) & fast_ids
    assert not user_ids(server, SLOW) & fast_ids


def test_missing_or_wrong_key_gets_401_with_the_envelope(server: Server) -> None:
    body = {"query": QUERY, "user_id": FAST}
    for key in (None, "msk_not-a-key", ""):
        status, reply = post(server.api, "/search/memory", body, key)
        assert status == 401
        assert reply["code"] == 40100 and reply["message"] and reply["data"] is None
    response = requests.post(
        server.api + "/search/memory", headers={"Authorization": f"Bearer {KEY}"}, json=body, timeout=60
    )
    assert response.status_code == 200 and response.json()["code"] == 0


def test_first_serve_without_a_key_prints_one_that_works(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", server_env()) as fresh:
        printed = re.findall(r"msk_[A-Za-z0-9_-]{20,}", fresh.stderr())
        assert len(printed) == 1, fresh.stderr()
        status, reply = post(fresh.api, "/get/memory", {"user_id": "nobody"}, printed[0])
        assert status == 200 and reply["code"] == 0, reply
        assert reply["data"]["total"] == 0
        status, reply = post(fresh.api, "/get/memory", {"user_id": "nobody"}, printed[0] + "x")
        assert status == 401 and reply["code"] == 40100


# -- a client written for MemOS Cloud only ----------------------------------------------------------


def memos_post(server: Server, endpoint: str, data: Any) -> requests.Response:
    """Exactly how MemOS Cloud's documentation calls the API."""
    headers = {"Content-Type": "application/json", "Authorization": f"Token {KEY}"}
    url = f"{server.api}/{endpoint}"
    return requests.post(url=url, headers=headers, data=json.dumps(data), timeout=60)


def test_memos_cloud_client_code_works_unchanged(server: Server) -> None:
    user, conversation = "memos-client-user", "memos-client-conversation"
    messages = [
        {"role": "user", "content": "我下周去青岛出差三天，酒店帮我订在离地铁近的地方。"},
        {"role": "assistant", "content": "好的，我会优先找地铁站步行五分钟以内的酒店。"},
    ]
    res = memos_post(
        server,
        "add/message",
        {"user_id": user, "conversation_id": conversation, "messages": messages, "async_mode": False},
    )
    assert res.status_code == 200 and res.json()["code"] == 0, res.text
    assert res.json()["data"]["status"] == "completed"

    res = memos_post(server, "search/memory", {"user_id": user, "query": "青岛的酒店订在哪里？"})
    assert res.status_code == 200 and res.json()["code"] == 0, res.text
    found = res.json()["data"]
    assert all_ids(found)

    res = memos_post(
        server,
        "add/feedback",
        {
            "user_id": user,
            "conversation_id": conversation,
            "feedback_content": "以后酒店的预算控制在500元以内",
        },
    )
    assert res.status_code == 200 and res.json()["code"] == 0, res.text
    assert res.json()["data"]["task_id"]

    res = memos_post(server, "get/memory", {"user_id": user})
    assert res.status_code == 200 and res.json()["code"] == 0, res.text
    listed = res.json()["data"]
    stored = all_ids(listed) - {s["id"] for s in listed["skill_detail_list"]}
    assert stored

    doomed = sorted(stored)[:1]
    res = memos_post(server, "delete/memory", {"memory_ids": doomed})
    assert res.status_code == 200 and res.json()["code"] == 0, res.text
    assert res.json()["data"]["deleted"] == 1

    res = memos_post(server, "get/memory", {"user_id": user})
    assert res.status_code == 200 and res.json()["code"] == 0
    assert doomed[0] not in all_ids(res.json()["data"])


@pytest.mark.parametrize(
    ("endpoint", "body", "code"),
    [
        ("add/message", {"user_id": "u", "conversation_id": "c"}, 40002),
        ("add/message", {"conversation_id": "c", "messages": [{"role": "user", "content": "hi"}]}, 40002),
        ("search/memory", {"user_id": "u"}, 40002),
        ("add/feedback", {"user_id": "u", "conversation_id": "c"}, 40002),
        ("add/message", b'{"user_id": "u", "conversation_id": "c", "messages": [', 40000),
        ("search/memory", b"not json at all", 40000),
        (
            "add/message",
            {"user_id": "u", "conversation_id": "c", "messages": [{"role": "bot", "content": "x"}]},
            40000,
        ),
        ("add/message", {"user_id": "u" * 101, "conversation_id": "c", "messages": []}, 40010),
        ("search/memory", {"user_id": "u", "query": "q", "conversation_id": "c" * 101}, 40010),
        ("delete/memory", {"memory_ids": ["m" * 101]}, 40010),
    ],
)
def test_memos_cloud_client_gets_clear_4xx(server: Server, endpoint: str, body: Any, code: int) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Token {KEY}"}
    data = body if isinstance(body, bytes) else json.dumps(body)
    res = requests.post(url=f"{server.api}/{endpoint}", headers=headers, data=data, timeout=60)
    assert 400 <= res.status_code < 500, res.text
    reply = res.json()
    assert reply["code"] == code, reply
    assert reply["message"].strip() and reply["data"] is None


# -- examples/ ----------------------------------------------------------------------------------------


def test_examples_run_against_the_server(server: Server) -> None:
    env = server_env(MEMOS_BASE_URL=server.api, MEMOS_API_KEY=KEY)
    added = subprocess.run(
        [sys.executable, str(EXAMPLES / "add_message.py")], env=env, capture_output=True, timeout=120
    )
    assert added.returncode == 0, added.stderr.decode()
    reply = json.loads(added.stdout)
    assert reply["code"] == 0 and reply["data"]["status"] == "completed", reply

    searched = subprocess.run(
        [sys.executable, str(EXAMPLES / "search_memory.py")], env=env, capture_output=True, timeout=120
    )
    assert searched.returncode == 0, searched.stderr.decode()
    output = searched.stdout.decode("utf-8")
    assert "skill_value" in output
    skills = json.loads(output)["data"]["skill_detail_list"]
    assert skills and skills[0]["skill_value"]["name"]
    for wish in ("回头路", "文化", "天气"):
        assert wish in skill_text(skills[0]), skill_text(skills[0])

"""Hostile input on every endpoint (DESIGN §6): always a 4xx with the envelope, never a 5xx, never a write.

Each case is a raw request body (bytes, so that invalid UTF-8, truncated JSON and absurd nesting reach the
server as a client would send them) for one endpoint. Before and after each case the row count of every
table in the SQLite file is taken; a refused request must leave all of them as they were. The server
starts with real data (one user with a skill, memories and preferences), so that a partial write or a
delete would show. At the end a well-formed search still answers with the same results, and the figures
(cases tried, statuses seen, 5xx, changed tables) are printed for the reliability notes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from memskill.config import Limits, Settings
from memskill.engine import Memory
from memskill.server import create_app

API = "/api/openmem/v1"
KEY = "hostile-key"
AUTH = {"Authorization": f"Token {KEY}", "Content-Type": "application/json"}
USER = "user-hostile"
MAX_BODY = 256 * 1024
ENDPOINTS: dict[str, dict[str, Any]] = {
    "/add/message": {
        "user_id": USER,
        "conversation_id": "c-new",
        "messages": [{"role": "user", "content": "以后周报控制在200字以内"}],
        "async_mode": False,
    },
    "/search/memory": {"user_id": USER, "query": "帮我规划行程", "include_skill": True},
    "/get/status": {"task_id": "task_0"},
    "/get/message": {"user_id": USER, "conversation_id": "c1"},
    "/get/memory": {"user_id": USER},
    "/update/memory": {"memory_id": "mem_0", "content": "x"},
    "/delete/memory": {"memory_ids": ["mem_0"]},
    "/add/feedback": {"user_id": USER, "conversation_id": "c1", "feedback_content": "太长了，以后短一点"},
    "/get/skill": {"user_id": USER},
    "/delete/skill": {"skill_id": "skill_0"},
}
"""Each endpoint with a valid body: the cases below break one thing in it at a time. The ids are those
of the fixture's real task, memory and skill (set when it starts), so that a refused update or delete
would have something to harm."""
WRITES = {"/add/message", "/update/memory", "/delete/memory", "/add/feedback", "/delete/skill"}


def nested(depth: int, opening: str = "[", closing: str = "]") -> bytes:
    return (opening * depth + closing * depth).encode()


def nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


WHOLE_BODIES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("whitespace", b"  \n\t "),
    ("invalid UTF-8", b'{"user_id": "\xff\xfe\xc3\x28"}'),
    ("lone continuation bytes", b"\x80\x81\x82"),
    ("truncated JSON", b'{"user_id": "u", "messages": [{"role": "us'),
    ("trailing garbage", b'{"user_id": "u"} xyz'),
    ("a JSON array", b"[]"),
    ("a JSON string", b'"user_id"'),
    ("a JSON number", b"42"),
    ("JSON null", b"null"),
    ("NaN", b'{"user_id": NaN}'),
    ("Infinity", b'{"relativity": Infinity}'),
    ("arrays nested 1,000 deep", nested(1_000)),
    ("arrays nested 100,000 deep", nested(100_000)),
    ("objects nested 10,000 deep", nested_objects(10_000)),
    ("unterminated nesting", b"[" * 50_000),
    ("body over the size limit", b'{"user_id": "' + b"a" * (MAX_BODY + 10) + b'"}'),
    ("NUL bytes", b'{"user_id": "\x00"}'),
]
"""Bodies that are wrong whatever the endpoint."""

WRONG_VALUES: list[tuple[str, Any]] = [
    ("null", None),
    ("a number", 12345),
    ("a boolean", True),
    ("a list", ["a", "b"]),
    ("an object", {"$ne": None}),
    ("a huge string", "字" * (MAX_BODY // 4)),
    ("an unpaired surrogate", "\ud800"),
    ("an empty string", ""),
    ("an id over 100 characters", "x" * 101),
    ("deeply nested value", json.loads(nested(200))),
]
"""Values put in place of each field of a valid body, one field at a time."""


OPTIONAL = {"async_mode", "include_skill", "content"}
"""Fields with a default: null or leaving them out is allowed."""
TEXT = {"query", "content", "feedback_content"}
"""Free text, not ids: any length passes (a search reads the first 4,000 characters of its query)."""


def field_cases(path: str, body: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    for field, original in body.items():
        for name, value in WRONG_VALUES:
            if (
                (isinstance(original, list) and name == "a list")
                or (isinstance(original, bool) and name == "a boolean")
                or (field in OPTIONAL and name == "null")
                or (field in TEXT and name in ("a huge string", "an id over 100 characters"))
            ):
                continue
            changed = {**body, field: value}
            yield (
                f"{field} = {name}",
                json.dumps(changed, ensure_ascii=False).encode("utf-8", "surrogatepass"),
            )
        missing = {k: v for k, v in body.items() if k != field}
        if field not in OPTIONAL:
            yield f"without {field}", json.dumps(missing, ensure_ascii=False).encode()
    if path == "/add/message":
        broken_messages: list[tuple[str, Any]] = [
            ("no messages", []),
            ("a message of another role", [{"role": "robot", "content": "hi"}]),
            ("a message without content", [{"role": "user"}]),
            ("content parts of a wrong type", [{"role": "user", "content": [{"type": "image", "url": "x"}]}]),
            ("a message too long", [{"role": "user", "content": "a" * 40_000}]),
            ("too many messages", [{"role": "user", "content": f"m{i}"} for i in range(201)]),
            ("a chat time out of range", [{"role": "user", "content": "hi", "chat_time": "9999999-01-01"}]),
            ("tool_calls of a wrong shape", [{"role": "assistant", "content": "x", "tool_calls": "rm -rf"}]),
        ]
        for name, messages in broken_messages:
            yield name, json.dumps({**body, "messages": messages}).encode()
    if path == "/delete/memory":
        yield (
            "two selectors at once",
            json.dumps({"memory_ids": ["mem_0"], "filter": {"user_id": USER}}).encode(),
        )
        yield "no selector", b"{}"
        yield "an unknown filter field", json.dumps({"filter": {"colour": "red"}}).encode()
        yield "a filter nested 200 deep", json.dumps({"filter": json.loads(nested_objects(200))}).encode()


def all_cases() -> list[tuple[str, str, bytes]]:
    cases = [(path, name, raw) for path in ENDPOINTS for name, raw in WHOLE_BODIES]
    cases += [(path, name, raw) for path, body in ENDPOINTS.items() for name, raw in field_cases(path, body)]
    return cases


def table_contents(path: Path) -> dict[str, int]:
    """A hash of every row of every table (full-text index shadow tables aside): any write changes it."""
    with closing(sqlite3.connect(path)) as db:
        tables = [
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_") and "_fts_" not in row[0]
        ]
        return {table: hash(tuple(db.execute(f'SELECT * FROM "{table}" ORDER BY rowid'))) for table in tables}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Memory, TestClient]]:
    folder = tmp_path_factory.mktemp("hostile")
    limits = Limits(max_body_bytes=MAX_BODY, rate_per_minute=0)
    settings = Settings(data_dir=folder, embedder="hashing", api_key=KEY, workers=0, limits=limits)
    with Memory(settings=settings) as memory, TestClient(create_app(memory)) as client:
        trip = [
            {"role": "user", "content": "帮我规划成都5天的行程，我不走回头路，喜欢文化景点，先查天气。"},
            {"role": "assistant", "content": "好的，第一天武侯祠，第二天杜甫草堂。"},
            {"role": "user", "content": "以后行程每天最多两个景点。"},
        ]
        body = {"user_id": USER, "conversation_id": "c1", "messages": trip, "async_mode": False}
        reply = client.post(API + "/add/message", json=body, headers=AUTH)
        assert reply.status_code == 200, reply.text
        stored = client.post(API + "/get/memory", json={"user_id": USER}, headers=AUTH).json()["data"]
        ENDPOINTS["/get/status"]["task_id"] = reply.json()["data"]["task_id"]
        ENDPOINTS["/update/memory"]["memory_id"] = stored["memory_detail_list"][0]["id"]
        ENDPOINTS["/delete/memory"]["memory_ids"] = [stored["memory_detail_list"][0]["id"]]
        ENDPOINTS["/delete/skill"]["skill_id"] = stored["skill_detail_list"][0]["id"]
        yield memory, client


def test_every_hostile_request_is_refused_with_a_4xx_and_writes_nothing(
    served: tuple[Memory, TestClient],
) -> None:
    memory, client = served
    database = memory.settings.data_dir / "memskill.db"
    search = {"user_id": USER, "query": "帮我规划云南7天的行程", "include_skill": True}
    before_search = client.post(API + "/search/memory", json=search, headers=AUTH).json()["data"]
    assert before_search["skill_detail_list"], "the fixture user should have a skill to protect"
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    cases = all_cases()  # after the fixture: the bodies name its real ids
    for path, name, raw in cases:
        before = table_contents(database)
        response = client.post(API + path, content=raw, headers=AUTH)
        statuses[response.status_code] += 1
        label = f"{path} [{name}] → {response.status_code}"
        if not 400 <= response.status_code < 500:
            problems.append(f"{label}: {response.text[:200]}")
            continue
        body = response.json()
        if set(body) != {"code", "message", "data"} or body["data"] is not None:
            problems.append(f"{label}: not the error envelope: {str(body)[:200]}")
        elif not (40000 <= body["code"] < 50000 and body["message"].strip()):
            problems.append(f"{label}: code {body['code']} / message {body['message']!r}")
        after = table_contents(database)
        if after != before:
            changed = sorted(t for t in after if before.get(t) != after.get(t))
            problems.append(f"{label}: rows changed in {changed}")
    after_search = client.post(API + "/search/memory", json=search, headers=AUTH).json()["data"]
    print(
        f"\nhostile requests: {len(cases)} on {len(ENDPOINTS)} endpoints; "
        f"statuses {dict(sorted(statuses.items()))}; "
        f"5xx {sum(n for s, n in statuses.items() if s >= 500)}; problems {len(problems)}"
    )
    assert problems == [], "\n".join(problems[:30])
    assert len(cases) > 300
    strip = lambda data: [(s["id"], s["version"]) for s in data["skill_detail_list"]]  # noqa: E731
    assert strip(after_search) == strip(before_search)
    assert [m["id"] for m in after_search["memory_detail_list"]] == [
        m["id"] for m in before_search["memory_detail_list"]
    ]
    # the detector itself: one valid update does change the snapshot
    before = table_contents(database)
    assert (
        client.post(API + "/update/memory", json=ENDPOINTS["/update/memory"], headers=AUTH).status_code == 200
    )
    assert table_contents(database) != before


def test_the_valid_bodies_themselves_are_accepted(served: tuple[Memory, TestClient]) -> None:
    """The hostile cases break a body that works: without this, a refusal could come from the base."""
    _, client = served
    for path, body in ENDPOINTS.items():
        if path in WRITES:
            continue  # they would change the data the other test protects
        response = client.post(API + path, json=body, headers=AUTH)
        assert response.status_code == 200, (path, response.text)

"""MCP over both transports, driven by the MCP SDK's own client against real processes.

stdio: `python -m memskill.cli mcp` as a subprocess on a temporary data directory. HTTP: a real
`memskill serve`, reached at `/mcp` with the SDK's streamable HTTP client and an API key. Both are fed
the product brief's conversation (`tests/data/brief_conversation.json`) and asked the brief's question.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents
from paths import DATA
from serve_helpers import Server, get, post, running_server, server_env

USER = "memos_user_123"
KEY = "msk_mcp-test-key"
QUERY = "清明节我打算去云南，帮我规划7天的行程。"
SKILL = "travel-itinerary-planning"
TOOLS = {"search_memory", "add_message", "get_status", "list_skills", "get_skill", "add_feedback"}
BRIEF: dict[str, Any] = json.loads((DATA / "brief_conversation.json").read_text(encoding="utf-8"))
Scenario = Callable[[ClientSession], Awaitable[None]]


def text_of(result: CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


def data_of(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    data: dict[str, Any] = result.structured_content
    return data


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    return data_of(await session.call_tool(tool, arguments))


async def refusal(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """The API error envelope a failing tool call answers with."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    assert json.loads(text_of(result)) == result.structured_content
    error: dict[str, Any] = result.structured_content
    return error


def run_apart(main: Callable[[], Awaitable[None]]) -> None:
    """Run `main` on an event loop in a thread of its own: the browser tests' Playwright keeps an event
    loop running in the main thread for the rest of the session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, main).result()


async def wait_for(session: ClientSession, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await call(session, "get_status", task_id=task_id)
        if status["status"] != "running":
            assert status["status"] == "completed", status
            return status
        assert time.monotonic() < deadline, f"task {task_id} still running after {timeout} s"
        await anyio.sleep(0.1)


def run_stdio(data_dir: Path, scenario: Scenario, default_user: str | None = USER) -> str:
    """Run `scenario` against a `memskill mcp` subprocess; return what the process wrote to stderr."""
    extra = {"MEMSKILL_MCP_USER": default_user} if default_user else {}
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memskill.cli", "mcp", "--data-dir", str(data_dir)],
        env=server_env(**extra),
    )
    log = data_dir.parent / "mcp.stderr"

    async def main() -> None:
        with log.open("w", encoding="utf-8") as errlog:
            async with (
                stdio_client(parameters, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await scenario(session)

    run_apart(main)
    return log.read_text(encoding="utf-8")


def run_http(server: Server, key: str | None, scenario: Scenario) -> None:
    headers = {"Authorization": f"Token {key}"} if key is not None else {}

    async def main() -> None:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(server.root + "/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await scenario(session)

    run_apart(main)


async def add_the_brief(session: ClientSession, **extra: Any) -> dict[str, Any]:
    reply = await call(session, "add_message", messages=BRIEF["messages"], **extra)
    assert reply["success"] is True and reply["status"] in ("running", "completed")
    return await wait_for(session, reply["task_id"])


# -- stdio ------------------------------------------------------------------------------------------


def test_stdio_session_learns_the_brief_and_serves_its_skill(tmp_path: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
            assert all(spec.get("description") for spec in tool.input_schema["properties"].values())
        search = tools["search_memory"].input_schema
        assert search["required"] == ["query"], "the default user makes user_id optional"
        assert search["properties"]["memory_limit_number"]["maximum"] == 25
        templates = (await session.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["skill://{user}/{name}"]
        assert (await session.list_resources()).resources == []

        status = await add_the_brief(session)  # no conversation_id: one is made from the first message
        assert status["memory_views"]["added"]

        found = await session.call_tool("search_memory", {"query": QUERY, "include_skill": True})
        data = data_of(found)
        assert [s["skill_value"]["name"] for s in data["skill_detail_list"]][:1] == [SKILL]
        assert set(data) == {
            "memory_detail_list",
            "preference_detail_list",
            "tool_memory_detail_list",
            "preference_note",
            "skill_detail_list",
        }
        text = text_of(found)
        assert f"skill://{USER}/{SKILL}" in text and data["preference_note"] in text

        listed = await call(session, "list_skills")
        assert [entry["name"] for entry in listed["skill_list"]] == [SKILL]
        skill = await session.call_tool("get_skill", {"name": SKILL})
        markdown = text_of(skill)
        assert markdown.startswith(f"---\nname: {SKILL}\n") and "回头路" in markdown
        assert data_of(skill)["files"] == [{"path": f"{SKILL}/SKILL.md", "text": markdown}]
        assert markdown == data["skill_detail_list"][0]["skill_markdown"]

        [resource] = (await session.list_resources()).resources
        assert resource.uri == f"skill://{USER}/{SKILL}" and resource.mime_type == "text/markdown"
        [contents] = (await session.read_resource(resource.uri)).contents
        assert isinstance(contents, TextResourceContents) and contents.text == markdown

        [prompt] = (await session.list_prompts()).prompts
        assert prompt.name == SKILL
        loaded = await session.get_prompt(SKILL, {"request": QUERY})
        texts = [
            message.content.text for message in loaded.messages if isinstance(message.content, TextContent)
        ]
        assert texts == [markdown, QUERY]

    stderr = run_stdio(tmp_path / "data", scenario)
    assert "Traceback" not in stderr, stderr


def test_stdio_bad_arguments_get_the_api_errors_and_the_server_goes_on(tmp_path: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        missing = {"code": 40002, "message": "`query` is required: pass a non-empty value.", "data": None}
        assert await refusal(session, "search_memory") == missing
        assert await refusal(session, "search_memory", query="") == missing
        wrong = await refusal(session, "search_memory", query=5)
        assert wrong == {"code": 40000, "message": "`query`: Input should be a valid string.", "data": None}
        assert (await refusal(session, "search_memory", query="x", memory_limit_number=99))["code"] == 40000
        assert (await refusal(session, "search_memory", query="x", include_skill="yes"))["code"] == 40000
        assert (await refusal(session, "search_memory", query="x", user_id="u" * 101))["code"] == 40010
        robot = await refusal(session, "add_message", messages=[{"role": "robot", "content": "hi"}])
        assert robot["message"] == "`messages.0.role` must be one of user, assistant, system, tool."
        assert (await refusal(session, "get_status", task_id="task_missing"))["code"] == 40400
        assert (await refusal(session, "get_skill", name="no-such-skill"))["code"] == 40400
        assert (await refusal(session, "get_skill", user_id="nobody", name=SKILL))["code"] == 40400
        assert (await refusal(session, "no_such_tool"))["code"] == 40400
        with pytest.raises(MCPError) as unknown:
            await session.read_resource(f"skill://nobody/{SKILL}")
        assert unknown.value.code == 40400 and "no skill" in unknown.value.message
        with pytest.raises(MCPError) as malformed:
            await session.read_resource("skill://")
        assert malformed.value.code == 40000
        with pytest.raises(MCPError) as no_prompt:
            await session.get_prompt("no-such-skill")
        assert no_prompt.value.code == 40400
        # Still answering, and an unknown user simply has nothing yet (as on the HTTP API).
        empty = await session.call_tool("search_memory", {"query": QUERY, "user_id": "nobody"})
        assert data_of(empty)["memory_detail_list"] == [] and "Nothing stored" in text_of(empty)

    stderr = run_stdio(tmp_path / "data", scenario)
    assert "Traceback" not in stderr, stderr


def test_stdio_without_a_default_user_requires_user_id(tmp_path: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert "user_id" in tools["search_memory"].input_schema["required"]
        error = await refusal(session, "search_memory", query=QUERY)
        assert error == {
            "code": 40002,
            "message": "`user_id` is required: pass a non-empty value.",
            "data": None,
        }
        assert (await session.list_resources()).resources == [] and (
            await session.list_prompts()
        ).prompts == []

    run_stdio(tmp_path / "data", scenario, default_user=None)


# -- HTTP -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server with an API key and a default MCP user; its log (access log included) is checked
    for keys at the end."""
    data_dir = tmp_path_factory.mktemp("mcp-http") / "data"
    env = server_env(MEMSKILL_API_KEY=KEY, MEMSKILL_MCP_USER=USER)
    with running_server(data_dir, env, with_stdout=True) as running:
        yield running
        log = running.stderr()
        assert "Traceback" not in log, log
        assert KEY not in log and "msk_unknown" not in log, "a key was logged"


def test_http_session_answers_as_the_api_does(server: Server) -> None:
    async def scenario(session: ClientSession) -> None:
        await session.initialize()
        assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
        await add_the_brief(session, conversation_id=BRIEF["conversation_id"])
        data = await call(session, "search_memory", query=QUERY, include_skill=True)
        status, reply = post(
            server.api, "/search/memory", {"query": QUERY, "user_id": USER, "include_skill": True}, KEY
        )
        assert status == 200
        links = [skill.pop("skill_url") for skill in data["skill_detail_list"]]
        for skill in reply["data"]["skill_detail_list"]:
            skill.pop("skill_url")
        assert data == reply["data"], "the MCP tool and the HTTP API give the same answer"
        assert data["skill_detail_list"][0]["skill_value"]["name"] == SKILL
        code, _, body = get(links[0] + "&format=md")  # a signed link on this server, as the API gives
        assert code == 200 and body.decode() == data["skill_detail_list"][0]["skill_markdown"]

        [contents] = (await session.read_resource(f"skill://{USER}/{SKILL}")).contents
        assert isinstance(contents, TextResourceContents)
        assert contents.text == data["skill_detail_list"][0]["skill_markdown"]

        same_error = await refusal(session, "search_memory", query=5)
        _, http_error = post(server.api, "/search/memory", {"query": 5, "user_id": USER}, KEY)
        assert same_error == http_error

    run_http(server, KEY, scenario)


@pytest.mark.parametrize("key", ["msk_unknown", None])
def test_http_unknown_or_missing_key_gets_the_api_error(server: Server, key: str | None) -> None:
    status, expected = post(server.api, "/search/memory", {"query": QUERY, "user_id": USER}, key)
    assert status == 401 and expected["code"] == 40100

    async def scenario(session: ClientSession) -> None:
        with pytest.raises(MCPError) as refused:
            await session.initialize()
        assert (refused.value.code, refused.value.message) == (expected["code"], expected["message"])

    run_http(server, key, scenario)


def test_http_app_bound_key_reaches_only_its_app(server: Server) -> None:
    data_dir = server.stderr_path.parent / "data"
    command = [sys.executable, "-m", "memskill.cli", "keys", "create", "--app-id", "app-a", "--data-dir"]
    created = subprocess.run(
        [*command, str(data_dir)], capture_output=True, text=True, timeout=60, env=server_env(), check=True
    )
    bound = created.stdout.strip()
    other_task: dict[str, str] = {}

    async def unbound(session: ClientSession) -> None:
        """The default user's skill and a task, in no app (a resent conversation is stored once)."""
        await session.initialize()
        other_task["id"] = (await add_the_brief(session, conversation_id=BRIEF["conversation_id"]))["task_id"]
        assert (await call(session, "list_skills"))["skill_list"]

    async def scenario(session: ClientSession) -> None:
        await session.initialize()
        forbidden = await refusal(session, "search_memory", query=QUERY, app_id="app-b")
        _, http_error = post(
            server.api, "/search/memory", {"query": QUERY, "user_id": USER, "app_id": "app-b"}, bound
        )
        assert forbidden == http_error and forbidden["code"] == 40100
        assert (await refusal(session, "get_status", task_id=other_task["id"]))["code"] == 40400
        assert (await call(session, "list_skills"))["skill_list"] == []
        with pytest.raises(MCPError) as hidden:
            await session.read_resource(f"skill://{USER}/{SKILL}")
        assert hidden.value.code == 40400

    run_http(server, KEY, unbound)
    run_http(server, bound, scenario)

"""The MCP server over one engine: the tools, resources and prompts (see the package docstring), and
the transports that carry it: stdio (`serve_stdio`) and the streamable HTTP session manager that
`endpoint.HttpEndpoint` runs.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
from mcp import types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from memskill.engine import Memory
from memskill.errors import InvalidRequest, MemskillError, MissingField, NotFound, Unauthorized, unexpected
from memskill.server import schemas
from memskill.server.keys import Principal
from memskill.server.links import Signer
from memskill.server.mcp.tools import (
    FEEDBACK_CONVERSATION,
    GetSkillArguments,
    conversation_of,
    describe_tools,
    search_text,
    skill_entry,
    skill_uri,
    status_text,
)
from memskill.server.routes import app_for, with_links
from memskill.version import __version__

log = logging.getLogger("memskill.mcp")
Context = ServerRequestContext[Any, Any]
Answer = tuple[dict[str, Any], str]
"""What a tool returns: its structured content (the HTTP reply's `data`) and a text for the agent."""
Result = TypeVar("Result")

INSTRUCTIONS = (
    "memskill remembers the user across conversations. Before answering a request, call search_memory "
    "with the request (include_skill: true) and follow the preferences and the best skill it returns; "
    "load a skill's full SKILL.md with get_skill. After each exchange, call add_message with the "
    "conversation so far, so that memskill learns the user's facts, preferences and procedures. When the "
    "user corrects an answer, call add_feedback with the correction."
)


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: over HTTP the API key's principal and the base URL of signed skill links;
    over stdio nobody in particular (no key, every app, no links)."""

    principal: Principal | None = None
    base_url: str | None = None

    def app(self, requested: str | None) -> str | None:
        return app_for(self.principal, requested)


@dataclass(frozen=True)
class Tool:
    """One MCP tool: how it is listed, how its arguments are checked, and what it runs."""

    name: str
    run: Callable[[Any, Caller], Answer]
    """The engine call: the validated arguments and the caller → (structured content, text)."""
    arguments: type[schemas.Request]
    spec: types.Tool
    """How it is listed: description, input schema, hints."""


def api_error(error: Exception, during: str) -> MemskillError:
    """The API's error for anything a call raised: its own, a validation failure worded as the HTTP API
    words it, or an internal error (logged here, with the traceback; never the arguments)."""
    if isinstance(error, MemskillError):
        return error
    if isinstance(error, ValidationError):
        return schemas.describe_validation(error.errors())
    log.error("unhandled error in %s", during, exc_info=error)
    return unexpected(error)


def protocol_error(error: Exception, during: str) -> MCPError:
    """A JSON-RPC error carrying the API's code and message (for resources and prompts)."""
    failure = api_error(error, during)
    return MCPError(code=failure.code, message=str(failure))


def parse_skill_uri(uri: str) -> tuple[str, str]:
    """(user_id, skill name) of `skill://{user}/{name}`."""
    parts = urlsplit(uri)
    name = parts.path.strip("/")
    if parts.scheme != "skill" or not parts.netloc or not name or "/" in name:
        raise InvalidRequest(f"{uri!r} is not a skill URI: use skill://<user_id>/<skill name>.")
    return unquote(parts.netloc), name


class McpAdapter:
    """The MCP server over one engine: the tools, resources and prompts, answered by `Memory` calls.

    `default_user` fills a missing `user_id` and owns the listed resources and prompts. `signer` (the HTTP
    server's) fills `skill_url` with signed links, under `public_url` or the host the request came to.
    """

    def __init__(
        self,
        memory: Memory,
        default_user: str | None = None,
        signer: Signer | None = None,
        public_url: str | None = None,
    ) -> None:
        self.memory = memory
        self.default_user = default_user
        self.signer = signer
        self.public_url = public_url
        runs: dict[str, tuple[Callable[[Any, Caller], Answer], type[schemas.Request]]] = {
            "search_memory": (self.search_memory, schemas.SearchMemory),
            "add_message": (self.add_message, schemas.AddMessage),
            "get_status": (self.get_status, schemas.GetStatus),
            "list_skills": (self.list_skills, schemas.GetSkill),
            "get_skill": (self.get_skill, GetSkillArguments),
            "add_feedback": (self.add_feedback, schemas.AddFeedback),
        }
        specs = describe_tools({name: model for name, (_, model) in runs.items()}, default_user is not None)
        self.tools = {spec.name: Tool(spec.name, *runs[spec.name], spec) for spec in specs}

    def server(self) -> Server[Any]:
        return Server(
            "memskill",
            version=__version__,
            title="memskill",
            description="Memories and skills learned from the user's conversations.",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )

    # -- the tools: each is one engine call, as its HTTP route makes it -----------------------------

    def search_memory(self, body: schemas.SearchMemory, caller: Caller) -> Answer:
        data = self.memory.search_memory(**{**body.arguments(), "app_id": caller.app(body.app_id)})
        return self._linked(caller, data), search_text(data, body.user_id)

    def add_message(self, body: schemas.AddMessage, caller: Caller) -> Answer:
        data = self.memory.add_message(**{**body.arguments(), "app_id": caller.app(body.app_id)})
        stored = f"Stored the messages of conversation {body.conversation_id!r} for user {body.user_id!r}."
        return data, f"{stored} {status_text(data)}"

    def get_status(self, body: schemas.GetStatus, caller: Caller) -> Answer:
        data = self.memory.get_status(task_id=body.task_id, app_id=caller.app(None))
        return data, status_text(data)

    def list_skills(self, body: schemas.GetSkill, caller: Caller) -> Answer:
        found = self._skills(body.user_id, caller, body.agent_id, body.app_id)
        entries = [skill_entry(skill, body.user_id) for skill in found]
        lines = [f"- {e['name']} (v{e['version']}, {e['uri']}): {e['description']}" for e in entries]
        text = "\n".join(lines) if lines else f"User {body.user_id!r} has no skills yet."
        return {"skill_list": entries}, text

    def get_skill(self, body: GetSkillArguments, caller: Caller) -> Answer:
        if body.skill_id is not None:
            args = {**body.arguments(), "app_id": caller.app(body.app_id)}
            args.pop("name", None)
            skill = self.memory.get_skill(**args)["skill_detail_list"][0]
        elif body.name is not None:
            skill = self._skill_named(body.user_id, body.name, caller, body.app_id)
        else:
            raise MissingField("`name` is required: a skill name from list_skills or search_memory.")
        with zipfile.ZipFile(io.BytesIO(self.memory.skill_zip(skill["id"]))) as folder:
            files = [
                {"path": entry.filename, "text": folder.read(entry).decode("utf-8", "replace")}
                for entry in folder.infolist()
            ]
        uri = skill_uri(body.user_id, skill["skill_value"]["name"])
        data = {**self._linked(caller, skill), "uri": uri, "files": files}
        return data, skill["skill_markdown"]

    def add_feedback(self, body: schemas.AddFeedback, caller: Caller) -> Answer:
        data = self.memory.add_feedback(**{**body.arguments(), "app_id": caller.app(body.app_id)})
        return data, f"Noted the correction for user {body.user_id!r}. {status_text(data)}"

    def _linked(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        if self.signer is None or caller.base_url is None:
            return data
        return with_links(self.signer, caller.base_url, data)

    def _skills(
        self, user_id: str, caller: Caller, agent_id: str | None = None, app_id: str | None = None
    ) -> list[dict[str, Any]]:
        reply = self.memory.get_skill(user_id=user_id, agent_id=agent_id, app_id=caller.app(app_id))
        found: list[dict[str, Any]] = reply["skill_detail_list"]
        return found

    def _skill_named(
        self, user_id: str, name: str, caller: Caller, app_id: str | None = None
    ) -> dict[str, Any]:
        for skill in self._skills(user_id, caller, app_id=app_id):
            if skill["skill_value"]["name"] == name:
                return skill
        raise NotFound(f"no skill {name!r} for user {user_id!r}: list the user's skills with list_skills.")

    def _with_defaults(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments with the default user, and a conversation id where the agent need not give one."""
        filled = dict(arguments)
        if filled.get("user_id") is None and self.default_user is not None:
            filled["user_id"] = self.default_user
        if filled.get("conversation_id") is None and name == "add_message":
            filled["conversation_id"] = conversation_of(filled.get("messages"))
        if filled.get("conversation_id") is None and name == "add_feedback":
            filled["conversation_id"] = FEEDBACK_CONVERSATION
        return filled

    # -- the protocol's handlers -------------------------------------------------------------------

    async def _list_tools(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool.spec for tool in self.tools.values()])

    async def _call_tool(self, ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            tool = self.tools.get(params.name)
            if tool is None:
                raise NotFound(f"no tool {params.name!r}: the tools are {', '.join(self.tools)}.")
            caller = self._caller(ctx)
            body = tool.arguments.model_validate(self._with_defaults(tool.name, params.arguments or {}))
            data, text = await anyio.to_thread.run_sync(partial(tool.run, body, caller))
        except Exception as error:
            failure = api_error(error, f"tool {params.name!r}")
            reply = {"code": failure.code, "message": str(failure), "data": None}
            text = json.dumps(reply, ensure_ascii=False)
            return types.CallToolResult(content=[_text(text)], structured_content=reply, is_error=True)
        return types.CallToolResult(content=[_text(text)], structured_content=data)

    async def _list_resources(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        found = await self._default_skills(ctx, "listing resources")
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=entry["uri"],
                    name=entry["name"],
                    description=entry["description"],
                    mime_type="text/markdown",
                )
                for entry in (skill_entry(skill, self.default_user or "") for skill in found)
            ]
        )

    async def _list_resource_templates(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template="skill://{user}/{name}",
            name="skill",
            description="A user's skill as its SKILL.md: {user} is the user_id, {name} the skill's name.",
            mime_type="text/markdown",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def _read_resource(
        self, ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            caller = self._caller(ctx)
            user_id, name = parse_skill_uri(params.uri)
            skill = await _in_thread(self._skill_named, user_id, name, caller)
        except Exception as error:
            raise protocol_error(error, f"reading {params.uri!r}") from None
        contents = types.TextResourceContents(
            uri=params.uri, text=skill["skill_markdown"], mime_type="text/markdown"
        )
        return types.ReadResourceResult(contents=[contents])

    async def _list_prompts(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        found = await self._default_skills(ctx, "listing prompts")
        request = types.PromptArgument(
            name="request", description="What the user asks for now (optional).", required=False
        )
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=skill["skill_value"]["name"],
                    description=skill["skill_value"]["description"],
                    arguments=[request],
                )
                for skill in found
            ]
        )

    async def _get_prompt(self, ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        try:
            if self.default_user is None:
                raise NotFound(
                    f"no prompt {params.name!r}: prompts are the skills of the default user, and none is set "
                    "(MEMSKILL_MCP_USER)."
                )
            skill = await _in_thread(self._skill_named, self.default_user, params.name, self._caller(ctx))
        except Exception as error:
            raise protocol_error(error, f"prompt {params.name!r}") from None
        request = (params.arguments or {}).get("request")
        texts = [skill["skill_markdown"], *([request] if request else [])]
        messages = [types.PromptMessage(role="user", content=_text(text)) for text in texts]
        return types.GetPromptResult(description=skill["skill_value"]["description"], messages=messages)

    async def _default_skills(self, ctx: Context, during: str) -> list[dict[str, Any]]:
        """The default user's skills (none without a default user)."""
        if self.default_user is None:
            return []
        try:
            return await _in_thread(self._skills, self.default_user, self._caller(ctx))
        except Exception as error:
            raise protocol_error(error, during) from None

    def _caller(self, ctx: Context) -> Caller:
        """The caller of this request: over HTTP, the principal the API key check left on the request."""
        request = ctx.request
        if request is None:
            return Caller()
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            raise Unauthorized("missing or unknown API key: send `Authorization: Token <key>`.")
        return Caller(principal, self.public_url or str(request.base_url))


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


async def _in_thread(function: Callable[..., Result], *args: Any) -> Result:
    """Run a blocking engine call off the event loop."""
    return await anyio.to_thread.run_sync(partial(function, *args))


def serve_stdio(memory: Memory, default_user: str | None = None) -> None:
    """Answer one MCP client over this process's stdin and stdout until it closes them."""
    server = McpAdapter(memory, default_user).server()

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


def session_manager(server: Server[Any], max_body_bytes: int) -> StreamableHTTPSessionManager:
    """The SDK's streamable HTTP transport for `memskill serve`.

    Stateless, with plain JSON replies: every request stands alone, so any of several API processes can
    answer it, and every request passes the API key check (`app.Gate`) on its own. The SDK's check of the
    Host header (against DNS rebinding) is off: behind a proxy the host is the proxy's, and a request
    without a valid key never gets this far anyway.
    """
    return StreamableHTTPSessionManager(
        server,
        json_response=True,
        stateless=True,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=max_body_bytes,
    )

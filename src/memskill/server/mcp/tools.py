"""What an MCP agent reads: each tool's description and input schema, and the texts the tools answer with.

The input schemas are the HTTP API's request models (`schemas`), cut down to the arguments an agent
needs and described; the models still validate every call, so an argument the schema leaves out but
the API knows (`agent_id`, `filter`, …) works as on the API.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from mcp import types
from pydantic import Field

from memskill.server import schemas

FEEDBACK_CONVERSATION = "mcp-feedback"
"""The conversation of a correction sent without one: it names no task, so the closest skill is corrected."""
LIMIT = "At most this many {} (default {}, at most 25)."


class GetSkillArguments(schemas.GetSkill):
    """`get/skill`'s request, which also finds a skill by the name agents see."""

    name: str | None = Field(default=None, min_length=1, max_length=100)


def _user(default_user: bool) -> str:
    text = "The end user the memories belong to: any id of at most 100 characters."
    return text + (" Omit it for the server's default user." if default_user else "")


def _tools(default_user: bool) -> list[tuple[str, str, dict[str, str], bool]]:
    """(name, description, {argument: description}, read only) of every tool, in the order listed."""
    user = _user(default_user)
    return [
        (
            "search_memory",
            "Find what memskill knows that helps with the user's current request: facts about the user, "
            "preferences to respect, lessons about tools, and (with include_skill) skills: step-by-step "
            "procedures personalised from the user's earlier conversations. Call it before answering a "
            "request and follow what it returns. The text is ready to paste into a prompt; the structured "
            "content holds the MemOS-compatible lists (memory_detail_list, preference_detail_list, "
            "tool_memory_detail_list, preference_note, skill_detail_list with each SKILL.md).",
            {
                "query": "The user's request or question, in their own words.",
                "user_id": user,
                "include_skill": "Also return the matching skills (default false).",
                "skill_limit_number": LIMIT.format("skills", 6),
                "memory_limit_number": LIMIT.format("facts", 9),
                "include_preference": "Return the user's preferences (default true).",
                "preference_limit_number": LIMIT.format("preferences", 9),
                "include_tool_memory": "Return lessons about tools called before (default false).",
                "tool_memory_limit_number": LIMIT.format("tool lessons", 6),
                "relativity": "Relevance floor in [0, 1]: less relevant items are left out (default 0.45; "
                "0 = no floor).",
            },
            True,
        ),
        (
            "add_message",
            "Store the conversation so far, so that memskill learns from it: facts, preferences, tool "
            "lessons, and one skill per kind of task the user repeats. Call it after each exchange; "
            "messages sent before are recognised and stored once. It returns at once with a task_id "
            "(the messages are searchable by keyword already); get_status says when the memories and "
            "skills are updated.",
            {
                "messages": "The conversation so far, oldest first: objects {role: user, assistant, system "
                "or tool, content}; an assistant message may carry tool_calls, a tool message its "
                "tool_call_id.",
                "user_id": user,
                "conversation_id": "This conversation's id (at most 100 characters). Omit it for an id made "
                "from the first message, which stays the same while the conversation grows.",
                "async_mode": "false waits until the memories and skills are updated (seconds); the "
                "default, true, returns at once.",
            },
            False,
        ),
        (
            "get_status",
            "The state of a task that add_message or add_feedback returned: running, completed or failed "
            "(with the error), and the ids of the memories it added, updated and deleted.",
            {"task_id": "The task_id that add_message or add_feedback returned."},
            True,
        ),
        (
            "list_skills",
            "The user's skills: each one's name, description, version and the resource URI of its "
            "SKILL.md. Load one with get_skill.",
            {"user_id": user},
            True,
        ),
        (
            "get_skill",
            "One of the user's skills as its SKILL.md (procedure, experience, the user's preferences, "
            "examples), ready to follow, with the files of its folder.",
            {
                "name": "The skill's name, as list_skills or search_memory give it "
                "(e.g. travel-itinerary-planning).",
                "skill_id": "Or the skill's id, instead of its name.",
                "user_id": user,
            },
            True,
        ),
        (
            "add_feedback",
            "Apply the user's correction of an answer (e.g. 'from now on keep it under 200 words'): it "
            "updates the user's preferences and the matching skill. It returns at once with a task_id.",
            {
                "feedback_content": "The user's correction, in their own words.",
                "user_id": user,
                "conversation_id": "The conversation the correction is about (the id add_message used); "
                "omit it to correct the closest skill.",
                "async_mode": "false waits until the correction is applied; the default, true, returns "
                "at once.",
            },
            False,
        ),
    ]


def describe_tools(models: dict[str, type[schemas.Request]], default_user: bool) -> list[types.Tool]:
    """The tools as listed to the agent; `models` validate each tool's arguments."""
    out = []
    for name, description, arguments, read_only in _tools(default_user):
        optional = {"user_id"} if default_user else set()
        optional |= {"conversation_id"}  # add_message and add_feedback make one up
        out.append(
            types.Tool(
                name=name,
                description=description,
                input_schema=input_schema(models[name], arguments, optional),
                annotations=types.ToolAnnotations(
                    read_only_hint=read_only, destructive_hint=False, idempotent_hint=True
                ),
            )
        )
    return out


def input_schema(model: type[schemas.Request], shown: dict[str, str], optional: set[str]) -> dict[str, Any]:
    """The JSON schema of `model`'s fields in `shown`, each with its description; the fields in `optional`
    are not required (the server fills them in)."""
    full = model.model_json_schema()
    definitions = full.get("$defs", {})
    properties = {
        name: {**_plain(full["properties"][name], definitions), "description": description}
        for name, description in shown.items()
    }
    required = [name for name in full.get("required", []) if name in shown and name not in optional]
    return {"type": "object", "properties": properties, "required": required}


def _plain(schema: Any, definitions: dict[str, Any]) -> Any:
    """`schema` without references, titles and `null` alternatives: the shape an agent should send."""
    if isinstance(schema, list):
        return [_plain(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _plain(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option != {"type": "null"}]
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        schema = {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {field: _plain(sub, definitions) for field, sub in value.items()}
        else:
            out[key] = _plain(value, definitions)
    return out


def conversation_of(messages: Any) -> str:
    """A conversation id made from the first message, so that resending a growing conversation keeps it."""
    first = messages[0] if isinstance(messages, list) and messages else None
    text = json.dumps(first, ensure_ascii=False, sort_keys=True, default=str)
    return "mcp-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def skill_uri(user_id: str, name: str) -> str:
    return f"skill://{quote(user_id, safe='')}/{name}"


def skill_entry(skill: dict[str, Any], user_id: str) -> dict[str, Any]:
    """A skill as `list_skills` shows it: what it is for and where its SKILL.md is."""
    value = skill["skill_value"]
    return {
        "id": skill["id"],
        "name": value["name"],
        "description": value["description"],
        "version": skill["version"],
        "update_time": skill["update_time"],
        "uri": skill_uri(user_id, value["name"]),
    }


def search_text(data: dict[str, Any], user_id: str) -> str:
    """A search reply as text an agent can paste into its prompt: facts, the preference note, tool
    lessons, and the matching skills by name (their SKILL.md is one get_skill away)."""
    sections = []
    facts = [f"- {memory['memory_value']}" for memory in data["memory_detail_list"]]
    if facts:
        sections.append("\n".join(["What is known about the user:", *facts]))
    if data["preference_note"]:
        sections.append(data["preference_note"])
    lessons = [f"- {tool['experience'] or tool['tool_value']}" for tool in data["tool_memory_detail_list"]]
    if lessons:
        sections.append("\n".join(["Lessons about tools:", *lessons]))
    skills = [
        f"- {skill['skill_value']['name']}: {skill['skill_value']['description']} "
        f"({skill_uri(user_id, skill['skill_value']['name'])})"
        for skill in data["skill_detail_list"]
    ]
    if skills:
        sections.append("\n".join(["Skills for this request (load one with get_skill):", *skills]))
    return "\n\n".join(sections) or f"Nothing stored for user {user_id!r} matches this request."


def status_text(data: dict[str, Any]) -> str:
    """One line on a task: where it stands and what it changed."""
    task, status = data["task_id"], data["status"]
    if status == "running":
        return f"Task {task} is running: get_status says when the memories and skills are updated."
    if status == "failed":
        return f"Task {task} failed: {data.get('error') or 'no reason recorded'}."
    views = data.get("memory_views")
    if not views:
        return f"Task {task} is {status}."
    counts = ", ".join(f"{len(views[kind])} {kind}" for kind in ("added", "updated", "deleted"))
    return f"Task {task} is {status}: memories {counts}."

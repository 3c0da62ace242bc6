"""`memskill demo`: two travellers with opposite habits, their skills, and one search.

The conversations (shipped in `demo_data/conversations.json`) are sent the way an agent sends them: one
`add_message` call per turn. Then each user's SKILL.md is printed, followed by what `search_memory`
returns for a new trip request with skills included.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from memskill.config import Settings

if TYPE_CHECKING:
    from memskill.engine import Memory


def demo_data() -> dict[str, Any]:
    text = resources.files("memskill").joinpath("demo_data/conversations.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def turns(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a conversation into turns: a user message and everything up to the next one."""
    out: list[list[dict[str, Any]]] = []
    for message in messages:
        if message.get("role") == "user" or not out:
            out.append([])
        out[-1].append(message)
    return out


def send(
    memory: Memory, user_id: str, conversation_id: str, messages: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Add a conversation as an agent sends it, one turn per `add_message` (waiting for each job);
    yields each reply."""
    for turn in turns(messages):
        yield memory.add_message(
            user_id=user_id, conversation_id=conversation_id, messages=turn, async_mode=False
        )


def send_demo(memory: Memory) -> None:
    """Add every demo user's conversations, one turn per call, as `memskill demo` does."""
    for user in demo_data()["users"]:
        for conversation in user["conversations"]:
            for _ in send(memory, user["user_id"], conversation["conversation_id"], conversation["messages"]):
                pass


def mode_line(settings: Settings) -> str:
    if settings.llm is None:
        return "offline, algorithmic stages (set MEMSKILL_LLM_BASE_URL and MEMSKILL_LLM_MODEL to add a model)"
    return f"LLM mode: {settings.llm.model} at {settings.llm.base_url}, algorithmic fallback per item"


def llm_summary(memory: Memory, task_ids: list[str]) -> str:
    """How often each stage used the model or fell back (with the first reason), and the tokens spent."""
    counts: dict[str, dict[str, int]] = {}
    reasons: dict[str, str] = {}
    for task_id in task_ids:
        for run in memory.get_status(task_id=task_id).get("llm", {}).get("stages", []):
            counts.setdefault(run["stage"], {}).setdefault(run["mode"], 0)
            counts[run["stage"]][run["mode"]] += 1
            if run.get("reason"):
                reasons.setdefault(run["stage"], run["reason"])
    lines = ["model use per stage:"]
    for stage, modes in counts.items():
        shown = ", ".join(f"{mode} {count}" for mode, count in sorted(modes.items()))
        reason = f" — first fallback: {reasons[stage]}" if stage in reasons else ""
        lines.append(f"  {stage}: {shown}{reason}")
    usage = memory.token_usage()
    lines.append(
        f"tokens: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion "
        f"in {usage['calls']} calls"
    )
    return "\n".join(lines)


def run_demo(data_dir: Path, out: TextIO, err: TextIO, settings: Settings | None = None) -> int:
    """Run the demo in `data_dir` (emptied first); `settings.llm`, when set, is the model the stages ask."""
    from memskill.engine import Memory

    if data_dir.exists():
        shutil.rmtree(data_dir)
    data = demo_data()
    started = time.monotonic()
    settings = replace(settings or Settings(), data_dir=data_dir, workers=0)
    memory = Memory(settings=settings)
    task_ids: list[str] = []
    try:
        out.write(f"memskill demo — {mode_line(settings)}, data in {data_dir}\n\n")
        total = sum(len(turns(c["messages"])) for u in data["users"] for c in u["conversations"])
        done = 0
        for user in data["users"]:
            for conversation in user["conversations"]:
                ids = (user["user_id"], conversation["conversation_id"])
                for reply in send(memory, *ids, conversation["messages"]):
                    task_ids.append(reply["task_id"])
                    done += 1
                    if err.isatty():
                        err.write(f"\ringesting turns {done}/{total}")
                        err.flush()
                    elif done % 5 == 0 or done == total:
                        err.write(f"ingesting turns {done}/{total}\n")
        err.write(
            f"{chr(10) if err.isatty() else ''}ingested {total} turns in {time.monotonic() - started:.1f} s\n"
        )
        if settings.llm is not None:
            out.write(llm_summary(memory, task_ids) + "\n\n")
        for user in data["users"]:
            out.write("=" * 78 + "\n")
            out.write(f"User {user['user_id']} — {user.get('label', '')}\n")
            out.write("=" * 78 + "\n")
            skills = memory.get_skill(user_id=user["user_id"])["skill_detail_list"]
            for skill in skills:
                out.write(f"\n--- skill {skill['skill_value']['name']} (version {skill['version']}) ---\n")
                out.write(skill["skill_markdown"])
                out.write("\n")
        query = data["query"]
        for user in data["users"]:
            out.write("=" * 78 + "\n")
            out.write(f"search_memory(user_id={user['user_id']!r}, query={query!r}, include_skill=True)\n")
            out.write("=" * 78 + "\n")
            reply = memory.search_memory(
                query=query, user_id=user["user_id"], include_skill=True, include_tool_memory=True
            )
            out.write(format_search(reply))
            out.write("\n")
        out.write(
            f"Try it yourself:\n  memskill search {query!r} --user {data['users'][0]['user_id']} --skills "
            f"--data-dir {data_dir}\n  memskill skills export --user {data['users'][0]['user_id']} "
            f"--to ./skills --data-dir {data_dir}\n"
        )
    finally:
        memory.close()
    return 0


def format_search(data: dict[str, Any], tools: bool = True, skills: bool = True) -> str:
    """A readable rendering of a search reply: memories and preferences, and the tool memories and
    skills when they were asked for (an empty list that was never asked for says nothing)."""
    lines: list[str] = []
    for title, key, field in (
        ("Memories", "memory_detail_list", "memory_value"),
        ("Preferences", "preference_detail_list", "preference"),
        ("Tool memories", "tool_memory_detail_list", "experience"),
    ):
        if key == "tool_memory_detail_list" and not tools:
            continue
        entries = data.get(key) or []
        lines.append(f"{title} ({len(entries)}):")
        lines += [f"  [{e['relativity']:.2f}] {e[field]}" for e in entries]
    found = data.get("skill_detail_list") or [] if skills else None
    if found is not None:
        lines.append(f"Skills ({len(found)}):")
        for skill in found:
            value = skill["skill_value"]
            lines.append(
                f"  [{skill['relativity']:.2f}] {value['name']} v{skill['version']}: {value['description']}"
            )
    if data.get("preference_note"):
        lines += ["", data["preference_note"]]
    return "\n".join(lines) + "\n"

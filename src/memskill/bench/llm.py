"""`memskill bench llm`: what the LLM path costs on the demo conversations, against the fake server.

The demo conversations are sent turn by turn twice, into fresh data directories: once algorithmic, once
with every stage asking `memskill.testing.FakeOpenAI` on loopback, answered by `plausible_reply` —
schema-valid answers built from the prompt itself, so every stage takes the LLM path and nothing falls
back. The report gives, per stage, the calls and the size of the prompts (characters, the fake's
characters/4 count and an estimate that counts each Chinese character as one token), and the time the
LLM path adds per conversation and per turn over the algorithmic one. A real model adds its own
thinking time on top; this measures memskill's share (prompt building, HTTP, parsing, validation).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memskill.config import Endpoint, Settings
from memskill.demo import demo_data, turns
from memskill.extract import detect_language
from memskill.providers.chat import OpenAIChat
from memskill.providers.embedders import Embedder, OfflineEmbedder
from memskill.testing import FakeOpenAI, RecordedRequest
from memskill.text import CJK

_LINE = re.compile(r"^\[(\d+)\] (user|assistant|tool result): ?(.*)$", re.M)
_CALL = re.compile(r"call ([\w.-]+)\(")


@dataclass
class StageCost:
    calls: int = 0
    prompt_chars: int = 0
    prompt_tokens: int = 0
    """As the fake counts them: characters / 4."""
    prompt_tokens_cjk: int = 0
    """Each Chinese character one token, other characters / 4 (closer to real tokenisers for Chinese)."""
    completion_tokens: int = 0
    largest_prompt_tokens_cjk: int = 0
    stage_ms: float = 0.0
    """Time inside the stage (prompt, HTTP round trip, parsing, validation), summed over its calls."""
    fallbacks: int = 0


@dataclass
class LLMCost:
    conversations: int
    turns: int
    algorithmic_s: float
    llm_s: float
    stages: dict[str, StageCost] = field(default_factory=dict)
    fallbacks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "turns": self.turns,
            "algorithmic_s": round(self.algorithmic_s, 3),
            "llm_s": round(self.llm_s, 3),
            "added_ms_per_conversation": round(self.added_ms_per_conversation, 1),
            "added_ms_per_turn": round(1000 * (self.llm_s - self.algorithmic_s) / max(1, self.turns), 1),
            "fallbacks": self.fallbacks,
            "stages": {name: vars(cost) for name, cost in self.stages.items()},
        }

    @property
    def added_ms_per_conversation(self) -> float:
        return 1000 * (self.llm_s - self.algorithmic_s) / max(1, self.conversations)


def run_llm_bench(make_embedder: Callable[[], Embedder] = OfflineEmbedder, repeats: int = 1) -> LLMCost:
    """Ingest the demo conversations algorithmically and through the fake model; compare.

    Each run gets a fresh, warmed-up embedder (so neither run profits from the other's embedding cache),
    and the order of the two runs alternates between repeats.
    """
    from memskill.engine import Memory
    from memskill.prompts import schemas

    data = demo_data()
    conversations = [(u["user_id"], c) for u in data["users"] for c in u["conversations"]]
    total_turns = sum(len(turns(c["messages"])) for _, c in conversations)
    with FakeOpenAI(script={"*": plausible_reply}, schemas=schemas()) as fake:
        endpoint = Endpoint(fake.base_url, "fake-model", None, 30.0)
        times = {"algorithmic": 0.0, "llm": 0.0}
        runs: list[dict[str, Any]] = []
        for repeat in range(repeats):
            for mode in ("algorithmic", "llm") if repeat % 2 == 0 else ("llm", "algorithmic"):
                embedder = make_embedder()
                embedder.embed(["warm up"])
                with tempfile.TemporaryDirectory() as folder:
                    settings = Settings(
                        data_dir=Path(folder), workers=0, llm=endpoint if mode == "llm" else None
                    )
                    chat = OpenAIChat(endpoint) if mode == "llm" else None
                    with Memory(settings=settings, embedder=embedder, chat=chat) as memory:
                        started = time.perf_counter()
                        task_ids = _ingest(memory, conversations)
                        times[mode] += time.perf_counter() - started
                        if mode == "llm":
                            runs += [
                                r for t in task_ids for r in memory.get_status(task_id=t)["llm"]["stages"]
                            ]
        stages = _stage_costs(fake.chat_requests(), repeats)
        for run in runs:
            cost = stages.setdefault(run["stage"], StageCost())
            cost.fallbacks += run["mode"] == "fallback"
            cost.stage_ms += run["ms"] / repeats
    return LLMCost(
        len(conversations),
        total_turns,
        times["algorithmic"] / repeats,
        times["llm"] / repeats,
        stages,
        sum(cost.fallbacks for cost in stages.values()),
    )


def _ingest(memory: Any, conversations: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    task_ids = []
    for user_id, conversation in conversations:
        for turn in turns(conversation["messages"]):
            reply = memory.add_message(
                user_id=user_id,
                conversation_id=conversation["conversation_id"],
                messages=turn,
                async_mode=False,
            )
            task_ids.append(reply["task_id"])
    return task_ids


def _stage_costs(requests: Sequence[RecordedRequest], repeats: int) -> dict[str, StageCost]:
    from memskill.prompts import facts, feedback, segmentation, skill_update, task_record, tool_lessons

    stage_of = {
        module.PROMPT.name: module.PROMPT.stage
        for module in (segmentation, task_record, facts, tool_lessons, skill_update, feedback)
    }
    costs: dict[str, StageCost] = {}
    for request in requests:
        body = request.body or {}
        text = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        cost = costs.setdefault(stage_of.get(request.task or "", request.task or "unknown"), StageCost())
        cjk = len(CJK.findall(text))
        estimate = cjk + (len(text) - cjk + 3) // 4
        cost.calls += 1
        cost.prompt_chars += len(text)
        cost.prompt_tokens += (len(text) + 3) // 4
        cost.prompt_tokens_cjk += estimate
        cost.largest_prompt_tokens_cjk = max(cost.largest_prompt_tokens_cjk, estimate)
    for cost in costs.values():
        cost.calls //= repeats
        cost.prompt_chars //= repeats
        cost.prompt_tokens //= repeats
        cost.prompt_tokens_cjk //= repeats
    return costs


# -- a plausible model --------------------------------------------------------------------------------


def plausible_reply(request: RecordedRequest) -> dict[str, Any] | None:
    """A schema-valid answer to one of memskill's prompts, built from the prompt's own text."""
    body = request.body or {}
    messages = body.get("messages", [])
    prompt = next((str(m["content"]) for m in messages if m.get("role") == "user"), "")
    lines = [(int(n), role, text) for n, role, text in _LINE.findall(prompt)]
    users = [(n, text) for n, role, text in lines if role == "user" and text]
    answer = _ANSWERS.get(request.task or "")
    return answer(prompt, lines, users) if answer else None


Lines = list[tuple[int, str, str]]
Users = list[tuple[int, str]]


def _segments(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    title = users[0][1][:20] if users else "task"
    return {"segments": [{"start": 1, "end": max(1, len(lines)), "title": title}]}


def _record(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    texts = [text[:120] for _, text in users]
    return {
        "title": (texts[0][:30] if texts else "task"),
        "goal": texts[0] if texts else "help the user",
        "steps": texts[1:5] or texts[:1],
        "corrections": [],
        "preferences": [],
        "tools": sorted(set(_CALL.findall(prompt))),
        "outcome": "",
        "language": detect_language(" ".join(texts)),
    }


def _facts(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    if not users:
        return {"facts": [], "preferences": []}
    number, text = users[-1]
    return {
        "facts": [],
        "preferences": [
            {
                "text": text[:80],
                "explicit": True,
                "topic": "general",
                "polarity": 0,
                "correction": False,
                "message": number,
            }
        ],
    }


def _lessons(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    lessons = []
    for number, role, text in lines:
        for tool in _CALL.findall(text) if role == "assistant" else ():
            lessons.append(
                {
                    "tool": tool,
                    "what_happened": text[:80],
                    "lesson": f"check {tool}'s arguments",
                    "error_type": "",
                    "message": number,
                }
            )
    return {"lessons": lessons}


def _skill(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    verdicts = []
    for number, similarity in re.findall(r"^\[(\d+)\] .*?similarity ([0-9.]+)", prompt, re.M):
        verdict = "same" if float(similarity) >= 0.8 else "new"
        verdicts.append({"candidate": int(number), "verdict": verdict, "text": ""})
    return {"description": "Does this kind of task the way the user likes.", "verdicts": verdicts}


def _feedback(prompt: str, lines: Lines, users: Users) -> dict[str, Any]:
    feedback = prompt.split("Feedback:", 1)[-1].split("\n", 1)[0].strip() or "feedback"
    return {"preferences": [{"text": feedback[:100], "topic": "feedback", "polarity": 0}], "operations": []}


_ANSWERS: dict[str, Callable[[str, Lines, Users], dict[str, Any]]] = {
    "memskill_segments": _segments,
    "memskill_task_record": _record,
    "memskill_facts": _facts,
    "memskill_tool_lessons": _lessons,
    "memskill_skill_update": _skill,
    "memskill_feedback": _feedback,
}


def format_cost(cost: LLMCost) -> str:
    lines = [
        f"demo: {cost.conversations} conversations, {cost.turns} turns (one add_message per turn)",
        f"algorithmic {cost.algorithmic_s:.2f} s, LLM path against the fake {cost.llm_s:.2f} s: "
        f"+{cost.added_ms_per_conversation:.0f} ms per conversation, "
        f"+{1000 * (cost.llm_s - cost.algorithmic_s) / max(1, cost.turns):.0f} ms per turn; "
        f"{cost.fallbacks} fallbacks",
        "",
        f"{'stage':<14}{'calls':>7}{'prompt chars':>14}{'tokens (c/4)':>14}{'tokens (zh=1)':>15}"
        f"{'max/call':>10}{'mean/call':>11}{'ms/call':>9}",
    ]
    for stage, stage_cost in cost.stages.items():
        calls = max(1, stage_cost.calls)
        lines.append(
            f"{stage:<14}{stage_cost.calls:>7}{stage_cost.prompt_chars:>14}{stage_cost.prompt_tokens:>14}"
            f"{stage_cost.prompt_tokens_cjk:>15}{stage_cost.largest_prompt_tokens_cjk:>10}"
            f"{stage_cost.prompt_tokens_cjk // calls:>11}{stage_cost.stage_ms / calls:>9.1f}"
        )
    return "\n".join(lines)

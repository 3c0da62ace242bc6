"""Synthetic users for `memskill bench perf`: Chinese and English conversations, deterministic by seed.

Ten kinds of task (trip planning, emails, weekly reports, code review, cooking, fitness, shopping,
meetings, data analysis, translation), each in both languages. A conversation has exactly 20 messages:
a request that states a preference, a clarifying question, details with another preference, a tool call
that fails and the fixed call that succeeds, a draft, a correction of the draft, a revision, and a few
more turns of follow-up. Slots (cities, people, projects, dishes, budgets, dates) are drawn per
conversation, so the texts, and the memories made from them, differ.

    conversation(seed=7, index=3)      → Conversation(id, family, language, messages)
    queries(seed=7, count=100)         → distinct new requests of the same kinds, half Chinese, half English
    memory_items(conversation, user)   → the facts, preferences and tool lesson the pipeline would keep
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import islice
from typing import Any, Literal

from memskill.consolidate import EPISODE_CHARS, dated_key, episode_parts, stable_id
from memskill.models import MemoryItem

Language = Literal["zh", "en"]


@dataclass(frozen=True)
class Tool:
    """A tool call that fails with `bad` arguments and succeeds with `good` ones."""

    name: str
    bad: dict[str, Any]
    error: str
    good: dict[str, Any]
    result: dict[str, Any]


@dataclass(frozen=True)
class Family:
    """One kind of task in one language: templates with `{slot}` fields."""

    title: str
    request: tuple[str, ...]
    clarify: tuple[str, ...]
    details: tuple[str, ...]
    preferences: tuple[tuple[str, str, int], ...]
    """(text, topic, polarity): what the user may ask for; two or three are stated per conversation."""
    correction: tuple[str, ...]
    draft: tuple[str, ...]
    revised: tuple[str, ...]
    follow: tuple[str, ...]
    answer: tuple[str, ...]
    query: tuple[str, ...]
    tool: Tool


@dataclass(frozen=True)
class Templates:
    """The contents of `synthetic.json`."""

    slots: dict[str, dict[str, list[str]]]
    """Per language, the values each `{slot}` is drawn from."""
    lines: dict[str, dict[str, list[str]]]
    """Per kind of closing turn (thanks, ack, …), per language, the lines to pick from."""
    families: dict[str, dict[str, Family]]
    """Per language, per family name."""


@lru_cache(maxsize=1)
def templates() -> Templates:
    text = resources.files("memskill.bench").joinpath("synthetic.json").read_text(encoding="utf-8")
    data = json.loads(text)
    families = {
        language: {
            name: Family(
                **{
                    **spec,
                    "tool": Tool(**spec["tool"]),
                    "preferences": tuple((str(t), str(k), int(p)) for t, k, p in spec["preferences"]),
                }
            )
            for name, spec in by_name.items()
        }
        for language, by_name in data["families"].items()
    }
    return Templates(data["slots"], data["lines"], families)


FAMILY_NAMES = (
    "trip",
    "email",
    "report",
    "review",
    "cooking",
    "fitness",
    "shopping",
    "meeting",
    "analysis",
    "translation",
)


@dataclass(frozen=True)
class Conversation:
    id: str
    family: str
    language: Language
    title: str
    messages: list[dict[str, Any]]
    preferences: tuple[tuple[str, str, int], ...]
    """The preferences stated, as (text, topic, polarity)."""
    tool: Tool
    """The tool call, with its slots filled."""


def _slots(rng: random.Random, language: Language) -> dict[str, str]:
    pools = templates().slots[language]
    slots = {name: rng.choice(values) for name, values in pools.items()}
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    slots["days"] = str(rng.randint(2, 7))
    slots["n"] = str(rng.randint(2, 60))
    slots["budget"] = str(rng.choice([300, 500, 800, 1000, 1500, 2000, 3000, 5000]))
    slots["price"] = str(int(slots["budget"]) + rng.randint(1, 9) * 100)
    slots["date"] = f"{month}月{day}日" if language == "zh" else f"{day} {_MONTH_NAMES[month - 1]}"
    slots["date_iso"] = f"2026-{month:02d}-{day:02d}"
    cities = templates().slots
    slots["city_en"] = dict(zip(cities["zh"]["city"], cities["en"]["city"])).get(slots["city"], slots["city"])
    return slots


_MONTH_NAMES = "January February March April May June July August September October November December".split()


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format_map(slots)


def _fill_json(value: dict[str, Any], slots: dict[str, str]) -> dict[str, Any]:
    return {k: _fill(v, slots) if isinstance(v, str) else v for k, v in value.items()}


def conversation(
    seed: int, index: int, language: Language | None = None, family: str | None = None
) -> Conversation:
    """Conversation number `index` of the synthetic user set `seed`: 20 messages, deterministic."""
    rng = random.Random(f"{seed}:{index}")
    language = language or ("zh" if rng.random() < 0.5 else "en")
    family = family or rng.choice(FAMILY_NAMES)
    spec = templates().families[language][family]
    lines = templates().lines
    slots = _slots(rng, language)
    stated = rng.sample(spec.preferences, 3)
    for number, (text, _, _) in enumerate(stated):
        slots[f"pref{number}"] = _fill(text, slots)
    preferences = tuple((_fill(text, slots), topic, polarity) for text, topic, polarity in stated)
    tool = Tool(
        spec.tool.name,
        _fill_json(spec.tool.bad, slots),
        _fill(spec.tool.error, slots),
        _fill_json(spec.tool.good, slots),
        _fill_json(spec.tool.result, slots),
    )
    start = 1767225600000 + rng.randint(0, 300 * 86400) * 1000
    pick = rng.choice
    change = rng.randrange(len(lines["change"][language]))

    def say(role: str, text: str) -> dict[str, Any]:
        return {"role": role, "content": _fill(text, slots)}

    def call(number: int, arguments: dict[str, Any]) -> dict[str, Any]:
        function = {"name": tool.name, "arguments": json.dumps(arguments, ensure_ascii=False)}
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": f"call_{number}", "type": "function", "function": function}],
        }

    def result(number: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "role": "tool",
            "tool_call_id": f"call_{number}",
            "content": json.dumps(body, ensure_ascii=False),
        }

    messages = [
        say("user", pick(spec.request)),
        say("assistant", pick(spec.clarify)),
        say("user", pick(spec.details)),
        call(1, tool.bad),
        result(1, {"error": tool.error}),
        call(2, tool.good),
        result(2, tool.result),
        say("assistant", pick(spec.draft)),
        say("user", pick(spec.correction)),
        say("assistant", pick(spec.revised)),
        say("user", spec.follow[0]),
        say("assistant", spec.answer[0]),
        say("user", pick(lines["extra"][language])),
        say("assistant", pick(lines["ack"][language])),
        say("user", spec.follow[1]),
        say("assistant", spec.answer[1]),
        say("user", lines["change"][language][change]),
        say("assistant", lines["changed"][language][change]),
        say("user", pick(lines["thanks"][language])),
        say("assistant", pick(lines["closing"][language])),
    ]
    moment = start
    for message in messages:
        moment += rng.randint(3, 90) * 1000
        message["chat_time"] = moment
    return Conversation(
        id=f"conv-{seed}-{index}",
        family=family,
        language=language,
        title=_fill(spec.title, slots),
        messages=messages,
        preferences=preferences,
        tool=tool,
    )


def query_stream(seed: int) -> Iterator[str]:
    """New requests of the synthetic kinds, alternating Chinese and English, each different from every
    earlier one (so that none is answered from an embedder's cache of earlier texts)."""
    rng = random.Random(f"queries:{seed}")
    lines = templates().lines
    seen: set[str] = set()
    misses = 0
    while misses < 10_000:
        language: Language = "zh" if len(seen) % 2 == 0 else "en"
        spec = templates().families[language][rng.choice(FAMILY_NAMES)]
        request = _fill(rng.choice(spec.query), _slots(rng, language))
        text = (
            rng.choice(lines["query_prefix"][language])
            + request
            + rng.choice(lines["query_suffix"][language])
        )
        if text in seen:
            misses += 1
            continue
        misses = 0
        seen.add(text)
        yield text
    raise RuntimeError("the query templates ran out of new combinations")


def queries(seed: int, count: int) -> list[str]:
    """The first `count` requests of `query_stream(seed)`."""
    return list(islice(query_stream(seed), count))


def memory_items(
    conv: Conversation,
    user_id: str,
    cluster_ids: dict[str, list[str]] | None = None,
    preferences: int = 2,
    tool: bool = True,
) -> list[MemoryItem]:
    """What the pipeline keeps from `conv`: episode facts, up to `preferences` of the stated preferences
    and (with `tool`) one tool lesson.

    A preference's text names the task it was said in ("skip shopping malls (3-day trip to Lisbon)"): a
    user with thousands of stored preferences has said them in many contexts, not the same few words.
    `cluster_ids` maps a family to clusters a preference may be linked to (as the pipeline links a
    preference to the cluster of its task)."""
    said = [m for m in conv.messages if m["role"] == "user"]
    joiner = "；" if conv.language == "zh" else " / "
    texts = [" ".join(m["content"].split())[:EPISODE_CHARS] for m in said]
    base = stable_id("mem_", user_id, conv.id)
    items: list[MemoryItem] = []
    for number, indexes in enumerate(episode_parts(texts, len(joiner))):
        moment = int(said[indexes[0]]["chat_time"])
        items.append(
            MemoryItem(
                id=f"{base}-{number}",
                user_id=user_id,
                kind="fact",
                key=dated_key(conv.title, moment, conv.language),
                text=joiner.join(texts[i] for i in indexes),
                conversation_id=conv.id,
                confidence=0.7,
                payload={"memory_type": "LongTermMemory", "episode": True, "part": number},
                create_time=moment,
                update_time=moment,
            )
        )
    moment = int(conv.messages[-1]["chat_time"])
    clusters: list[str | None] = [*(cluster_ids or {}).get(conv.family, [])] or [None]
    for number, (said_text, topic, polarity) in enumerate(conv.preferences[:preferences]):
        text = f"{said_text}（{conv.title}）" if conv.language == "zh" else f"{said_text} ({conv.title})"
        items.append(
            MemoryItem(
                id=f"{base}-p{number}",
                user_id=user_id,
                kind="preference",
                key=topic,
                text=text,
                conversation_id=conv.id,
                payload={
                    "preference_type": "explicit_preference",
                    "reasoning": f'The user stated a requirement: "{said_text}"',
                    "topic": topic,
                    "polarity": polarity,
                    "is_correction": False,
                    "cluster_id": clusters[number % len(clusters)],
                    "supersedes": [],
                },
                create_time=moment,
                update_time=moment,
            )
        )
    if not tool:
        return items
    lesson = conv.tool
    arguments = ", ".join(f"{k}={v!r}" for k, v in lesson.good.items())
    bad = ", ".join(f"{k}={v!r}" for k, v in lesson.bad.items())
    outcome = json.dumps(lesson.result, ensure_ascii=False)[:80]
    items.append(
        MemoryItem(
            id=f"{base}-t",
            user_id=user_id,
            kind="tool",
            key=lesson.name,
            text=f"{lesson.name}({arguments}) → {outcome}",
            conversation_id=conv.id,
            payload={
                "calls": 2,
                "success_rate": 0.5,
                "experiences": [
                    f"{lesson.name} failed with '{lesson.error}' for {bad}; succeeded with {arguments}"
                ],
                "errors": ["invalid_argument"],
            },
            create_time=moment,
            update_time=moment,
        )
    )
    return items


def item_vector_text(item: MemoryItem, title: str) -> str:
    """The text the pipeline embeds for an item of this kind."""
    if item.kind == "fact":
        return title + " " + item.text
    if item.kind == "tool":
        return item.key + " " + item.text
    return item.text

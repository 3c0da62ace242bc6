"""Stage `skills` of `memskill bench quality`: the skills memskill writes, against gold skills.

The dev set (`devset.json`: five users, Chinese and English, each doing two or three kinds of task over
several conversations) is run through the pipeline as an agent would send it, turn by turn; each gold
skill (`devset_skills.json`, written for the dev set before any tuning on it) is matched with the skill
that read most of its task's messages, and that skill's SKILL.md is scored as an agent would read it:

- **Item recall** per section (steps, preferences, lessons): a gold item is found when some item of
  the skill's section matches it (for steps, the Procedure; preferences, User Preferences; lessons,
  Experience). An item matches a gold item when every substring of one of the gold item's key groups
  occurs in it (case-insensitive), or when their embeddings' cosine is at least `MATCH_COSINE`.
- **Precision**: the share of the skill's procedure, preference and experience items that match some
  gold item of the same skill (any section).
- **Noise**: items that match a gold item of another of the user's skills and none of their own, and
  that come from that other task: more of their content words occur in the other task's messages than
  in their own skill's task's (a correction "换个轻松点的" of a trip plan shares the key 轻松 with a gold
  item of the same user's e-mails, but it was said about the trip).
- **Copy rate**: steps that repeat a user's sentence: the step, punctuation aside, occurs in a user
  message and covers at least `COPY_SHARE` of the sentence it occurs in.
- **Examples**: how many lines each example has; structured when it has at least three.

Gold skills are split: `tune` (dev-lin, dev-maya, dev-chen) may be looked at while building; `held-out`
(dev-zhou, dev-sam) only measured; `tune-2` (dev-he, dev-omar in `devset_extra.json`, new kinds of task
written after the first tuning round) may be looked at, and measured first what that round's mechanisms
did on tasks they were not built on; `tune-3` (dev-xu, dev-ines, written the same way after the second
round), `tune-4` (dev-wu, dev-kai, common kinds of task, after the third), `tune-5` (dev-qin,
dev-lena, after the fourth), `tune-6` (dev-fang, dev-noor, after the fifth), `tune-7` (dev-tang,
dev-rosa, after the sixth), `tune-8` (dev-lu, dev-ben, after the seventh), `tune-9` (dev-yao,
dev-ruth, after the eighth), `tune-10` (dev-mei, dev-owen, after the ninth), `tune-11` (dev-pei,
dev-jude, after the tenth), `tune-12` (dev-qiao, dev-nell, after the eleventh) and `tune-13` (dev-rong,
dev-cal, after the twelfth) likewise. Each is reported separately.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from memskill.bench.report import Progress, Result
from memskill.skillfile import parse

MATCH_COSINE = 0.8
COPY_SHARE = 0.8
SPLITS = ("tune", "held-out", *(f"tune-{n}" for n in range(2, 14)))
SECTIONS = {"steps": "procedure", "preferences": "preferences", "lessons": "experience"}


def load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("memskill.bench").joinpath(name).read_text(encoding="utf-8"))


def matches(item: str, gold: dict[str, Any], cosine: float) -> bool:
    """Whether a skill item says what a gold item says (its keys, or a close embedding)."""
    lowered = item.lower()
    keyed = any(all(key.lower() in lowered for key in group) for group in gold["keys"])
    return keyed or cosine >= MATCH_COSINE


def _compact(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def copied(step: str, user_texts: Sequence[str]) -> bool:
    """Whether a step repeats a user's sentence (see the module's documentation)."""
    core = _compact(step)
    if len(core) < 4:
        return False
    for text in user_texts:
        for sentence in re.split(r"[。！？!?\n；;]|(?<=[a-z])\.\s", text):
            compact = _compact(sentence)
            if core in compact and len(core) >= COPY_SHARE * len(compact):
                return True
    return False


def _served(memory: Any, user: dict[str, Any], gold_of: dict[str, str]) -> dict[str, str]:
    """Task kind → id of the user's skill that read most of its messages."""
    from memskill.models import Scope

    votes: dict[str, dict[str, int]] = {}
    for skill in memory.store.list_skills(Scope(user["user_id"])):
        for record in memory.store.task_records(skill.cluster_id):
            for source in record.record.get("sources", []):
                task = gold_of.get(source)
                if task:
                    votes.setdefault(task, {}).setdefault(skill.id, 0)
                    votes[task][skill.id] += 1
    return {task: max(by_skill, key=by_skill.__getitem__) for task, by_skill in votes.items()}


Said = dict[str, list[tuple[str, str, str]]]
"""Each user's messages as (task kind, role, text)."""


def build(progress: Progress) -> tuple[Any, dict[str, dict[str, str]], Said]:
    """Run the dev set through a fresh memory; return it, task kind → skill id per user, and each
    user's messages with their task."""
    from memskill.config import Settings
    from memskill.demo import turns
    from memskill.engine import Memory
    from memskill.ingest import normalise_messages

    users = load("devset.json")["users"] + load("devset_extra.json")["users"]
    memory = Memory(Path(tempfile.mkdtemp(prefix="memskill-bench-skills-")), settings=Settings(workers=0))
    served: dict[str, dict[str, str]] = {}
    said: Said = {}
    for done, user in enumerate(users):
        gold_of: dict[str, str] = {}
        said[user["user_id"]] = []
        for conversation in user["conversations"]:
            tasks = [""] * len(conversation["messages"])
            for segment in conversation["segments"]:
                for index in range(segment["start"], segment["end"] + 1):
                    tasks[index] = segment["task"]
            position = 0
            for turn in turns(conversation["messages"]):
                ids = normalise_messages(
                    turn, conversation["conversation_id"], user["user_id"], memory.limits
                )
                for message in ids:
                    gold_of[message.id] = tasks[position]
                    position += 1
                    said[user["user_id"]].append((tasks[position - 1], message.role, message.content))
                memory.add_message(
                    user_id=user["user_id"],
                    conversation_id=conversation["conversation_id"],
                    messages=turn,
                    async_mode=False,
                )
        served[user["user_id"]] = _served(memory, user, gold_of)
        progress("skills: dev-set users", done + 1, len(users))
    return memory, served, said


def task_words(said: Sequence[tuple[str, str, str]]) -> dict[str, set[str]]:
    """The content words of each task's messages."""
    from memskill.text import content_tokens

    texts: dict[str, list[str]] = {}
    for task, _, content in said:
        texts.setdefault(task, []).append(content)
    return {task: set(content_tokens(" ".join(parts))) for task, parts in texts.items()}


def traced(item: str, words_of: dict[str, set[str]], task: str) -> float:
    """The share of the item's content words that occur in the messages of `task` (`task_words`)."""
    from memskill.text import content_tokens

    words = set(content_tokens(item))
    return len(words & words_of.get(task, set())) / len(words) if words else 0.0


def score(memory: Any, served: dict[str, dict[str, str]], said: Said) -> list[dict[str, Any]]:
    """One row per gold skill: recall per section, precision, noise, copies, example lines."""
    gold = load("devset_skills.json")["skills"]
    embed = memory.embedder.embed
    rows = []
    for entry in gold:
        user_id, task = entry["user_id"], entry["task"]
        skill_id = served.get(user_id, {}).get(task)
        row: dict[str, Any] = {"user_id": user_id, "task": task, "split": entry["split"], "skill": None}
        if skill_id is None:
            rows.append({**row, **{f"{k}_recall": 0.0 for k in SECTIONS}, "missing": True})
            continue
        skill = memory.store.get_skill(skill_id)
        document = parse(skill.current.markdown)
        row["skill"] = document.name
        sections = {key: list(getattr(document, attribute)) for key, attribute in SECTIONS.items()}
        items = [text for texts in sections.values() for text in texts]
        own = [g for key in SECTIONS for g in entry[key]]
        others = [
            {**g, "task": other["task"]}
            for other in gold
            if other["user_id"] == user_id and other["task"] != task
            for key in SECTIONS
            for g in other[key]
        ]
        for key in SECTIONS:
            texts, wanted = sections[key], entry[key]
            if not wanted:
                continue
            cosines = _cosines(embed, texts, [g["text"] for g in wanted])
            found = [
                any(matches(t, g, cosines[i, j]) for i, t in enumerate(texts)) for j, g in enumerate(wanted)
            ]
            row[f"{key}_recall"] = sum(found) / len(wanted)
        own_cos = _cosines(embed, items, [g["text"] for g in own])
        other_cos = _cosines(embed, items, [g["text"] for g in others])
        mine = [any(matches(t, g, own_cos[i, j]) for j, g in enumerate(own)) for i, t in enumerate(items)]
        words_of = task_words(said[user_id])
        foreign = [
            not mine[i]
            and any(
                matches(t, g, other_cos[i, j]) and traced(t, words_of, g["task"]) > traced(t, words_of, task)
                for j, g in enumerate(others)
            )
            for i, t in enumerate(items)
        ]
        row["precision"] = sum(mine) / len(items) if items else 0.0
        row["noise"] = [t for t, bad in zip(items, foreign) if bad]
        steps = sections["steps"]
        user_texts = [content for _, role, content in said[user_id] if role == "user"]
        row["copied"] = [s for s in steps if copied(s, user_texts)]
        row["copy_rate"] = len(row["copied"]) / len(steps) if steps else 0.0
        row["example_lines"] = [len([x for x in e.split("\n") if x.strip()]) for e in document.examples]
        row["structured"] = bool(row["example_lines"]) and all(n >= 3 for n in row["example_lines"])
        row["markdown"] = skill.current.markdown
        rows.append(row)
    return rows


def _cosines(embed: Any, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    if not left or not right:
        return np.zeros((len(left), len(right)))
    vectors = embed([*left, *right])
    return vectors[: len(left)] @ vectors[len(left) :].T


def summary(rows: Sequence[dict[str, Any]], split: str) -> dict[str, float]:
    """Means over the gold skills of one split."""
    chosen = [r for r in rows if r["split"] == split]

    def mean(key: str) -> float:
        values = [r[key] for r in chosen if key in r]
        return round(float(np.mean(values)), 3) if values else 0.0

    return {
        "steps": mean("steps_recall"),
        "prefs": mean("preferences_recall"),
        "lessons": mean("lessons_recall"),
        "precision": mean("precision"),
        "copied": mean("copy_rate"),
        "foreign": float(sum(len(r.get("noise", [])) for r in chosen)),
        "examples": mean("structured"),
        "missing": float(sum(bool(r.get("missing")) for r in chosen)),
    }


def run(data: Path, quick: bool, progress: Progress) -> list[Result]:
    """Score the dev set's skills (needs no public data: `data` and `quick` are not used)."""
    del data, quick
    memory, served, said = build(progress)
    try:
        rows = score(memory, served, said)
    finally:
        memory.close()
    results = []
    for split in SPLITS:
        results.append(
            Result(
                "skills",
                f"dev set gold skills ({split})",
                "memskill",
                "ours",
                summary(rows, split),
                note=(
                    "recall of steps / prefs / lessons; share of items copied from the user; items of "
                    "another task; share of structured examples. Targets: steps ≥ .7, prefs ≥ .85, "
                    "copied ≤ .33, foreign 0, examples 1"
                ),
                extra={
                    "rows": [
                        {k: v for k, v in r.items() if k != "markdown"} for r in rows if r["split"] == split
                    ]
                },
            )
        )
    return results

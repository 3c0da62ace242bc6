"""Stage `unseen` of `memskill bench quality`: skills written from real task dialogues nobody wrote
for memskill, checked for what an agent loading them needs.

The dialogue-act sets hold real users' turns of SGD (EN: restaurants, flights, events, …) and CrossWOZ
(ZH: hotels, restaurants, sights, taxis in Beijing) with the system's reply before each. Each dialogue
is sent as one user's conversation, turn by turn. There are no gold skills for them, so every skill is
checked for properties that need none, each a share of items (lower is better unless said; the key in
the report in brackets), beside the skills per dialogue (`skills`):

- **details as preferences** (`details`): a User Preferences item that names a value of this one occasion: a
  digit, a date or clock time, or a proper name said in the dialogue ("Make it for 4 people", "评分是
  4.5分以上的景点没"). A standing preference names none of them; the count of records that agree with
  an item, written after it ("（2 次确认）"), is not part of it.
- **questions as preferences** (`questions`): a preference that asks something ("地址在哪", "Is it cheap?").
- **assistant copies** (`copies`): a procedure item that repeats a sentence of the assistant that asks nothing
  (the offer "推荐您去故宫餐厅用餐" is not a step; its questions may be asked first).
- **names with entities** (`named`): skills whose name or description holds a proper name of the dialogue
  ("look-villa-romano").
- **hashed names** (`hashed`): skills named by a hash of their request (`task-3f9a1c`), which tells an agent
  nothing about when to load them.
- **3–8 steps** (`steps_3_8`, higher is better): skills whose procedure has three to eight steps.

Splits follow the data's README: `tune` is SGD dev and CrossWOZ val, `test` SGD test and CrossWOZ test.
"""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from memskill.bench.report import Progress, Result
from memskill.skillfile import parse

FILES = {
    ("tune", "en"): "sgd-user-turns-dev.jsonl.gz",
    ("tune", "zh"): "crosswoz-user-turns-val.jsonl.gz",
    ("test", "en"): "sgd-user-turns-test.jsonl.gz",
    ("test", "zh"): "crosswoz-user-turns-test.jsonl.gz",
}
DIALOGUES = 40
"""Dialogues per split and language (the first ones of at least `MIN_TURNS` user turns, in file order)."""
QUICK_DIALOGUES = 8
MIN_TURNS = 4
_ASKS_ZH = re.compile(r"[?？]|[吗呢没哪]\W*$|多少|在哪|哪[里儿个家些]|什么|几[点个天]|怎么样")
_ASKS_EN = re.compile(
    r"\?|^(?:what|where|when|which|who|how|is|are|does|do|can|could|will|would)\b", re.IGNORECASE
)
_DETAIL = re.compile(r"\d")
_HASHED = re.compile(r"task-[0-9a-f]{6}(?:-\d+)?")


def dialogues(path: Path, count: int) -> Iterator[list[dict[str, str]]]:
    """The first `count` dialogues of a dialogue-act file with `MIN_TURNS` user turns, as messages."""
    turns: dict[str, list[dict[str, Any]]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            turns.setdefault(row["dialogue_id"], []).append(row)
    sent = 0
    for rows in turns.values():
        if len(rows) < MIN_TURNS:
            continue
        messages: list[dict[str, str]] = []
        for row in sorted(rows, key=lambda r: int(r["turn"])):
            if row["system_before"]:
                messages.append({"role": "assistant", "content": row["system_before"]})
            messages.append({"role": "user", "content": row["utterance"]})
        yield messages
        sent += 1
        if sent >= count:
            return


def asks(text: str) -> bool:
    """Whether an item asks something instead of saying what the user wants."""
    return bool((_ASKS_ZH if re.search(r"[\u4e00-\u9fff]", text) else _ASKS_EN).search(text.strip()))


def names_detail(text: str, names: set[str]) -> bool:
    """Whether an item names a value of one occasion: a digit, a date or time, or a name said."""
    from memskill.generalise import names_a_date

    lowered = text.lower()
    return bool(_DETAIL.search(text)) or names_a_date(text) or any(n.lower() in lowered for n in names)


def repeats(item: str, sentences: Sequence[str]) -> bool:
    """Whether an item holds a whole sentence of at least eight characters from `sentences`."""
    compact = re.sub(r"[\W_]+", "", item.lower())
    for sentence in sentences:
        core = re.sub(r"[\W_]+", "", sentence.lower())
        if len(core) >= 8 and core in compact:
            return True
    return False


def check(markdown: str, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The properties of one SKILL.md written from `messages`."""
    from memskill.extract.prose import split_sentences
    from memskill.generalise import names_a_value, names_in
    from memskill.synthesize import without_support

    document = parse(markdown)
    said = " ".join(m["content"] for m in messages)
    # Proper names: a capitalised word the dialogue never writes in lower case ("Napa", not
    # "Restaurant" at the start of a sentence); in Chinese, the places, organisations and people jieba finds.
    lowered = set(re.findall(r"[a-z]+", said))
    names = {
        n
        for n in names_in(said) | {w for m in messages for w in names_in(m["content"])}
        if (n.lower() not in lowered if n.isascii() else names_a_value(n))
    }
    replies = [
        s for m in messages if m["role"] == "assistant" for s in split_sentences(m["content"]) if not asks(s)
    ]
    heading = f"{document.name.replace('-', ' ')} {document.description}".lower()
    preferences = [without_support(p) for p in document.preferences]  # its count is no value of the dialogue
    return {
        "name": document.name,
        "steps": len(document.procedure),
        "preferences": len(preferences),
        "details": [p for p in preferences if names_detail(p, names)],
        "questions": [p for p in preferences if asks(p)],
        "copies": [s for s in document.procedure if repeats(s, replies)],
        "entity_name": sorted(n for n in names if n.lower() in heading),
    }


def run_split(data: Path, split: str, count: int, progress: Progress) -> list[dict[str, Any]]:
    """Every skill written from `count` dialogues per language of `split`, with its properties."""
    from memskill.config import Settings
    from memskill.demo import send
    from memskill.engine import Memory
    from memskill.models import Scope

    rows: list[dict[str, Any]] = []
    memory = Memory(Path(tempfile.mkdtemp(prefix="memskill-bench-unseen-")), settings=Settings(workers=0))
    try:
        for lang in ("en", "zh"):
            path = data / "dialogue-acts" / FILES[split, lang]
            if not path.is_file():
                continue
            for index, messages in enumerate(dialogues(path, count)):
                user = f"{split}-{lang}-{index}"
                for _ in send(memory, user, "c", messages):
                    pass
                skills = memory.store.list_skills(Scope(user))
                if not skills:
                    rows.append({"lang": lang, "dialogue": index, "skill": None})
                for skill in skills:
                    row = check(skill.current.markdown, messages)
                    rows.append({"lang": lang, "dialogue": index, "skill": row["name"], **row})
                    rows[-1]["markdown"] = skill.current.markdown
                progress(f"unseen: {split} {lang} dialogues", index + 1, count)
    finally:
        memory.close()
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Shares over the skills (and their items) of some rows."""
    skills = [r for r in rows if r["skill"]]
    dialogues_seen = {(r["lang"], r["dialogue"]) for r in rows}
    preferences = sum(r["preferences"] for r in skills)
    steps = sum(r["steps"] for r in skills)

    def share(part: float, whole: float) -> float:
        return round(part / whole, 3) if whole else 0.0

    return {
        "skills": share(len(skills), len(dialogues_seen)),
        "details": share(sum(len(r["details"]) for r in skills), preferences),
        "questions": share(sum(len(r["questions"]) for r in skills), preferences),
        "copies": share(sum(len(r["copies"]) for r in skills), steps),
        "named": share(sum(bool(r["entity_name"]) for r in skills), len(skills)),
        "hashed": share(sum(bool(_HASHED.fullmatch(r["name"])) for r in skills), len(skills)),
        "steps_3_8": share(sum(3 <= r["steps"] <= 8 for r in skills), len(skills)),
    }


def run(data: Path, quick: bool, progress: Progress) -> list[Result]:
    """The properties of skills from `tune` and `test` dialogues, per language."""
    results: list[Result] = []
    count = QUICK_DIALOGUES if quick else DIALOGUES
    for split in ("tune", "test"):
        rows = run_split(data, split, count, progress)
        for lang in ("en", "zh"):
            chosen = [r for r in rows if r["lang"] == lang]
            if not chosen:
                continue
            source = "SGD" if lang == "en" else "CrossWOZ"
            results.append(
                Result(
                    "unseen",
                    f"{source} dialogues ({split}, {len({r['dialogue'] for r in chosen})})",
                    "memskill",
                    "ours",
                    summary(chosen),
                    note="shares; lower is better but steps_3_8 (bench/unseen.py)",
                    extra={"rows": [{k: v for k, v in r.items() if k != "markdown"} for r in chosen]},
                )
            )
    return results

"""Preference extraction on PrefEval's explicit preferences: recall of the stated preference, and noise.

- **Histories.** Each PrefEval item (topic, preference) becomes one user's history in a fresh `Memory`
  (its own temporary folder, the offline embedder, `async_mode=False`): the preference conversation
  (the user's preference message, then a fixed acknowledgement, as in PrefEval where the preference
  opens the history) placed at a random position among k filler conversations from
  `filtered_inter_turns.json`. The fillers and the position are drawn by a generator seeded with the
  item and k, so every run builds the same histories. Each conversation is one `add_message` call.
- **Matching.** The gold preference is found when an activated stored preference lists the preference
  message among its sources. Storing every sentence would pass this rule, so every row also reports
  the preferences stored per history (`prefs/hist`) and those taken from other messages (`other/hist`).
- **Noise.** Histories of filler conversations only: stored preferences per filler conversation
  (`noise`), and the share of filler conversations that yielded at least one (`any/conv`).
- **Baselines**, computed on the same histories: every user sentence is a preference; a user sentence
  with a liking word (prefer, like, love, enjoy, hate, dislike, avoid, favourite) is a preference.
- **Split.** PrefEval has no tuning split. The extraction rules were developed on the items of the
  topics at even positions of the sorted topic list (`dev_topics`, fixed before any error analysis);
  recall is reported on those (`dev`) and on the other, held-out topics (`held-out`) separately.
- **Sizes** (in each data set's name). Full: all 1,000 items without fillers, a fixed-seed sample of
  200 items with 5 and with 10 fillers, 100 filler-only histories. Quick: 40, 10 and 5, with fillers
  drawn from the 10 shortest conversations, since embedding the long ones dominates a short run.

No published LLM-free anchor exists for this measure.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memskill.bench.report import Progress, Result
from memskill.config import Settings
from memskill.engine import Memory
from memskill.errors import InvalidRequest
from memskill.extract import split_sentences
from memskill.models import MemoryItem, Scope
from memskill.providers.embedders import Embedder, OfflineEmbedder

STAGE = "preferences"
SEED = 20250213
USER = "prefeval-user"
PREFERENCE_CONVERSATION = "preference"
ACKNOWLEDGEMENT = "Thanks for telling me. I will keep that in mind."
FILLER_COUNTS = (0, 5, 10)
NOISE_FILLERS = 10
NO_ANCHOR = "no published LLM-free anchor"
EMBEDDING_CACHE = 20_000
"""Texts whose vectors are kept (a full run embeds about 5,000 distinct texts; fillers recur)."""


@dataclass(frozen=True)
class Sizes:
    """How many items and histories a run measures."""

    without_fillers: int
    """Items measured with 0 fillers (the whole set when at least its size)."""
    with_fillers: int
    """Items (a fixed-seed sample) measured with 5 and 10 fillers."""
    noise_histories: int
    """Filler-only histories of `NOISE_FILLERS` conversations."""
    filler_pool: int | None = None
    """Draw fillers only from this many of the shortest filler conversations (None: from all)."""


FULL = Sizes(without_fillers=1000, with_fillers=200, noise_histories=100)
QUICK = Sizes(without_fillers=40, with_fillers=10, noise_histories=5, filler_pool=NOISE_FILLERS)
"""Quick: embedding the long filler conversations for the first time dominates, so only the shortest."""


@dataclass(frozen=True)
class Item:
    topic: str
    index: int
    preference: str
    dev: bool
    """Whether the item's topic belongs to the development split."""


@dataclass(frozen=True)
class Conversation:
    id: str
    messages: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Outcome:
    """What one history left in memory."""

    found: bool
    """Whether the gold preference was stored (the matching rule)."""
    stored: int
    """Activated preferences stored for the history."""
    other: int
    """Of them, those not taken from the preference message."""
    conversations: int
    """Filler conversations in the history."""
    conversations_with_any: int
    """Filler conversations from which at least one stored preference was taken."""


# ================================================================ data


def dev_topics(topics: Sequence[str]) -> frozenset[str]:
    """The development split: the topics at even positions (0, 2, …) of the sorted topic list."""
    return frozenset(sorted(topics)[0::2])


def load_items(folder: Path) -> list[Item]:
    """Every explicit preference, by topic (sorted) and position in its file."""
    files = sorted((folder / "explicit_preference").glob("*.json"))
    if not files:
        raise InvalidRequest(f"no PrefEval explicit preferences in {folder / 'explicit_preference'}.")
    dev = dev_topics([path.stem for path in files])
    items = []
    for path in files:
        for index, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            items.append(Item(path.stem, index, str(row["preference"]), path.stem in dev))
    return items


def load_fillers(folder: Path) -> list[Conversation]:
    """The filler conversations, user and assistant turns only."""
    rows = json.loads((folder / "filtered_inter_turns.json").read_text(encoding="utf-8"))
    fillers = []
    for number, row in enumerate(rows):
        messages = tuple(
            {"role": str(turn["role"]), "content": str(turn["content"])}
            for turn in row["conversation"]
            if turn.get("role") in ("user", "assistant") and str(turn.get("content", "")).strip()
        )
        fillers.append(Conversation(f"filler-{number}", messages))
    return fillers


def shortest(fillers: Sequence[Conversation], count: int | None) -> list[Conversation]:
    """The `count` filler conversations with the least text, in their original order (all if None)."""
    if count is None or count >= len(fillers):
        return list(fillers)
    lengths = {c.id: sum(len(m["content"]) for m in c.messages) for c in fillers}
    kept = set(sorted(lengths, key=lambda key: (lengths[key], key))[:count])
    return [c for c in fillers if c.id in kept]


def preference_conversation(item: Item) -> Conversation:
    return Conversation(
        PREFERENCE_CONVERSATION,
        ({"role": "user", "content": item.preference}, {"role": "assistant", "content": ACKNOWLEDGEMENT}),
    )


def build_history(
    item: Item | None, fillers: Sequence[Conversation], count: int, seed: str
) -> list[Conversation]:
    """`count` distinct fillers in random order, with the item's conversation at a random position."""
    generator = random.Random(f"{SEED}/{seed}/{count}")
    history = generator.sample(list(fillers), min(count, len(fillers)))
    if item is not None:
        history.insert(generator.randint(0, len(history)), preference_conversation(item))
    return history


def sample(items: Sequence[Item], size: int, salt: str) -> list[Item]:
    """A fixed-seed sample of `size` items in their original order (all of them if fewer)."""
    if size >= len(items):
        return list(items)
    chosen = set(random.Random(f"{SEED}/{salt}").sample(range(len(items)), size))
    return [item for index, item in enumerate(items) if index in chosen]


# ================================================================ measuring


def gold_found(stored: Sequence[MemoryItem], message_id: str) -> bool:
    """The matching rule: an activated stored preference lists the preference message among its sources."""
    return any(item.status == "activated" and message_id in item.sources for item in stored)


def summarise(outcome_of: Sequence[Outcome]) -> dict[str, float]:
    """Recall and stored-preference counts over histories that hold a preference."""
    total = len(outcome_of) or 1
    return {
        "recall": sum(o.found for o in outcome_of) / total,
        "prefs/hist": sum(o.stored for o in outcome_of) / total,
        "other/hist": sum(o.other for o in outcome_of) / total,
    }


def noise_rates(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Over filler conversations: stored preferences per conversation, and the share yielding any."""
    conversations = sum(o.conversations for o in outcomes) or 1
    return {
        "noise": sum(o.other for o in outcomes) / conversations,
        "any/conv": sum(o.conversations_with_any for o in outcomes) / conversations,
    }


def ingest(history: Sequence[Conversation], embedder: Embedder) -> Outcome:
    """Feed a history through a fresh `Memory` and read back its activated preferences."""
    with tempfile.TemporaryDirectory(prefix="memskill-prefeval-") as folder:
        memory = Memory(settings=Settings(data_dir=Path(folder), workers=0), embedder=embedder)
        try:
            for conversation in history:
                memory.add_message(
                    user_id=USER,
                    conversation_id=conversation.id,
                    messages=[dict(m) for m in conversation.messages],
                    async_mode=False,
                )
            stored = memory.store.list_items(Scope(USER), ["preference"])
            gold = [
                m.id
                for m in memory.store.recent_messages(USER, PREFERENCE_CONVERSATION, 10)
                if m.role == "user"
            ]
        finally:
            memory.close()
    found = bool(gold) and gold_found(stored, gold[0])
    other = [item for item in stored if not (gold and gold[0] in item.sources)]
    fillers = [c.id for c in history if c.id != PREFERENCE_CONVERSATION]
    return Outcome(
        found=found,
        stored=len(stored),
        other=len(other),
        conversations=len(fillers),
        conversations_with_any=len({item.conversation_id for item in other} & set(fillers)),
    )


_LIKING = re.compile(
    r"\b(?:prefer\w*|like[sd]?|love[sd]?|enjoy\w*|hate[sd]?|dislike[sd]?|avoid\w*|favou?rite)\b"
)


def user_sentences(conversation: Conversation) -> list[str]:
    return [s for m in conversation.messages if m["role"] == "user" for s in split_sentences(m["content"])]


def baseline_outcome(history: Sequence[Conversation], liking_only: bool) -> Outcome:
    """The outcome if every user sentence (or every one with a liking word) were stored as a preference."""

    def picked(conversation: Conversation) -> int:
        sentences = user_sentences(conversation)
        return sum(1 for s in sentences if _LIKING.search(s.lower())) if liking_only else len(sentences)

    counts = {conversation.id: picked(conversation) for conversation in history}
    gold = counts.pop(PREFERENCE_CONVERSATION, 0)
    return Outcome(
        found=gold > 0,
        stored=gold + sum(counts.values()),
        other=sum(counts.values()),
        conversations=len(counts),
        conversations_with_any=sum(1 for n in counts.values() if n),
    )


# ================================================================ the stage


_BASELINES = (("every user sentence", False), ("sentence with a liking word", True))


def _split_recall(items: Sequence[Item], outcomes: Sequence[Outcome]) -> dict[str, float]:
    def recall(dev: bool) -> float:
        part = [o for item, o in zip(items, outcomes) if item.dev == dev]
        return sum(o.found for o in part) / (len(part) or 1)

    return {"dev": recall(True), "held-out": recall(False)}


def _counts(items: Sequence[Item], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    dev = [o for item, o in zip(items, outcomes) if item.dev]
    held = [o for item, o in zip(items, outcomes) if not item.dev]
    return {
        "items": len(items),
        "found": sum(o.found for o in outcomes),
        "dev_found": sum(o.found for o in dev),
        "dev_items": len(dev),
        "held_out_found": sum(o.found for o in held),
        "held_out_items": len(held),
    }


def run(
    data: Path,
    quick: bool,
    progress: Progress,
    embedder: Embedder | None = None,
    sizes: Sizes | None = None,
) -> list[Result]:
    """Recall with 0, 5 and 10 fillers and the filler-only noise, beside the baselines and targets.

    `embedder` and `sizes` default to the offline embedder and the quick or full sizes.
    """
    folder = data / "prefeval"
    items = load_items(folder)
    sizes = sizes or (QUICK if quick else FULL)
    fillers = shortest(load_fillers(folder), sizes.filler_pool)
    pool = "" if sizes.filler_pool is None else f" (from the {len(fillers)} shortest)"
    embedder = embedder or OfflineEmbedder(cache_size=EMBEDDING_CACHE)
    sampled = sample(items, sizes.with_fillers, "fillers")
    results: list[Result] = []
    for count in FILLER_COUNTS:
        chosen = sample(items, sizes.without_fillers, "zero") if count == 0 else sampled
        label = f"preferences, {count} fillers"
        started = time.monotonic()
        outcomes: list[Outcome] = []
        histories = []
        for number, item in enumerate(chosen):
            history = build_history(item, fillers, count, f"{item.topic}/{item.index}")
            histories.append(history)
            outcomes.append(ingest(history, embedder))
            progress(label, number + 1, len(chosen))
        seconds = round(time.monotonic() - started, 1)
        dataset = f"PrefEval explicit, {len(chosen)} items, {count} fillers{pool if count else ''}"
        split = _split_recall(chosen, outcomes)
        results.append(
            Result(
                STAGE,
                dataset,
                "memskill",
                "ours",
                {**summarise(outcomes), **split},
                note=f"{seconds} s",
                extra={**_counts(chosen, outcomes), "seconds": seconds, "seed": SEED},
            )
        )
        for name, liking_only in _BASELINES:
            base = [baseline_outcome(history, liking_only) for history in histories]
            results.append(
                Result(
                    STAGE,
                    dataset,
                    name,
                    "baseline",
                    {**summarise(base), **_split_recall(chosen, base)},
                    extra=_counts(chosen, base),
                )
            )
        target = {0: 0.9, 10: 0.8}.get(count)
        if target is not None:
            results.append(Result(STAGE, dataset, "target", "target", {"recall": target}, note=NO_ANCHOR))
    results += _noise(fillers, sizes.noise_histories, embedder, progress, pool)
    return results


def _noise(
    fillers: Sequence[Conversation], histories: int, embedder: Embedder, progress: Progress, pool: str
) -> list[Result]:
    started = time.monotonic()
    built = [build_history(None, fillers, NOISE_FILLERS, f"noise/{n}") for n in range(histories)]
    outcomes = []
    for number, history in enumerate(built):
        outcomes.append(ingest(history, embedder))
        progress("preferences, filler-only noise", number + 1, histories)
    seconds = round(time.monotonic() - started, 1)
    dataset = f"PrefEval fillers only, {histories} histories x {NOISE_FILLERS} conversations{pool}"
    results = [
        Result(
            STAGE,
            dataset,
            "memskill",
            "ours",
            noise_rates(outcomes),
            note=f"{seconds} s; noise = stored preferences per filler conversation",
            extra={
                "histories": histories,
                "stored": sum(o.stored for o in outcomes),
                "conversations": sum(o.conversations for o in outcomes),
                "seconds": seconds,
                "seed": SEED,
            },
        )
    ]
    for name, liking_only in _BASELINES:
        base = [baseline_outcome(history, liking_only) for history in built]
        results.append(Result(STAGE, dataset, name, "baseline", noise_rates(base)))
    results.append(Result(STAGE, dataset, "target (at most)", "target", {"noise": 0.1}, note=NO_ANCHOR))
    return results

"""The preference benchmark: its matching rule, its noise measure, a run on a tiny PrefEval-shaped folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memskill.bench import preferences as bench
from memskill.bench.preferences import Conversation, Item, Outcome, Sizes
from memskill.bench.report import Result, table
from memskill.errors import InvalidRequest
from memskill.models import MemoryItem
from memskill.providers.embedders import HashingEmbedder


def stored(sources: tuple[str, ...], status: str = "activated", conversation: str = "c") -> MemoryItem:
    return MemoryItem(
        id=f"pref_{'_'.join(sources)}_{status}",
        user_id="u",
        kind="preference",
        key="general",
        text="I prefer aisle seats",
        conversation_id=conversation,
        status=status,  # type: ignore[arg-type]
        sources=sources,
    )


# ---------------------------------------------------------------- matching and counting


def test_gold_is_found_only_through_an_activated_preference_that_cites_the_message() -> None:
    assert bench.gold_found([stored(("m1",)), stored(("m9", "gold"))], "gold")
    assert not bench.gold_found([stored(("m1",)), stored(("m2",))], "gold")
    assert not bench.gold_found([stored(("gold",), status="archived")], "gold")
    assert not bench.gold_found([], "gold")


def test_recall_and_stored_counts_average_over_histories() -> None:
    outcomes = [
        Outcome(found=True, stored=3, other=2, conversations=5, conversations_with_any=1),
        Outcome(found=False, stored=1, other=1, conversations=5, conversations_with_any=1),
    ]
    assert bench.summarise(outcomes) == {"recall": 0.5, "prefs/hist": 2.0, "other/hist": 1.5}


def test_noise_counts_preferences_per_filler_conversation() -> None:
    outcomes = [
        Outcome(found=False, stored=2, other=2, conversations=10, conversations_with_any=1),
        Outcome(found=False, stored=0, other=0, conversations=10, conversations_with_any=0),
    ]
    assert bench.noise_rates(outcomes) == {"noise": 0.1, "any/conv": 0.05}
    assert bench.noise_rates([]) == {"noise": 0.0, "any/conv": 0.0}


def test_dev_topics_are_every_other_sorted_topic() -> None:
    assert bench.dev_topics(["travel", "books", "games", "pets"]) == {"books", "pets"}


FILLERS = [Conversation(f"filler-{n}", ({"role": "user", "content": f"Question {n}."},)) for n in range(8)]
ITEM = Item("travel", 0, "I prefer aisle seats.", dev=True)


def test_histories_are_reproducible_and_hold_the_preference_once() -> None:
    history = bench.build_history(ITEM, FILLERS, 5, "travel/0")
    assert history == bench.build_history(ITEM, FILLERS, 5, "travel/0")
    ids = [conversation.id for conversation in history]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert ids.count(bench.PREFERENCE_CONVERSATION) == 1
    positions = {
        [c.id for c in bench.build_history(ITEM, FILLERS, 5, f"travel/{n}")].index("preference")
        for n in range(30)
    }
    assert len(positions) > 1
    assert [c.id for c in bench.build_history(ITEM, FILLERS, 0, "x")] == ["preference"]
    assert all(c.id != "preference" for c in bench.build_history(None, FILLERS, 5, "noise/0"))


def test_a_filler_pool_keeps_the_shortest_conversations_in_order() -> None:
    long = Conversation("filler-long", ({"role": "user", "content": "x" * 500},))
    pool = bench.shortest([FILLERS[0], long, FILLERS[1], FILLERS[2]], 3)
    assert [c.id for c in pool] == ["filler-0", "filler-1", "filler-2"]
    assert bench.shortest(FILLERS, None) == FILLERS


def test_baselines_store_every_sentence_or_every_liking_sentence() -> None:
    history = [
        bench.preference_conversation(Item("t", 0, "I prefer tea. It is calm.", dev=True)),
        Conversation("filler-0", ({"role": "user", "content": "Fix my code. I love Python!"},)),
        Conversation("filler-1", ({"role": "user", "content": "What time is it?"},)),
    ]
    every = bench.baseline_outcome(history, liking_only=False)
    assert (every.found, every.stored, every.other, every.conversations_with_any) == (True, 5, 3, 2)
    liking = bench.baseline_outcome(history, liking_only=True)
    assert (liking.found, liking.stored, liking.other, liking.conversations_with_any) == (True, 2, 1, 1)


def test_sample_is_fixed_and_keeps_the_order() -> None:
    items = [Item("t", n, f"p{n}", dev=True) for n in range(50)]
    chosen = bench.sample(items, 10, "salt")
    assert chosen == bench.sample(items, 10, "salt")
    assert len(chosen) == 10 and chosen == sorted(chosen, key=lambda item: item.index)
    assert bench.sample(items, 80, "salt") == items


# ---------------------------------------------------------------- a run on a tiny PrefEval-shaped folder


def write_prefeval(root: Path) -> None:
    folder = root / "prefeval"
    (folder / "explicit_preference").mkdir(parents=True)
    topics = {
        "a_travel": ["I prefer aisle seats on long flights.", "Tell me about the weather in Rome."],
        "b_food": ["I can't stand spicy food.", "I have a severe sesame allergy."],
    }
    for topic, preferences in topics.items():
        rows = [{"preference": p, "question": "Any ideas?", "explanation": "…"} for p in preferences]
        (folder / "explicit_preference" / f"{topic}.json").write_text(json.dumps(rows), encoding="utf-8")
    conversations = [
        {
            "conversation_id": f"c{n}",
            "conversation": [
                {"role": "user", "content": f"How do I sort a list of {n} numbers in Python?"},
                {"role": "assistant", "content": "Use sorted(numbers)."},
            ],
        }
        for n in range(9)
    ]
    conversations.append(
        {
            "conversation_id": "c-pref",
            "conversation": [
                {"role": "user", "content": "I love long walks on the beach."},
                {"role": "assistant", "content": "That sounds lovely."},
            ],
        }
    )
    (folder / "filtered_inter_turns.json").write_text(json.dumps(conversations), encoding="utf-8")


def by_method(results: list[Result], dataset: str) -> dict[str, Result]:
    return {result.method: result for result in results if result.dataset == dataset}


def test_run_on_a_tiny_folder(tmp_path: Path) -> None:
    write_prefeval(tmp_path / "data")
    calls: list[tuple[str, int, int]] = []
    results = bench.run(
        tmp_path / "data",
        quick=True,
        progress=lambda label, done, total: calls.append((label, done, total)),
        embedder=HashingEmbedder(),
        sizes=Sizes(without_fillers=10, with_fillers=10, noise_histories=2),
    )
    assert {result.stage for result in results} == {"preferences"}
    zero = by_method(results, "PrefEval explicit, 4 items, 0 fillers")
    ours = zero["memskill"]
    assert ours.kind == "ours"
    assert ours.metrics["recall"] == 0.75  # the weather question states no preference
    assert ours.metrics["dev"] == 0.5 and ours.metrics["held-out"] == 1.0
    assert ours.metrics["other/hist"] == 0.0
    assert ours.extra["found"] == 3 and ours.extra["dev_items"] == 2
    assert zero["every user sentence"].metrics["recall"] == 1.0
    assert zero["target"].kind == "target" and zero["target"].metrics == {"recall": 0.9}
    ten = by_method(results, "PrefEval explicit, 4 items, 10 fillers")
    assert ten["memskill"].metrics["recall"] == 0.75
    assert ten["memskill"].metrics["other/hist"] == 1.0  # the walks on the beach, in every history
    assert ten["target"].metrics == {"recall": 0.8}
    assert "target" not in by_method(results, "PrefEval explicit, 4 items, 5 fillers")
    noise = by_method(results, "PrefEval fillers only, 2 histories x 10 conversations")
    assert noise["memskill"].metrics == {"noise": 0.1, "any/conv": 0.1}
    assert noise["every user sentence"].metrics == {"noise": 1.0, "any/conv": 1.0}
    assert noise["target (at most)"].metrics == {"noise": 0.1}
    assert ("preferences, filler-only noise", 2, 2) in calls
    assert "PrefEval explicit, 4 items, 0 fillers" in table(results)


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "prefeval").mkdir()
    with pytest.raises(InvalidRequest, match="no PrefEval explicit preferences"):
        bench.run(tmp_path, quick=True, progress=lambda *_: None, embedder=HashingEmbedder())

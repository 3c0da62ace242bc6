"""Stage `unseen` of `bench quality`: skills of real dialogues, checked without gold skills."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from memskill.bench import unseen
from memskill.bench.report import no_progress


def test_the_unseen_stage_checks_skills_of_dialogue_act_files(tmp_path: Path) -> None:
    """`bench quality --only unseen` on a folder with one SGD-style file: it sends the dialogue and
    reports the shares it promises."""
    acts = tmp_path / "dialogue-acts"
    acts.mkdir()
    exchange = [
        ("", "I want to book a table at a restaurant."),
        ("Sure. Which city and which restaurant?", "Sino in San Jose."),
        ("What time would you like the table for?", "Try for 12:45 please."),
        ("Please confirm: a table for 2 at Sino in San Jose today at 12:45 pm.", "Yes, that works."),
        ("Your table has been booked.", "What is their phone number?"),
        ("Their phone number is 408-555-0134.", "Thanks, that's all."),
    ]
    rows = [
        {"dialogue_id": "d1", "turn": 2 * i, "system_before": before, "utterance": said}
        for i, (before, said) in enumerate(exchange)
    ]
    with gzip.open(acts / unseen.FILES["tune", "en"], "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    found = unseen.run_split(tmp_path, "tune", 1, no_progress)
    assert [row["skill"] for row in found] == ["restaurant-booking"]
    summary = unseen.summary(found)
    assert summary["skills"] == 1.0
    assert summary["details"] == 0.0 and summary["named"] == 0.0
    assert unseen.asks("地址在哪") and unseen.asks("Is it cheap?") and not unseen.asks("优先安排文化景点")


def test_the_checks_catch_what_they_name() -> None:
    """A skill that copies an offer, keeps a picked time and names the restaurant fails each check."""
    messages = [
        {"role": "user", "content": "Find me a table at Villa Romano."},
        {"role": "assistant", "content": "I recommend the terrace table at Villa Romano tonight."},
        {"role": "user", "content": "Try for 12:45."},
    ]
    markdown = """---
name: look-villa-romano
description: How this user wants tasks like "Look at Villa Romano" done.
---

# Look at Villa Romano

## Procedure

1. I recommend the terrace table at Villa Romano tonight.

## User Preferences

- Try for 12:45
- Is it open on Mondays?
- A quiet table (confirmed 2×)
"""
    found = unseen.check(markdown, messages)
    # The count of records that agree with an item is no value of the dialogue.
    assert found["details"] == ["Try for 12:45"] and found["preferences"] == 3
    assert found["questions"] == ["Is it open on Mondays?"]
    assert len(found["copies"]) == 1 and found["entity_name"] == ["Romano", "Villa"]

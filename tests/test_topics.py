"""Preference topics: the subject a preference is compared within (`memskill.topics`)."""

from __future__ import annotations

import pytest

from memskill.topics import TOPICS, topic_of

NAMES = {name for name, _ in TOPICS}


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("每次规划行程前先帮我查一下天气和温度", "weather"),  # names the trip once, the weather twice
        ("别走回头路", "pace"),
        ("逛街对我来说纯属浪费时间", "sightseeing"),
        ("回答控制在500字以内", "length"),
        ("Always check the forecast before planning the trip", "weather"),
        ("I prefer aisle seats on long flights", "transport"),
    ],
)
def test_a_preference_gets_the_row_it_names_most(text: str, topic: str) -> None:
    assert topic_of(text) == topic


def test_every_topic_row_has_a_name_of_its_own() -> None:
    assert len(NAMES) == len(TOPICS)

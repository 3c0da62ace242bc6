"""Preference topics: the subject a preference is compared within (`memskill.topics`)."""

from __future__ import annotations

import pytest

from memskill.engine import Memory
from memskill.topics import OTHER, TOPICS, public_topic, topic_of

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


def test_callers_see_only_the_documented_topics(fast_memory: Memory) -> None:
    """A preference that fits no row is grouped by its noun inside the store, but its `topic` in a
    search reply is `other` (it was the noun itself: "浪费", "花草")."""
    assert topic_of("阳台上的花草每周浇一次水就行") not in NAMES
    fast_memory.add_message(
        user_id="u",
        conversation_id="c",
        messages=[
            {"role": "user", "content": "我喜欢花草，阳台上的花草每周浇一次水就行。"},
            {"role": "assistant", "content": "好的，记住了。"},
        ],
        async_mode=False,
    )
    reply = fast_memory.search_memory(query="花草浇水", user_id="u", relativity=0)
    topics = {p["topic"] for p in reply["preference_detail_list"]}
    assert topics and topics <= NAMES | {OTHER}
    assert public_topic("weather") == "weather" and public_topic("浪费") == OTHER

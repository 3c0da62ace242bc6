from __future__ import annotations

import pytest

from memskill.errors import InvalidRequest
from memskill.filters import compile_filter
from memskill.models import MemoryItem

ITEM = MemoryItem(
    id="m1",
    user_id="u1",
    kind="fact",
    key="trip",
    text="成都",
    conversation_id="c1",
    tags=("travel", "2026"),
    payload={"memory_type": "UserMemory"},
    create_time=100,
    update_time=200,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, True),
        ({"tags": "travel"}, True),
        ({"tags": "work"}, False),
        ({"tags": {"in": ["work", "2026"]}}, True),
        ({"memory_type": "UserMemory", "conversation_id": "c1"}, True),
        ({"create_time": {"gte": 100, "lt": 150}}, True),
        ({"create_time": {"gt": 100}}, False),
        ({"or": [{"tags": "work"}, {"memory_key": "trip"}]}, True),
        ({"and": [{"tags": "travel"}, {"status": "archived"}]}, False),
        ({"conversation_id": {"ne": "c2"}}, True),
    ],
)
def test_filters_match(spec: object, expected: bool) -> None:
    assert compile_filter(spec)(ITEM) is expected


@pytest.mark.parametrize(
    "spec",
    [
        "tags",
        {"colour": "red"},
        {"tags": {"like": "x"}},
        {"and": []},
        {"create_time": {"gt": "soon"}},
        {"tags": {"in": "travel"}},
    ],
)
def test_bad_filters_say_what_is_wrong(spec: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        compile_filter(spec)
    assert "filter" in str(info.value)

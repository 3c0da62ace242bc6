from __future__ import annotations

import pytest

from memskill.config import Limits
from memskill.errors import IdTooLong, InvalidRequest, MissingField, PayloadTooLarge
from memskill.ingest import check_id, normalise_messages

LIMITS = Limits()


def test_openai_messages_with_parts_and_tool_calls_are_normalised() -> None:
    messages = normalise_messages(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "查一下"}, {"type": "text", "text": "成都天气"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}', "chat_time": 1767225600},
        ],
        "c1",
        "u1",
        LIMITS,
    )
    assert messages[0].content == "查一下\n成都天气"
    assert messages[1].tool_calls[0].name == "get_weather"
    assert messages[2].tool_call_id == "call_1"
    assert messages[2].chat_time == 1767225600000  # seconds are read as seconds
    assert len({m.id for m in messages}) == 3


def test_ids_are_stable_and_repeats_in_one_call_stay_distinct() -> None:
    raw = [{"role": "user", "content": "ok"}, {"role": "user", "content": "ok"}]
    first = normalise_messages(raw, "c1", "u1", LIMITS)
    again = normalise_messages(raw, "c1", "u1", LIMITS)
    assert [m.id for m in first] == [m.id for m in again]
    assert first[0].id != first[1].id
    other_user = normalise_messages(raw, "c1", "u2", LIMITS)
    assert other_user[0].id != first[0].id


def test_iso_chat_time_is_accepted() -> None:
    [message] = normalise_messages(
        [{"role": "user", "content": "hi", "chat_time": "2026-01-01T00:00:00Z"}], "c", "u", LIMITS
    )
    assert message.chat_time == 1767225600000


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, MissingField),
        ("hello", InvalidRequest),
        ([], InvalidRequest),
        ([{"content": "no role"}], MissingField),
        ([{"role": "robot", "content": "x"}], InvalidRequest),
        ([{"role": "user", "content": 42}], InvalidRequest),
        ([{"role": "user", "content": "   "}], InvalidRequest),
        ([{"role": "user", "content": "x", "chat_time": "yesterday"}], InvalidRequest),
        ([{"role": "user", "content": "x" * 40_000}], PayloadTooLarge),
        ([{"role": "user", "content": "x"}] * 201, PayloadTooLarge),
    ],
)
def test_bad_messages_raise_the_right_error(raw: object, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        normalise_messages(raw, "c", "u", LIMITS)
    assert str(info.value)  # every error says what is wrong


def test_ids_are_checked() -> None:
    with pytest.raises(MissingField):
        check_id("user_id", "", LIMITS)
    with pytest.raises(IdTooLong):
        check_id("user_id", "u" * 101, LIMITS)
    with pytest.raises(InvalidRequest):
        check_id("user_id", 7, LIMITS)
    assert check_id("agent_id", None, LIMITS, required=False) is None


@pytest.mark.parametrize("chat_time", [1e30, float("nan"), float("inf"), "99999999999999999999999", -5])
def test_chat_times_outside_the_calendar_are_refused(chat_time: object) -> None:
    with pytest.raises(InvalidRequest, match="chat_time"):
        normalise_messages([{"role": "user", "content": "hi", "chat_time": chat_time}], "c", "u", Limits())


def test_unpaired_surrogates_are_refused_before_storing() -> None:
    with pytest.raises(InvalidRequest, match="surrogate"):
        normalise_messages([{"role": "user", "content": "bad \ud800 text"}], "c", "u", Limits())
    with pytest.raises(InvalidRequest, match="surrogate"):
        check_id("user_id", "u\udfff", Limits())

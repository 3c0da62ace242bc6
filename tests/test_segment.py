from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from memskill.models import Message, Segment, ToolCall
from memskill.providers.embedders import HashingEmbedder, OfflineEmbedder
from memskill.segment import segment, segment_texts, title_for

HASHING = HashingEmbedder()


def user(text: str, at: int | None = None) -> Message:
    return Message(role="user", content=text, chat_time=at)


def assistant(text: str, at: int | None = None) -> Message:
    return Message(role="assistant", content=text, chat_time=at)


def assert_covers(segments: list[Segment], count: int) -> None:
    assert segments[0].start == 0 and segments[-1].end == count - 1
    for before, after in zip(segments, segments[1:]):
        assert after.start == before.end + 1
    assert all(s.start <= s.end and s.title for s in segments)


@given(st.lists(st.sampled_from(["user", "assistant", "tool", "system"]), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_segments_cover_every_message_in_order(roles: list[str]) -> None:
    words = ["weather", "flight", "hotel", "email", "invoice", "天气", "邮件", "行程"]
    messages = [Message(role=role, content=f"{words[i % 8]} {i}") for i, role in enumerate(roles)]  # type: ignore[arg-type]
    assert_covers(segment(messages, HASHING), len(messages))


def test_empty_and_single() -> None:
    assert segment([], HASHING) == []
    assert segment([user("hi")], HASHING) == [Segment(0, 0, title_for([user("hi")]))]


TRIP = [
    user("帮我规划一下成都五天的旅行行程，想多看看博物馆"),
    assistant("第一天去武侯祠和锦里，第二天杜甫草堂和宽窄巷子，第三天金沙遗址博物馆……"),
    user("第三天能不能把三星堆也加上？"),
    assistant("可以，第三天上午去三星堆博物馆，下午回市区逛金沙遗址。"),
]
EMAIL = [
    user("帮我写一封请假邮件给我们经理，下周三请一天假"),
    assistant("王经理您好：我因个人事务，需于下周三请假一天，工作已交接给同事……"),
    user("语气再正式一点，控制在一百字以内"),
    assistant("尊敬的王经理：本人因私事拟于下周三请假一天，望批准。"),
]


def test_a_switch_with_a_cue_word_splits(offline_embedder: OfflineEmbedder) -> None:
    cued = [*TRIP, Message(role="user", content="另外，" + EMAIL[0].content), *EMAIL[1:]]
    segments = segment(cued, offline_embedder)
    assert [(s.start, s.end) for s in segments] == [(0, 3), (4, 7)]


def test_a_switch_without_a_cue_splits(offline_embedder: OfflineEmbedder) -> None:
    segments = segment([*TRIP, *EMAIL], offline_embedder)
    assert 4 in [s.start for s in segments]
    assert all(not (s.start < 4 <= s.end) for s in segments)


def test_acknowledgements_do_not_start_a_task(offline_embedder: OfflineEmbedder) -> None:
    messages = [*TRIP, user("好的，谢谢"), assistant("不客气，祝旅途愉快！"), user("ok"), assistant("👍")]
    assert len(segment(messages, offline_embedder)) == 1


def test_tool_results_stay_with_their_call() -> None:
    messages = [
        user("what's the weather in Paris tomorrow?"),
        Message(
            role="assistant", content="", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Paris"}'),)
        ),
        Message(role="tool", content='{"temp": 18}', tool_call_id="c1"),
        assistant("18 degrees and sunny."),
        user("by the way, different topic: draft an email to my landlord about the broken heater"),
        assistant("Dear landlord, ..."),
    ]
    segments = segment(messages, HASHING)
    assert_covers(segments, len(messages))
    for s in segments:
        assert s.start not in (1, 2, 3)  # a chunk never starts inside the weather exchange


def test_a_long_silence_splits() -> None:
    hour = 3_600_000
    messages = [
        user("help me plan a trip to Rome", 0),
        assistant("Day 1: Colosseum ...", 1000),
        user("and add a day in Florence", 2 * hour),
        assistant("Day 4: Uffizi ...", 2 * hour + 1000),
    ]
    assert [s.start for s in segment(messages, HASHING)] == [0, 2]


def test_titles_are_short_and_taken_from_the_request() -> None:
    title = title_for(TRIP)
    assert 0 < len(title) <= 40 and "成都" in title
    assert len(title_for([user("x" * 300)])) <= 40


def test_segment_texts_uses_alternating_speakers() -> None:
    texts = ["book a table for two", "done, 7pm", "thanks", "you're welcome"]
    assert_covers(segment_texts(texts, HASHING), len(texts))

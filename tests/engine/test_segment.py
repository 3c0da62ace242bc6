"""Tests of the algorithmic segmenter: coverage invariants, exchange units, cues, gaps and titles."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memskill import Memory, Settings
from memskill.demo import turns
from memskill.models import Message, Scope, Segment, ToolCall
from memskill.providers.embedders import HashingEmbedder, OfflineEmbedder
from memskill.segment import (
    DEFAULT_SETTINGS,
    PEER_SETTINGS,
    SegmentSettings,
    segment,
    segment_texts,
    settings_for,
    title_for,
)

HASHING = HashingEmbedder()
SPLIT_EVERYWHERE = SegmentSettings(threshold=-100.0, min_exchanges=1)
"""Takes every allowed boundary, so tests can check where boundaries are allowed at all."""

TRIP = [
    Message("user", "帮我规划一个成都5天的行程，我不喜欢走回头路，喜欢文化景点，不要商场。"),
    Message("assistant", "好的。第一天：宽窄巷子、人民公园；第二天：武侯祠、锦里；第三天：杜甫草堂。"),
    Message("user", "先帮我查一下成都这几天的天气，行程要根据天气安排。"),
    Message("assistant", "成都未来五天多云转小雨，气温15到22度，雨天的行程安排在博物馆。"),
    Message("user", "好的"),
    Message("assistant", "需要我把行程里的室外景点调整到晴天吗？"),
    Message("user", "第三天想去都江堰和青城山，成都的行程怎么调整？"),
    Message("assistant", "第三天上午去都江堰，下午去青城山，晚上回成都市区，第四天再去杜甫草堂。"),
]
EMAIL = [
    Message("user", "帮我写一封邮件给王经理，说明项目进度要延迟到下周五。"),
    Message("assistant", "王经理您好：由于测试中发现问题，项目交付将延期至下周五，敬请谅解。"),
    Message("user", "邮件语气再正式一点，加上致歉的话。"),
    Message("assistant", "尊敬的王经理：非常抱歉地通知您，项目交付需延期至下周五。此致敬礼。"),
]


def check_cover(segments: list[Segment], count: int) -> None:
    """Segments cover 0..count-1 in order, without gaps or overlaps, each with a title."""
    if count == 0:
        assert segments == []
        return
    assert segments[0].start == 0
    assert segments[-1].end == count - 1
    for previous, following in zip(segments, segments[1:]):
        assert following.start == previous.end + 1
    for chunk in segments:
        assert chunk.start <= chunk.end
        assert 0 < len(chunk.title) <= 40


def starts(segments: list[Segment]) -> list[int]:
    return [chunk.start for chunk in segments]


def test_empty_input_gives_no_segments() -> None:
    assert segment([], HASHING) == []
    assert segment_texts([], HASHING) == []


def test_one_message_is_one_segment() -> None:
    result = segment([Message("user", "帮我订一张去上海的机票")], HASHING)
    assert result == [Segment(0, 0, "帮我订一张去上海的机票")]


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().embed(texts)


def test_embeds_a_conversation_in_one_call() -> None:
    embedder = CountingEmbedder()
    segment(TRIP + EMAIL, embedder)
    assert embedder.calls == 1


roles = st.sampled_from(["user", "assistant", "system", "tool"])
words = st.sampled_from(["好的", "thanks", "成都行程", "写邮件", "by the way, weather?", "另外，订酒店", ""])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(roles, words), max_size=25))
def test_segments_cover_every_message_once(pairs: list[tuple[str, str]]) -> None:
    messages = [Message(role, text) for role, text in pairs]  # type: ignore[arg-type]
    for options in (SegmentSettings(), SPLIT_EVERYWHERE):
        result = segment(messages, HASHING, options)
        check_cover(result, len(messages))
        if any(m.role == "user" for m in messages):
            assert all(messages[start].role == "user" for start in starts(result)[1:])


@settings(max_examples=50, deadline=None)
@given(st.lists(words, max_size=20))
def test_segment_texts_covers_every_utterance(texts: list[str]) -> None:
    check_cover(segment_texts(texts, HASHING), len(texts))
    check_cover(segment_texts(texts, HASHING, SegmentSettings(any_speaker=True)), len(texts))


def tool_conversation() -> list[Message]:
    call = ToolCall("call-1", "get_weather", '{"city": "成都"}')
    return [
        Message("user", "帮我写一封请假邮件"),
        Message("assistant", "好的，邮件如下：王经理您好，我想请假一天。"),
        Message("user", "换个话题，查一下成都明天的天气"),
        Message("assistant", "", tool_calls=(call,)),
        Message("user", "要摄氏度"),
        Message("tool", '{"temp": 20, "sky": "cloudy"}', tool_call_id="call-1"),
        Message("assistant", "成都明天多云，20度。"),
        Message("user", "再查一下北京的"),
    ]


@pytest.mark.parametrize("any_speaker", [False, True])
def test_tool_calls_stay_with_their_exchange(any_speaker: bool) -> None:
    messages = tool_conversation()
    options = SegmentSettings(threshold=-100.0, min_exchanges=1, any_speaker=any_speaker)
    result = segment(messages, HASHING, options)
    check_cover(result, len(messages))
    owner = {
        index: number for number, chunk in enumerate(result) for index in range(chunk.start, chunk.end + 1)
    }
    assert owner[2] == owner[3] == owner[4] == owner[5]
    assert 2 in starts(result)
    assert 7 in starts(result)


def test_chinese_switch_with_cue_word_splits_at_the_switch() -> None:
    cued = [Message("user", "另外，" + EMAIL[0].content), *EMAIL[1:]]
    result = segment(TRIP + cued, HASHING)
    assert starts(result) == [0, len(TRIP)]


@pytest.mark.slow
def test_chinese_switch_without_cue_word_splits_at_the_switch() -> None:
    result = segment(TRIP + EMAIL, OfflineEmbedder())
    assert starts(result) == [0, len(TRIP)]


def test_chinese_switch_without_cue_word_splits_with_hashing() -> None:
    assert starts(segment(TRIP + EMAIL, HASHING)) == [0, len(TRIP)]


def test_single_task_with_acknowledgements_stays_one_chunk() -> None:
    messages = [
        *TRIP[:4],
        Message("user", "好的，谢谢"),
        Message("assistant", "不客气！"),
        Message("user", "thanks"),
        Message("assistant", "You're welcome."),
        Message("user", "ok"),
        Message("assistant", "还需要调整成都的行程吗？"),
        *TRIP[6:],
    ]
    assert starts(segment(messages, HASHING)) == [0]


def test_acknowledgements_never_start_a_chunk() -> None:
    messages = [
        Message("user", "Plan a weekend in Kyoto for me"),
        Message("assistant", "Day 1: Fushimi Inari. Day 2: Arashiyama."),
        Message("user", "好的"),
        Message("assistant", "Anything else?"),
        Message("user", "Thanks!"),
        Message("assistant", "Enjoy."),
    ]
    assert starts(segment(messages, HASHING, SPLIT_EVERYWHERE)) == [0]


def test_time_gap_splits_even_the_same_topic() -> None:
    hour = 3_600_000
    messages = [
        Message("user", "成都5天行程怎么安排？", chat_time=0),
        Message("assistant", "第一天宽窄巷子，第二天武侯祠。", chat_time=1000),
        Message("user", "成都5天行程第三天怎么安排？", chat_time=2 * hour),
        Message("assistant", "第三天去都江堰。", chat_time=2 * hour + 1000),
    ]
    assert starts(segment(messages, HASHING)) == [0, 2]
    close = [Message(m.role, m.content, chat_time=(m.chat_time or 0) // 1000) for m in messages]
    assert starts(segment(close, HASHING)) == [0]


def test_english_cue_phrase_splits() -> None:
    messages = [
        Message("user", "Can you draft a cover letter for a data analyst job?"),
        Message("assistant", "Dear hiring manager, I am applying for the data analyst role..."),
        Message("user", "Make the cover letter shorter and mention SQL."),
        Message("assistant", "Dear hiring manager, I bring five years of SQL experience..."),
        Message("user", "By the way, different topic: what's a good pasta recipe for dinner?"),
        Message("assistant", "Try spaghetti aglio e olio: garlic, olive oil, chili flakes."),
        Message("user", "How long should the pasta cook?"),
        Message("assistant", "About nine minutes for spaghetti."),
    ]
    assert starts(segment(messages, HASHING)) == [0, 4]


def test_titles_are_short_and_come_from_the_first_request() -> None:
    assert title_for(TRIP) == "帮我规划一个成都5天的行程，我不喜欢走回头路，喜欢文化景点，不要商场"
    assert (
        title_for([Message("user", "好的"), *EMAIL]) == "帮我写一封邮件给王经理，说明项目进度要延迟到下周五"
    )
    assert title_for([Message("user", "Hi! By the way, can you book a table for two?")]) == (
        "can you book a table for two"
    )
    long_english = title_for([Message("user", "Please summarise " + "the quarterly report " * 10)])
    assert 0 < len(long_english) <= 40
    assert long_english.endswith("…")
    long_chinese = title_for([Message("user", "请帮我" + "整理一下季度报告" * 10)])
    assert 0 < len(long_chinese) <= 40
    assert title_for([Message("assistant", "")]) == "Untitled"
    assert title_for([]) == "Untitled"


def test_titles_of_segments_are_short_and_non_empty() -> None:
    for chunk in segment(TRIP + EMAIL, HASHING):
        assert 0 < len(chunk.title) <= 40


PEERS = [
    Message("user", "I went hiking in the hills this weekend, the trail was muddy."),
    Message("assistant", "Muddy trails are the worst. Did you have good boots?"),
    Message("user", "Yes, my old leather boots, they never leak."),
    Message("assistant", "Nice. I like the long ridge walks best, the views pay off."),
    Message("user", "Same here, we climbed to the ridge before lunch."),
    Message("assistant", "By the way, have you tried that new ramen place downtown?"),
    Message("user", "Not yet, is the broth any good?"),
    Message("assistant", "The pork broth is rich, and the noodles are made in house."),
    Message("user", "I love spicy miso ramen, I might go on Friday."),
    Message("assistant", "Get there early, the queue gets long after seven."),
]
"""A chat between peers: the assistant's replies are as short as the user's, and it changes the topic."""


def test_a_chat_between_peers_reads_as_one_and_either_side_may_change_the_topic() -> None:
    assert settings_for(PEERS) is PEER_SETTINGS
    segments = segment(PEERS, OfflineEmbedder())
    check_cover(segments, len(PEERS))
    assert [s.start for s in segments] == [0, 5], (
        "the assistant's 'By the way, … ramen' opens the second topic"
    )


def test_an_assistant_that_works_on_tasks_keeps_the_user_as_the_only_one_to_open_a_task() -> None:
    assert settings_for(TRIP) is DEFAULT_SETTINGS  # long replies
    assert settings_for(PEERS[:8]) is DEFAULT_SETTINGS  # too few messages to tell
    call = Message("assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Chengdu"}'),))
    with_tools = [*PEERS[:6], call, Message("tool", "sunny", tool_call_id="c1"), *PEERS[6:]]
    assert settings_for(with_tools) is DEFAULT_SETTINGS  # an assistant that calls tools works on tasks


def test_a_peer_chat_sent_turn_by_turn_keeps_each_message_in_one_task_and_no_skill(tmp_path: Path) -> None:
    """Early turns read as an assistant's chat (too few to tell), later ones as peers': chunks then start
    at assistant messages and earlier cuts move; no message may stay in two task records."""
    messages = [{"role": m.role, "content": m.content} for m in PEERS]
    memory = Memory(settings=Settings(data_dir=tmp_path, workers=0), embedder=OfflineEmbedder())
    try:
        replies = [
            memory.add_message(user_id="pat", conversation_id="chat", messages=turn, async_mode=False)
            for turn in turns(messages)
        ]
        assert {r["status"] for r in replies} == {"completed"}
        scope = Scope("pat", None, None)
        sources = [
            source
            for cluster in memory.store.list_clusters(scope)
            for row in memory.store.task_records(cluster.id)
            for source in row.record["sources"]
        ]
        assert len(sources) == len(set(sources)) == len(PEERS)
        assert memory.get_skill(user_id="pat")["skill_detail_list"] == [], (
            "a chat about hikes and ramen asks for no task"
        )
    finally:
        memory.close()

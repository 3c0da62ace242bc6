"""Preference topics: a closed, documented set of subjects that a new preference is compared within.

A preference's topic decides which stored preferences it may reverse or correct (`consolidate.py`):
"回答控制在500字以内" and a later "以后控制在200字以内" are both `length`, so the newer archives the
older. The set is the rows of `TOPICS` (each a name and the words that place a preference in it, in
Chinese and English). A preference that fits no row is grouped by its main noun (a Chinese noun from
jieba, else its last long English word), so two preferences about the same thing still meet; that
noun stays inside the store, and what callers see (`public_topic`, the `topic` of a preference in API
replies) is always one of `TOPIC_NAMES` or `other`.

This is a vocabulary for grouping what the turn tagger already found, not for finding preferences.
"""

from __future__ import annotations

import re

from memskill.text import CJK

TOPICS = (
    ("length", "字以内 字数 篇幅 长度 太长 简短 简洁 啰嗦 短一点 字左右 "
               "words too_long verbose wordy concise brief shorter length sentence"),
    ("format", "格式 列表 表格 分点 要点 表情 markdown bullet table json heading emoji numbered"),
    ("tone", "语气 口吻 正式 随意 客气 夸 奉承 废话 praise flatter flattery compliment tone formal "
             "casual polite humor joke sarcasm sarcastic to_the_point apologize apologise apology"),
    ("language", "中文 英文 英语 日语 汉语 chinese english spanish french language translate"),
    ("schedule", "早上 上午 晚上 起床 起得 睡 早起 morning early wake sleep night_owl late_riser "
                 "schedule"),
    ("pace", "节奏 紧凑 悠闲 轻松 特种兵 回头路 行程 太累 太满 赶 pace relax relaxed packed rush "
             "rushed backtrack leisurely"),
    ("budget", "预算 价格 便宜 贵 省钱 花费 性价比 budget cheap expensive price cost afford"),
    ("food", "吃 喝 辣 菜 餐 美食 火锅 素食 海鲜 过敏 food eat meal spicy vegetarian vegan cuisine "
             "restaurant dish coffee diet allergic allergy allergies"),
    ("accommodation", "住 酒店 民宿 宾馆 房间 hotel hostel airbnb room accommodation stay"),
    ("transport", "飞机 航班 机票 高铁 火车 地铁 打车 开车 自驾 座位 靠窗 过道 交通 flight seat "
                  "train drive driving taxi bus transport transportation airline"),
    ("sightseeing", "景点 博物馆 古迹 商场 购物 逛街 小众 人少 网红 打卡 文化 自然 爬山 公园 museum "
                    "sightseeing sights attraction mall shopping hiking tourist crowd crowded "
                    "landmark off_the_beaten"),
    ("weather", "天气 温度 气温 下雨 weather temperature rain forecast"),
    ("code_style", "代码 注释 变量 函数 缩进 python code comment variable function type_hint "
                   "indent naming test"),
    ("entertainment", "电影 音乐 小说 游戏 综艺 movie film music book novel game show series "
                      "podcast"),
    ("fitness", "健身 运动 锻炼 跑步 workout exercise gym fitness running"),
)  # fmt: skip


TOPIC_NAMES = tuple(name for name, _ in TOPICS)
OTHER = "other"
"""The topic callers see for a preference that fits no row of `TOPICS`."""


def public_topic(key: str) -> str:
    """The documented topic of a preference stored under `key` (a row of `TOPICS`, else `other`)."""
    return key if key in TOPIC_NAMES else OTHER


def _keyword_pattern(keywords: str) -> re.Pattern[str]:
    parts = []
    for keyword in keywords.split():
        word = re.escape(keyword.replace("_", " "))
        parts.append(word if CJK.search(keyword) else rf"\b{word}(?:s|es|ed|ing)?\b")
    return re.compile("|".join(parts))


_TOPIC_PATTERNS = tuple((topic, _keyword_pattern(keywords)) for topic, keywords in TOPICS)
_EN_STOP = frozenset(
    """that this with from they them their have would could should prefer like love hate dislike
    avoid really always never please dont does make sure keep when where which about very much
    more less rather than just also into over only""".split()
)


def topic_of(text: str) -> str:
    """A coarse subject for `text`: the keyword row it names most often (the earlier row on a tie:
    "每次规划行程前先查天气和温度" is `weather`, not `pace`), else its main noun."""
    lowered = text.lower()
    hits = [
        (len(pattern.findall(lowered)), -row, topic) for row, (topic, pattern) in enumerate(_TOPIC_PATTERNS)
    ]
    count, _, topic = max(hits)
    if count:
        return topic
    if CJK.search(text):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        pairs = jieba.posseg.cut(text)
        nouns = [pair.word for pair in pairs if pair.flag.startswith("n") and len(pair.word) > 1]
        return nouns[-1] if nouns else "general"
    words = [w for w in re.findall(r"[a-z]+", lowered) if len(w) > 3 and w not in _EN_STOP]
    return words[-1] if words else "general"

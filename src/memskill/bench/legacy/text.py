"""Shared text handling for extraction: language, sentences, clause cleaning and topics."""

from __future__ import annotations

import re
from typing import Literal

PreferenceType = Literal["explicit_preference", "implicit_preference"]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _any(alternatives: str) -> str:
    """A non-capturing group of `|`-separated alternatives; line breaks between them are ignored."""
    return "(?:" + re.sub(r"\s*\n\s*", "", alternatives.strip()) + ")"


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ================================================================ language, sentences, cleaning


def detect_language(text: str) -> Literal["zh", "en"]:
    """ "zh" when Chinese characters make up a fair share of `text` (one ≈ one word), else "en"."""
    chinese = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if chinese and chinese >= 0.5 * latin_words else "en"


_SENTENCE_END = re.compile(
    r"(?<=[。！？!?；;…])[”’\"')）]*\s*"  # Chinese and shared terminators
    r"|(?<=[a-z0-9\)\]\"'`*_][.])\s+(?=[A-Z\"“(\[0-9])"  # an English full stop before a capital
    r"|\n+"
)


_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|vs|etc|e\.g|i\.e|No)\.$")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, each keeping its final punctuation (。！？.!?; …)."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if sentences and _ABBREVIATION.search(sentences[-1]) and piece:
            sentences[-1] += " " + piece
        elif piece and re.search(r"[\w\u3400-\u9fff]", piece):
            sentences.append(piece)
        elif piece and sentences:
            sentences[-1] += piece
    return sentences


_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LONG_QUOTE = re.compile(r"[\"“「『][^\"”」』]{25,}[\"”」』]")
_MATERIAL_HEAD = re.compile(
    r"\b(make|rewrite|translate|correct|fix|summari[sz]e|simplify|explain|revise|paraphrase|"
    r"proofread|check|complete|convert|improve|comment|analy[sz]e|edit|answer|classify|continue|"
    r"read|review|following|below|text|sentence|paragraph|code|passage|question)\b"
    r"|改写|翻译|润色|总结|修改|解释|纠正|检查|分析|回答|下面|以下|这段|这句",
    re.IGNORECASE,
)
_CODE_MARKS = re.compile(
    r"[{};]\s*$|==|!=|=>|->|::|</|/>|^\s*(def|class|import|from|#include|return|for|if|while|SELECT|select)\b"
)
_ASSIGNMENT = re.compile(r"^\s*[\w.\[\]'\"]+\s*[+\-*/]?=\s*\S")


def _is_code_line(line: str) -> bool:
    """A line of code rather than prose: code punctuation, a keyword start, or a short assignment
    ("x = 5", but not "Churn = customers who cancelled in the month, as a share of …")."""
    if _CODE_MARKS.search(line):
        return True
    return bool(_ASSIGNMENT.match(line)) and len(re.findall(r"[A-Za-z\u4e00-\u9fff]+", line)) < 8


def _text_units(content: str) -> list[str]:
    """Sentences where the user speaks for themselves (code and pasted material dropped)."""
    text = _LONG_QUOTE.sub(" ", _CODE_BLOCK.sub(" ", content))
    colon = re.search(r"[:：]", text)
    if colon is not None:
        head, rest = text[: colon.start()], text[colon.end() :]
        if (len(head) <= 80 and _MATERIAL_HEAD.search(head)) or len(rest) > 200:
            text = head
    lines = [line for line in text.split("\n") if line.strip() and not _is_code_line(line)]
    sentences = split_sentences("\n".join(lines))
    if len(text) > 1000 and len(sentences) > 4:
        sentences = sentences[:2] + sentences[-2:]
    return sentences


_ZH_LEADING_FILLER = re.compile(
    "^"
    + _any(r"""那个|这个吧|嗯+|哦+|噢+|啊+|呃+|额+|好的?|对了|另外|还有|然后|其实|
    就是|而且|并且|但是|可是|不过|所以|因为|总之|顺便说一下|顺便|请你|请|
    麻烦你|麻烦|哈哈+|诶|欸""")
    + r"+[，,\s]*"
)
_ZH_HELP = re.compile(r"(?:请|麻烦)?你?(?:帮我|帮忙|给我|替我)(?!们)(?=[\u4e00-\u9fff])")
_ZH_TRAILING = re.compile(r"[吧啊呀哈哦嘛啦~～!！。.…\s]+$")
_EN_LEADING_FILLER = re.compile(
    "^(?:"
    + _any(r"""oh|ok|okay|also|and|but|so|well|hey|hi|actually|honestly|btw|by the way|anyway|
    just|please|pls|plz|again|yeah|yes|no|hmm+|um+|alright|sure|thanks|thank you|
    one more thing|oh and""")
    + r"\b[,!.]?\s*)+",
    re.IGNORECASE,
)
_EN_PLEASE = re.compile(r",?\s*\bplease\b,?", re.IGNORECASE)
_EN_CONTRACTIONS = (
    ("i'm", "i am"), ("i've", "i have"), ("i'd", "i would"), ("i'll", "i will"),
    ("we're", "we are"), ("we've", "we have"), ("we'd", "we would"), ("don't", "do not"),
    ("doesn't", "does not"), ("didn't", "did not"), ("can't", "cannot"), ("won't", "will not"),
    ("isn't", "is not"), ("wouldn't", "would not"), ("it's", "it is"), ("that's", "that is"),
)  # fmt: skip


def _clean_zh(clause: str) -> str:
    clause = _ZH_LEADING_FILLER.sub("", clause.strip())
    clause = re.sub(r"^你(?=别|不要|不用|不必|以后|下次|每次|尽量|最好|一定|记得|先)", "", clause)
    clause = _ZH_HELP.sub("", clause)
    return _ZH_TRAILING.sub("", clause).strip("，, ")


def _clean_en(clause: str) -> str:
    clause = _EN_LEADING_FILLER.sub("", clause.strip())
    clause = _EN_PLEASE.sub("", clause).strip()
    clause = re.sub(r"[\s,.!;:—–-]+$", "", clause)
    return clause[:1].upper() + clause[1:]


def _normalise_en(text: str) -> str:
    """Lower case with contractions expanded: the form English rules match on."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    for short, full in _EN_CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text)
    return text


# ================================================================ topics

_TOPICS = (
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
    ("sightseeing", "景点 博物馆 古迹 商场 购物 小众 人少 网红 打卡 文化 自然 爬山 公园 museum "
                    "sightseeing sights attraction mall shopping hiking tourist crowd crowded "
                    "landmark off_the_beaten"),
    ("weather", "天气 温度 气温 下雨 weather temperature rain forecast"),
    ("code_style", "代码 注释 变量 函数 缩进 python code comment variable function type_hint "
                   "indent naming test"),
    ("entertainment", "电影 音乐 小说 游戏 综艺 movie film music book novel game show series "
                      "podcast"),
    ("fitness", "健身 运动 锻炼 跑步 workout exercise gym fitness running"),
)  # fmt: skip


def _keyword_pattern(keywords: str) -> re.Pattern[str]:
    parts = []
    for keyword in keywords.split():
        word = re.escape(keyword.replace("_", " "))
        parts.append(word if _CJK.search(keyword) else rf"\b{word}(?:s|es|ed|ing)?\b")
    return re.compile("|".join(parts))


_TOPIC_PATTERNS = tuple((topic, _keyword_pattern(keywords)) for topic, keywords in _TOPICS)
_EN_STOP = frozenset(
    """that this with from they them their have would could should prefer like love hate dislike
    avoid really always never please dont does make sure keep when where which about very much
    more less rather than just also into over only""".split()
)


def _topic(text: str) -> str:
    """A coarse subject for `text`: the first matching keyword row, else its main noun."""
    lowered = text.lower()
    for topic, pattern in _TOPIC_PATTERNS:
        if pattern.search(lowered):
            return topic
    if _CJK.search(text):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        pairs = jieba.posseg.cut(text)
        nouns = [pair.word for pair in pairs if pair.flag.startswith("n") and len(pair.word) > 1]
        return nouns[-1] if nouns else "general"
    words = [w for w in re.findall(r"[a-z]+", lowered) if len(w) > 3 and w not in _EN_STOP]
    return words[-1] if words else "general"

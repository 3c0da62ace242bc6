"""Generalise: replace the concrete values of a sentence by their role.

A skill learnt from "帮我规划成都5天的行程" must fit the next trip to Yunnan, so the
step it keeps is "帮我规划目的地N天的行程". `generalise` rewrites, in this order
(earlier rules protect their output from later ones):

1. contact details: e-mail addresses, URLs, phone numbers → 邮箱 / 网址 / 电话号码
   (the email address, the URL, the phone number);
2. dates and clock times: holidays (清明节, 五一, 国庆, Christmas), calendar dates
   ("5月1日", "May 1st") and relative days ("明天", "next Friday") → 出行日期 /
   the travel date in a travel context, else 日期 / the date; clock times → 时间 / the time;
3. money amounts → 预算 / the budget ("预算5000元" becomes "预算", not "预算预算");
4. durations: "5天", "五天", "3晚", "5 days", "5-day" → "N天", "N晚", "N days", "N-day";
5. places: words jieba tags `ns` plus a small gazetteer of cities, provinces and
   countries it may miss → 目的地; English gazetteer names, and capitalised names
   after to/in/at/visit in a travel context → the destination; the start of a
   journey ("从北京出发", "from Boston to") → 出发地 / the origin;
6. people: jieba `nr` words that start with a common surname (or 小/老/阿 + one
   character) → 对方; "Mr. Smith" → the person; "my friend Anna" → my friend.

Everything else is kept verbatim, so 天气, 文化景点 and 回头路 survive.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from memskill.gazetteer import (
    EN_NOT_PLACES,
    EN_PLACES,
    NOT_CONCRETE,
    PLACE_ADJECTIVE_HEADS,
    SURNAMES,
    ZH_PLACES,
    any_of,
)
from memskill.text import CJK

_posseg_lock = threading.Lock()
_posseg: Any = None


def _posseg_module() -> Any:
    """jieba.posseg, imported and initialised once."""
    global _posseg
    if _posseg is None:
        with _posseg_lock:
            if _posseg is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(60)
                jieba.initialize()
                _posseg = jieba.posseg
    return _posseg


_TRAVEL_ZH = re.compile(
    any_of(r"""旅游|旅行|出行|行程|出发|景点|机票|酒店|民宿|游玩|玩|自驾|度假|攻略|
    签证|航班|高铁|出游|旅程|目的地|去\S{1,6}待\S{0,2}天""")
)
_TRAVEL_EN = re.compile(
    r"\b"
    + any_of(r"""trip|travel|itinerary|vacation|holiday|flight|fly|flying|hotel|visit|tour|
    sightseeing|destination|journey|getaway""")
    + r"\w*\b",
    re.IGNORECASE,
)

# ---------------------------------------------------------------- patterns

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"https?://[^\s，。、）)]+|www\.[^\s，。、）)]+")
_PHONE = re.compile(
    r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"
    r"|(?<!\d)(?:\+?1[- .]?)?\(?\d{3}\)?[- .]\d{3}[- .]\d{4}(?!\d)"
)

_ZH_NUMERAL = "一二两三四五六七八九十"
_ZH_HOLIDAYS = any_of(r"""清明节?|五一|劳动节|国庆节?|春节|元旦|端午节?|中秋节?|除夕|圣诞节?|
    元宵节?|暑假|寒假""")
_ZH_DATE = re.compile(
    r"\d{4}年\d{1,2}月\d{1,2}[日号]"
    r"|\d{1,2}月\d{1,2}(?:[日号])?(?:[到至~\-–—]\d{1,2}[日号])?"
    r"|\d{1,2}[日号]?[到至~\-–—]\d{1,2}[日号]"
    r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:份|初|中旬|上旬|下旬|中|底)"
    rf"|{_ZH_HOLIDAYS}(?:假期|小长假|长假|黄金周|期间)?"
    r"|十一(?:假期|小长假|长假|黄金周|期间)|大后天|后天|明天|下个?月(?:初|中|底)?"
    r"|下(?:周|星期|礼拜)[一二三四五六日天末]?(?:[到至~\-–—](?:周|星期|礼拜)?[一二三四五六日天末])?"
    # "这周" alone is the period a task is done in, whenever it is ("这周的周报"); a day of it is a date.
    r"|(?:这|本)(?:周|星期|礼拜)[一二三四五六日天末](?:[到至~\-–—](?:周|星期|礼拜)?[一二三四五六日天末])?"
)
_ZH_TIME = re.compile(
    r"(?:凌晨|早上|上午|中午|下午|傍晚|晚上)\s*"
    r"(?:\d{1,2}|[两三四五六七八九十]{1,2}|十一|十二)\s*[点:：]\s*(?:\d{1,2}分?|半)?"
    r"|(?<!\d)\d{1,2}[:：]\d{2}(?!\d)"
)
_EN_MONTH = any_of(r"""Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|
    Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?""")
_EN_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_EN_DATE = re.compile(
    rf"\b{_EN_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_EN_MONTH}\b(?:,? \d{{4}})?"
    rf"|\b(?:next|this|last|on|coming) (?:{_EN_WEEKDAY}|weekend)\b|\b(?:next|last|coming) (?:week|month)\b"
    r"|\b(?:tomorrow|the day after tomorrow)\b"
    r"|\b(?:Christmas(?: Eve)?|Easter|Thanksgiving|New Year's(?: Eve| Day)?|Labor Day"
    r"|Memorial Day|Spring Festival|Golden Week|Chinese New Year)\b"
    r"|\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    rf"|\b(?:{_EN_WEEKDAY}|(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\.?) \d{{1,2}}(?:st|nd|rd|th)?\b"
    r"(?!\s*(?:am|pm|a\.m|p\.m|[:.]\d))"
)


_EN_DATE_OWNER = re.compile(rf"(?:{_EN_DATE.pattern})'s\s+", re.IGNORECASE)
_EN_PREPOSITIONS = frozenset(
    {"for", "on", "by", "until", "till", "before", "after", "from", "to", "of", "at", "in"}
)


def names_a_date(text: str) -> bool:
    """Whether `text` names a calendar day (a date, a holiday, "next Wednesday", "下周一"), which ties it
    to one occasion; clock times ("7点出门", "before 10am") and durations can be habits and do not."""
    return bool(_ZH_DATE.search(text) or _EN_DATE.search(text))


_EN_CLOCK_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half past \w+|noon|midnight)"
    r"(?:\s+(?:thirty|fifteen|forty[- ]five|o'clock))?\s+(?:in the (?:morning|afternoon|evening)|at night|"
    r"o'clock|am|pm)\b|\b(?:noon|midnight)\b",
    re.IGNORECASE,
)


def names_a_value(text: str) -> bool:
    """Whether `text` names a value a user picks for one occasion: a number, a calendar day, a place,
    an organisation or a person ("for 4 people", "at 12:45", "in San Jose", "北京天伦王朝酒店")."""
    return bool(re.search(r"\d", text) or names_a_date(text) or _EN_CLOCK_WORDS.search(text)) or names_a_name(
        text
    )


@lru_cache(maxsize=4096)
def names_a_name(text: str) -> bool:
    """Whether `text` names a place, an organisation or a person ("Villa Romano", "天伦王朝酒店")."""
    if not CJK.search(text):
        return bool(re.search(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\b", text.strip()))
    return any(
        (flag in ("ns", "nt") or (flag.startswith("nr") and _is_person(word) and _frequency(word) < 100))
        and not _is_generic(word)
        for word, flag in parts_of_speech(text)
        if len(word) >= 2
    )


def parts_of_speech(text: str) -> list[tuple[str, str]]:
    """`text` cut into words with jieba's part-of-speech tags ("ns" place, "n" noun, …)."""
    return [(pair.word, pair.flag) for pair in _posseg_module().cut(text)]


_EN_TIME = re.compile(
    r"\b(?:(?:in the )?(?:morning|afternoon|evening|night) )?"
    r"(?:\d{1,2}(?::\d{2})? ?(?:am|pm|a\.m\.|p\.m\.)(?!\w)|(?:[01]?\d|2[0-3]):[0-5]\d\b)",
    re.IGNORECASE,
)
"""A clock time: "7 pm", "11:15", "morning 11:15" (a part of the day before it goes with it)."""

_ZH_CURRENCY = any_of("块钱|块|元|人民币|美元|美金|欧元|日元|英镑|港币|刀")
_ZH_MONEY = re.compile(
    r"[¥￥]\s*\d[\d,]*(?:\.\d+)?[ \t]*(?:万|千|[kK])?(?:元|块)?"
    rf"|(?:\d[\d,]*(?:\.\d+)?\s*(?:[-~～—]|到|至)\s*)?\d[\d,]*(?:\.\d+)?\s*(?:万|千|[kK])?\s*{_ZH_CURRENCY}"
    # Spelled out: "两百块", "五十元", "三块钱"; not an ordinal ("第一块") nor "一块" (together, a piece).
    rf"|(?<!第)[{_ZH_NUMERAL}]*[百千万][{_ZH_NUMERAL}百千万]*块|(?<!第)[{_ZH_NUMERAL}百千万]+(?:块钱|元)"
)
_ZH_BUDGET_COLLAPSE = re.compile(
    r"预算(?:是|为|在|有|大概|大约|约|控制在|不超过|\s|:|：)*预算(?:左右|上下|以内|之内)?"
    r"|预算(?:左右|上下)"
)
_EN_MONEY = re.compile(
    r"[$€£¥]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:-|to)\s?[$€£¥]?\s?\d[\d,]*(?:\.\d+)?)?"
    r"(?:[ \t]?(?:k|K|thousand|million))?\b"
    r"|\b(?:\d[\d,]*(?:\.\d+)?\s?(?:-|to)\s?)?\d[\d,]*(?:\.\d+)?\s?(?:k|thousand)?\s?"
    r"(?:dollars|usd|eur|euros|yuan|rmb|bucks|pounds|gbp|yen)\b",
    re.IGNORECASE,
)
_EN_BUDGET_COLLAPSE = re.compile(
    r"\b((?:a |my |our |the )?budget) (?:is |of |around |about |under |below |:\s?)*"
    r"(?:about |around )?the budget\b",
    re.IGNORECASE,
)

_ZH_DURATION = re.compile(
    rf"(?<![\d第])(?:\d+|[{_ZH_NUMERAL}]{{1,3}})\s*(?:个)?(天|日游|晚|夜|周|星期|个月)"
    r"(?![气空然才使堂津下上末年边岁报刊])"  # 天气, 天下; 周末, 周年, 周边, 周报: words, not durations
)
_EN_DURATION = re.compile(
    r"\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen"
    r"|one(?=[- ](?:week|night)))([- ])(days?|nights?|weeks?)\b",
    re.IGNORECASE,
)

_EN_PLACE = re.compile(rf"\b{EN_PLACES}\b")
_EN_PLACE_AFTER_PREPOSITION = re.compile(
    r"\b(to|in|at|visit|visiting|around|near|into|explore|exploring)\s+"
    r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})\b"
)
_EN_ORIGIN = re.compile(r"\bfrom the destination to\b")
_EN_TITLE_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][a-z]+\b")
_EN_RELATION_NAME = re.compile(
    r"\b(my "
    + any_of(r"""friend|colleague|boss|manager|wife|husband|partner|brother|sister|mother|mom|
    father|dad|son|daughter|cousin|teacher|client|coworker""")
    + r"),? [A-Z][a-z]+\b"
)


# ---------------------------------------------------------------- rules


def is_travel_context(text: str) -> bool:
    """Whether `text` talks about a trip (decides 出行日期 over 日期)."""
    return bool(_TRAVEL_ZH.search(text) or _TRAVEL_EN.search(text))


def _contacts(text: str, chinese: bool) -> str:
    text = _EMAIL.sub("邮箱" if chinese else "the email address", text)
    text = _URL.sub("网址" if chinese else "the URL", text)
    return _PHONE.sub("电话号码" if chinese else "the phone number", text)


def _dates(text: str, chinese: bool, travel: bool) -> str:
    zh_date, en_date = ("出行日期", "the travel date") if travel else ("日期", "the date")
    if chinese:
        text = _ZH_TIME.sub("时间", text)
        text = _ZH_DATE.sub(zh_date, text)
        return re.sub(r"(出行日期|日期)(?:[和、到至~-]\1|[（(]\1[)）])+", r"\1", text)

    def english(match: re.Match[str]) -> str:
        relative = match.group(0).lower().split()[0] in {"on", "next", "this", "last", "coming"}
        before = match.string[: match.start()].split()
        # "for next Friday" → "for the date", not "for on the date".
        needs_on = relative and bool(before) and before[-1].lower() not in _EN_PREPOSITIONS
        return ("on " if needs_on else "") + en_date

    text = _EN_TIME.sub("the time", text)
    # "next week's dinners" → "the dinners": the day only says which occasion.
    text = _EN_DATE_OWNER.sub("the ", text)
    return _EN_DATE.sub(english, text)


def _money(text: str, chinese: bool) -> str:
    if chinese:
        text = _ZH_MONEY.sub("预算", text)
        return _ZH_BUDGET_COLLAPSE.sub("预算", text)
    text = _EN_MONEY.sub("the budget", text)
    return _EN_BUDGET_COLLAPSE.sub(r"\1", text)


def _durations(text: str, chinese: bool) -> str:
    if chinese:
        text = _ZH_DURATION.sub(lambda match: "N" + match.group(1), text)
    return _EN_DURATION.sub(lambda match: "N" + match.group(1) + match.group(2), text)


ROLES = (
    "目的地", "出发地", "出行日期", "对方", "N天", "N晚", "邮箱", "网址", "电话号码",
    "the destination", "the origin", "the travel date", "the date", "the time", "the budget",
    "the person", "the email address", "the URL", "the phone number", "N days", "N-day",
)  # fmt: skip
"""The words `generalise` writes in place of concrete values (a text holding one was generalised)."""
_BUILDING_ENDS = "区市县镇城路街省村山河湖祠寺庙宫馆园楼塔桥院堂阁亭坊巷门"
"""A "name" ending like this is a place (武侯祠, jieba's `nr`), not a person."""
_DISH_ENDS = "鱼虾蟹肉鸡鸭菜汤羹饭面粥糕饼酱菇椒薯"
"""A "name" ending like this is a dish or an ingredient (龙利鱼, 罗非鱼, 毛血旺's kin: jieba's `nr`): these
characters almost never end a given name, and recipes and meal plans name many such foods."""
_TITLES = ("经理", "老师", "总监", "主任", "老板", "医生", "先生", "女士", "同学", "阿姨", "叔叔", "总")
"""王经理 → 经理: a person named with their title keeps the title, the role the skill needs."""
_ROLE_OF_TITLE = {"总": "领导"}
"""A title that is no word alone: 刘总 is 领导, not 总 ("给总写封邮件")."""
_RARE_PLACE = 10
"""A place word jieba's dictionary has seen fewer times than this, glued to the next character
("波比跳" cut as 波比/跳), is probably part of another word: it stays as written."""


_PROPER = re.compile(r"nr|nz|nt")
"""jieba's tags of people's, other proper and organisations' names."""


def _is_person(word: str) -> bool:
    if word in NOT_CONCRETE or not 2 <= len(word) <= 4 or not CJK.match(word):
        return False
    if word[-1] in _BUILDING_ENDS + _DISH_ENDS:
        return False
    if word[0] in "小老阿" and len(word) == 2:
        return True
    # A word jieba's dictionary knows well is a word (胡萝卜 452, 杜甫 1304 are tagged `nr`), not a name;
    # so is a verb on a common noun that opens with a surname's character ("戴帽子": 帽子 1032).
    if word[0] not in SURNAMES or _frequency(word) >= _COMMON_WORD:
        return False
    rest = word[1:]
    if len(word) == 3 and rest not in _TITLES and _frequency(rest) >= _COMMON_WORD:
        return [flag for _, flag in parts_of_speech(rest)] != ["n"]
    return True


_LOCATING = tuple("在 去 到 从 来 回 住 飞 往 离 位于 前往 抵达".split())  # "在望京上班": used as a place
_THERE = frozenset("那边 这边 附近 一带 周边 那儿 这儿 玩 逛 旅游 出差 待 住 。 ， ！ ？ , . ! ?".split())
"""What follows a place one goes to ("去余杭那边", "去萧山玩") rather than a person."""
_COMMON_WORD = 100  # jieba's count from which a two-character `ns` word may be ordinary (入门: 312)
_EVERYDAY_WORD = 5000
"""From this count a two-character `ns` word outside the gazetteer is an everyday word even on a trip
("吃点东西": 东西 18,877; 南北, 西北): a place only where the sentence puts something there."""


def _is_place(word: str, next_word: str, previous_word: str = "", travel: bool = True) -> bool:
    """Whether a jieba `ns` word is a place here. Outside a trip, a common two-character word jieba tags
    as one ("做个入门的训练计划") is a place only where the sentence puts something there; on a trip, an
    everyday one ("吃点东西") is."""
    if word in NOT_CONCRETE or len(word) < 2 or next_word.startswith(PLACE_ADJECTIVE_HEADS):
        return False
    frequency = _frequency(word) if len(word) == 2 and word not in ZH_PLACES else 0
    if (
        frequency >= _EVERYDAY_WORD or (not travel and frequency >= _COMMON_WORD)
    ) and not previous_word.endswith(_LOCATING):
        return False
    glued = len(next_word) == 1 and bool(CJK.match(next_word))
    return not (glued and word not in ZH_PLACES and _frequency(word) < _RARE_PLACE)


def _frequency(word: str) -> int:
    """How often jieba's dictionary has seen `word` (0 when never)."""
    _posseg_module()
    import jieba

    return int(jieba.dt.FREQ.get(word) or 0)


def _chinese_names(text: str, travel: bool = True) -> str:
    """Replace place (`ns`) and person (`nr`) words found by jieba, then gazetteer leftovers."""
    pairs = [(pair.word, pair.flag) for pair in _posseg_module().cut(text)]
    pieces: list[str] = []
    kept: list[str] = []
    for index, (word, flag) in enumerate(pairs):
        next_word = pairs[index + 1][0] if index + 1 < len(pairs) else ""
        next_flag = pairs[index + 1][1] if index + 1 < len(pairs) else ""
        if flag == "ns" and index and _PROPER.match(pairs[index - 1][1]) and _PROPER.match(next_flag):
            # A place between two other proper nouns is part of their name (金茂北京威斯汀大饭店 is a
            # hotel, not a trip to 北京): the name stays whole, and the gazetteer pass must not split it.
            kept.append(word)
            pieces.append(f"\x00{len(kept) - 1}\x00")
        elif flag == "ns" and _is_place(word, next_word, pairs[index - 1][0] if index else "", travel):
            pieces.append("目的地")
        elif flag.startswith("nr"):
            lead = word[0] if word[0] in "和跟与同给" and len(word) > 2 else ""
            name = word[len(lead) :]
            title = next((t for t in _TITLES if name.endswith(t) and len(name) > len(t)), "")
            # A name followed by a place noun names the place (杜甫草堂, 金沙遗址), not a person.
            compound = bool(next_word) and next_word[-1] in _BUILDING_ENDS + "址居场"
            previous = pairs[index - 1][0] if index else ""
            if not title and previous.endswith(_LOCATING) and (not next_word or next_word in _THERE):
                pieces.append("目的地")  # "想去余杭那边", "下周去萧山": an `nr` word one goes to is a place
            elif title and _is_person(name):
                pieces.append(lead + _ROLE_OF_TITLE.get(title, title))
            elif _is_person(name) and not compound:
                pieces.append(lead + "对方")
            else:
                pieces.append(word)
        else:
            pieces.append(word)
    text = "".join(pieces)
    text = _ZH_GAZETTEER.sub("目的地", text)
    text = re.sub(r"目的地(?:[和、与及跟或]|以及)?目的地", "目的地", text)
    text = re.sub(r"目的地(?:[和、与及跟或]|以及)?目的地", "目的地", text)
    text = re.sub(r"从目的地(出发|飞|坐|开车|到|去)", r"从出发地\1", text)
    return re.sub(r"\x00(\d+)\x00", lambda match: kept[int(match.group(1))], text)


_ZH_GAZETTEER = re.compile(
    "(?:" + "|".join(sorted(ZH_PLACES, key=len, reverse=True)) + ")(?:市|省|县)?(?!石|拉面|小面|烤鸭|话|菜)"
)


def _english_names(text: str, travel: bool) -> str:
    text = _EN_TITLE_NAME.sub("the person", text)
    text = _EN_RELATION_NAME.sub(r"\1", text)
    text = _EN_PLACE.sub("the destination", text)
    if travel:

        def replace(match: re.Match[str]) -> str:
            words = match.group(2).split()
            if words[0] in EN_NOT_PLACES:
                return match.group(0)
            return f"{match.group(1)} the destination"

        text = _EN_PLACE_AFTER_PREPOSITION.sub(replace, text)
    text = re.sub(r"\bthe destination(?:,? (?:and|or) the destination)+\b", "the destination", text)
    return _EN_ORIGIN.sub("from the origin to", text)


@lru_cache(maxsize=4096)
def generalise(text: str, *, keep_amounts: bool = False) -> str:
    """`text` with concrete values (places, dates, amounts, durations, names, contacts) as roles.

    With `keep_amounts`, times, dates, money and durations stay: in a preference such as
    "上午十点前别安排行程" or "一天最多两个地方" they are the preference itself, not task details.
    """
    if not text or not text.strip():
        return text
    chinese = bool(CJK.search(text))
    travel = is_travel_context(text)
    steps: list[Callable[[str], str]] = [lambda value: _contacts(value, chinese)]
    if not keep_amounts:
        steps += [
            lambda value: _dates(value, chinese, travel),
            lambda value: _money(value, chinese),
            lambda value: _durations(value, chinese),
        ]
    for step in steps:
        text = step(text)
    if chinese:
        text = _chinese_names(text, travel)
    return _english_names(text, travel or "目的地" in text)


_OCCASION_DAY = re.compile(
    r"(?:出行)?日期(?:的)?(?=[\u4e00-\u9fff])(?![和与及或跟、是了吗呢])"  # a day before what it qualifies
    r"|\s+(?:on|for) the (?:travel )?date\b|^(?:on )?the (?:travel )?date\s+"
)


def as_title(generalised: str) -> str:
    """A generalised request as a skill's title: the day placeholder that only said which occasion goes
    ("准备日期部门季度复盘会的材料" → "准备部门季度复盘会的材料", "Book a table for the date" → "Book a
    table"); "确认出行日期", where the date is what is asked about, keeps it."""
    return _OCCASION_DAY.sub("", generalised).strip() or generalised


def _masked_names(text: str) -> str:
    """Person names (jieba's `nr` that read as people) as "某某" (title kept: 王经理 → 某经理)."""
    pieces: list[str] = []
    pairs = [(pair.word, pair.flag) for pair in _posseg_module().cut(text)]
    for index, (word, flag) in enumerate(pairs):
        next_word = pairs[index + 1][0] if index + 1 < len(pairs) else ""
        title = next((t for t in _TITLES if word.endswith(t) and len(word) > len(t)), "")
        # Only a surname opens a masked name: "小雨" (light rain) is tagged as one too.
        person = (
            flag.startswith("nr")
            and _is_person(word)
            and word[0] in SURNAMES
            and next_word[-1:] not in _BUILDING_ENDS + "址居场"
        )
        pieces.append(("某" + title if title else "某某") if person else word)
    return "".join(pieces)


def mask_personal(text: str) -> str:
    """`text` fit to show as an example: e-mail addresses, phone numbers, amounts of money and
    people's names masked; places, dates and the rest kept (an example shows a real answer)."""
    if not text.strip():
        return text
    chinese = bool(CJK.search(text))
    text = _EMAIL.sub("[邮箱]" if chinese else "[email]", text)
    text = _PHONE.sub("[电话]" if chinese else "[phone]", text)
    text = (_ZH_MONEY if chinese else _EN_MONEY).sub("[金额]" if chinese else "[amount]", text)
    text = _EN_TITLE_NAME.sub("[name]", text)
    return _masked_names(text) if chinese else text


def names_in(text: str) -> set[str]:
    """The proper names in `text`: places, people and organisations jieba tags (ns, nr, nt, nz) in
    Chinese, capitalised words after a sentence's first in English."""
    if CJK.search(text):
        names = {
            pair.word
            for pair in _posseg_module().cut(text)
            if pair.flag in ("ns", "nr", "nt", "nz") and len(pair.word) >= 2 and pair.word not in ROLES
        }
        return {n for n in names if not _is_generic(n)}
    words = re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b", text)
    return set(words) - set(EN_NOT_PLACES)


def _is_generic(word: str) -> bool:
    return word in NOT_CONCRETE or word in ("目的地", "出发地")

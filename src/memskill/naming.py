"""Names and descriptions for skills: a spec-valid ASCII `name`, a human title and a description.

Common kinds of task are recognised from keywords (Chinese and English) and get a fixed English name such
as `travel-itinerary-planning`; anything else is named from the English words of its titles (proper
names left out), or, when the titles are Chinese only, from what their verb asks for
(`recommendation-task`, `lookup-task`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from memskill.generalise import names_a_name
from memskill.skillfile import slugify
from memskill.text import STOPWORDS, has_cjk


@dataclass(frozen=True)
class TaskKind:
    """A recognised kind of task."""

    name: str
    keywords: tuple[str, ...]
    title_zh: str
    title_en: str
    purpose_zh: str
    purpose_en: str


KINDS: tuple[TaskKind, ...] = (
    TaskKind(
        "travel-itinerary-planning",
        (
            "行程",
            "旅行",
            "旅游",
            "出行",
            "景点",
            "攻略",
            "自驾",
            "民宿",
            "酒店",
            "机票",
            "度假",
            "自由行",
            "re:去\\S{1,10}?(?:玩|待|逛|住)\\s*(?:\\d+|[一二两三四五六七八九十]+)\\s*天",
            "itinerary",
            "trip",
            "travel",
            "vacation",
            "sightseeing",
            "hotel",
            "flight",
        ),
        "旅行行程规划",
        "Travel itinerary planning",
        "按用户的习惯规划多日旅行行程：目的地、天数、每日路线、景点、住宿与交通",
        "plans multi-day trips the way this user likes: route per day, sights, stays and transport",
    ),
    TaskKind(
        "email-writing",
        ("邮件", "请假", "email", "e-mail", "mail to"),
        "邮件撰写",
        "Email writing",
        "按用户偏好的语气和长度起草、修改邮件",
        "drafts and revises emails in the tone and length this user prefers",
    ),
    TaskKind(
        "social-post-writing",
        ("朋友圈", "文案", "微博", "小红书", "tweet", "caption", "social media post"),
        "社交媒体文案",
        "Social media posts",
        "为朋友圈、微博等写短文案",
        "writes short social media posts and captions",
    ),
    TaskKind(
        "code-debugging",
        ("报错", "bug", "调试", "traceback", "exception", "stack trace", "debug", "error:"),
        "代码调试",
        "Code debugging",
        "定位并修复代码错误",
        "finds and fixes errors in code",
    ),
    TaskKind(
        "code-review",
        (
            "代码审查",
            "审查代码",
            "代码评审",
            "code review",
            "pull request",
            "pr",
            "diff",
            "review my code",
            "review this function",
            "review this diff",
            "what's wrong with",
            "what is wrong with",
            "有什么问题",
            "帮我看看这段代码",
        ),
        "代码审查",
        "Code review",
        "按用户关心的重点审查代码改动并列出问题",
        "reviews code changes and lists the issues this user cares about",
    ),
    TaskKind(
        "code-writing",
        (
            "写代码",
            "函数",
            "脚本",
            "python",
            "javascript",
            "function",
            "script",
            "implement",
            "refactor",
        ),
        "编写代码",
        "Writing code",
        "按用户的代码风格编写和修改代码",
        "writes and changes code in this user's style",
    ),
    TaskKind(
        "data-analysis",
        (
            "数据分析",
            "查询",
            "统计",
            "报表",
            "sql",
            "query",
            "queries",
            "dashboard",
            "metric",
            "churn",
            "retention",
            "cohort",
        ),
        "数据分析",
        "Data analysis",
        "按用户的习惯查询和分析数据",
        "queries and analyses data the way this user likes",
    ),
    TaskKind(
        "job-application-writing",
        ("求职信", "简历", "自荐信", "cover letter", "resume", "résumé", "job application"),
        "求职材料撰写",
        "Job application writing",
        "按用户的风格撰写求职信和简历",
        "writes cover letters and resumes in this user's style",
    ),
    TaskKind(
        "translation",
        ("翻译", "译成", "translate", "translation"),
        "翻译",
        "Translation",
        "在语言之间翻译文本",
        "translates text between languages",
    ),
    TaskKind(
        "report-writing",
        ("报告", "周报", "总结", "汇报", "report", "summary", "summarize", "summarise"),
        "报告与总结",
        "Reports and summaries",
        "撰写报告、周报和总结",
        "writes reports, status updates and summaries",
    ),
    TaskKind(
        "restaurant-booking",
        (
            "餐馆",
            "餐厅",
            "饭店",
            "饭馆",
            "订座",
            "订位",
            "restaurant",
            "reservation",
            "book a table",
            "table for",
            "dine",
            "dining",
        ),
        "餐厅推荐与订座",
        "Restaurant finding and booking",
        "按用户的口味和要求找餐厅、订座",
        "finds restaurants and books tables the way this user wants",
    ),
    TaskKind(
        "ride-booking",
        ("出租车", "打车", "叫车", "网约车", "专车", "taxi", "cab", "ride to", "ride from", "uber", "lyft"),
        "叫车",
        "Ride booking",
        "按用户的要求叫车，说明车型和车牌",
        "books taxis and rides and reports the car",
    ),
    TaskKind(
        "public-transport-directions",
        ("地铁", "公交", "地铁站", "换乘", "metro", "subway", "bus route", "which line"),
        "公共交通路线",
        "Public transport directions",
        "查地铁、公交路线和换乘",
        "finds metro and bus routes and transfers",
    ),
    TaskKind(
        "ticket-booking",
        (
            "火车票",
            "高铁",
            "动车",
            "大巴",
            "演唱会",
            "话剧",
            "电影票",
            "train ticket",
            "bus ticket",
            "concert",
            "event tickets",
            "tickets to",
            "tickets for",
            "movie tickets",
        ),
        "订票",
        "Ticket booking",
        "查询并预订车票、演出和电影票",
        "finds and books train, bus, event and movie tickets",
    ),
    TaskKind(
        "appointment-booking",
        ("预约", "挂号", "理发", "appointment", "dentist", "doctor", "salon", "haircut", "stylist"),
        "预约服务",
        "Appointment booking",
        "按用户的时间预约医生、理发等服务",
        "books appointments with doctors, dentists, salons and other services",
    ),
    TaskKind(
        "car-rental",
        ("租车", "rental car", "rent a car", "car rental", "hire a car"),
        "租车",
        "Car rental",
        "按用户的要求租车",
        "rents cars for the dates and places this user needs",
    ),
    TaskKind(
        "money-transfer",
        ("转账", "汇款", "付款", "transfer money", "send money", "make a payment", "money transfer"),
        "转账付款",
        "Money transfers",
        "按用户的指示转账付款并确认",
        "sends payments and transfers and confirms them",
    ),
    TaskKind(
        "home-search",
        ("租房", "买房", "看房", "公寓", "apartment", "house to rent", "place to rent", "property"),
        "找房",
        "Home search",
        "按用户的条件找房、约看房",
        "finds homes to rent or buy and schedules visits",
    ),
    TaskKind(
        "media-playback",
        ("播放", "放首歌", "听歌", "play a song", "play the song", "play some music", "playlist"),
        "播放音乐与视频",
        "Music and media playback",
        "按用户的喜好找并播放音乐、视频",
        "finds and plays music and videos",
    ),
    TaskKind(
        "alarm-reminder",
        ("闹钟", "提醒我", "alarm", "remind me", "reminder"),
        "闹钟与提醒",
        "Alarms and reminders",
        "设置闹钟和提醒",
        "sets alarms and reminders",
    ),
    TaskKind(
        "meal-planning",
        ("菜谱", "食谱", "做饭", "晚餐", "recipe", "meal", "cook", "dinner"),
        "餐食规划",
        "Meal planning",
        "规划餐食和菜谱",
        "plans meals and recipes",
    ),
    TaskKind(
        "fitness-planning",
        ("健身", "训练计划", "跑步", "减肥", "workout", "fitness", "training plan", "running"),
        "健身计划",
        "Fitness planning",
        "制定健身与训练计划",
        "makes workout and training plans",
    ),
    TaskKind(
        "shopping-advice",
        ("推荐买", "选购", "购买", "哪款", "buy", "purchase", "which model", "recommend a"),
        "购物建议",
        "Shopping advice",
        "比较商品并给出购买建议",
        "compares products and recommends what to buy",
    ),
    TaskKind(
        "study-planning",
        ("学习计划", "复习", "考试", "备考", "study plan", "exam", "learn"),
        "学习计划",
        "Study planning",
        "制定学习与备考计划",
        "makes study and exam preparation plans",
    ),
    TaskKind(
        "meeting-scheduling",
        ("会议", "日程", "安排时间", "meeting", "schedule a", "calendar"),
        "会议与日程安排",
        "Meetings and scheduling",
        "安排会议和日程",
        "arranges meetings and calendars",
    ),
)


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese keywords match anywhere; Latin ones only as whole words (plural allowed), so "script"
    does not fire inside "subscription" nor "trip" inside "strip"; `re:` marks a regular expression."""
    if keyword.startswith("re:"):
        return re.compile(keyword[3:])
    if has_cjk(keyword):
        return re.compile(re.escape(keyword))
    return re.compile(r"(?<![a-z0-9])" + re.escape(keyword) + r"(?:s|es)?(?![a-z0-9])")


_PATTERNS: dict[str, re.Pattern[str]] = {}


def kind_of_name(skill_name: str) -> TaskKind | None:
    """The kind a skill was named after (`email-writing`, `email-writing-2`), if any."""
    return next((k for k in KINDS if skill_name == k.name or skill_name.startswith(k.name + "-")), None)


def record_kind(title: str, goal: str) -> TaskKind | None:
    """A task's kind: what its title names, else what its title and goal together name."""
    return recognise([title]) or recognise([title, goal])


def recognise(texts: Sequence[str]) -> TaskKind | None:
    """The task kind whose keywords occur most often in `texts`, if any occurs."""
    joined = "\n".join(texts).lower()
    best: tuple[int, TaskKind] | None = None
    for kind in KINDS:
        hits = 0
        for keyword in kind.keywords:
            pattern = _PATTERNS.get(keyword) or _PATTERNS.setdefault(keyword, _keyword_pattern(keyword))
            hits += len(pattern.findall(joined))
        if hits and (best is None or hits > best[0]):
            best = (hits, kind)
    return None if best is None else best[1]


def _english_words(texts: Sequence[str]) -> list[str]:
    """The most frequent content words of `texts`, proper names left out (a capitalised word after the
    first of its text: "Villa Romano" names a restaurant, not the kind of task)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for index, match in enumerate(re.finditer(r"[A-Za-z][A-Za-z0-9]+", text)):
            word = match.group(0)
            if index and word[0].isupper():
                continue
            word = word.lower()
            if word not in STOPWORDS and len(word) > 2:
                counts[word] += 1
    return [word for word, _ in counts.most_common(4)]


_ZH_ACTIONS = (
    ("翻译", "translation"),
    ("预订", "booking"),
    ("预约", "booking"),
    ("订", "booking"),
    ("推荐", "recommendation"),
    ("找", "search"),
    ("查", "lookup"),
    ("规划", "planning"),
    ("计划", "planning"),
    ("安排", "planning"),
    ("写", "writing"),
    ("改", "editing"),
    ("算", "calculation"),
    ("解释", "explanation"),
)
"""What a Chinese request of no known kind asks for, by its verb, in the English of a skill name: the
name says what the skill does when no word of the request can be kept (a hash says nothing)."""


NEAREST_KIND = 0.35
"""A Chinese task of no recognised kind is named after the nearest kind of `task_kinds.json` when their
cosine is at least this. Chosen on the turn corpus's train and dev kinds (each Chinese conversation's
request against the 71 kinds' English words and descriptions, offline embedder): at .35 a name is
given to 46% / 45% of them and is their own kind 75% / 78% of the time (mostly a neighbour otherwise:
`workout-plan` for a running plan); on the test kinds 67% get one, 86% their own."""

Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


@lru_cache(maxsize=1)
def task_kinds() -> tuple[tuple[str, str], ...]:
    """The kinds a skill may be named after, as (name, its words and description)."""
    data = json.loads(resources.files("memskill").joinpath("task_kinds.json").read_text(encoding="utf-8"))
    return tuple((k["kind"], k["kind"].replace("-", " ") + ": " + k["about"]) for k in data["kinds"])


def nearest_kind(titles: Sequence[str], similarity: Similarity) -> str | None:
    """The kind of `task_kinds` nearest to the titles (their first), if near enough (`NEAREST_KIND`)."""
    title = next((t for t in titles if t.strip()), "")
    if not title:
        return None
    kinds = task_kinds()
    cosines = np.asarray(similarity([title], [text for _, text in kinds]))[0]
    best = int(np.argmax(cosines))
    return kinds[best][0] if float(cosines[best]) >= NEAREST_KIND else None


def _chinese_action(texts: Sequence[str]) -> str:
    joined = "".join(texts)
    found = [(joined.find(verb), english) for verb, english in _ZH_ACTIONS if verb in joined]
    return min(found)[1] if found else "request"


@dataclass(frozen=True)
class SkillNaming:
    name: str
    title: str
    description: str


def name_skill(
    titles: Sequence[str],
    goals: Sequence[str],
    language: str,
    taken: Sequence[str] = (),
    similarity: Similarity | None = None,
    kind: TaskKind | None = None,
) -> SkillNaming:
    """Name, title and description for a skill learned from tasks with these (generalised) titles and goals.

    The kind of task is `kind` (a skill keeps the kind it was named after, so that its name, title and
    description say one thing), else recognised from titles and goals; the description quotes a title.
    """
    texts = [*titles, *goals]
    # What was asked names the kind; the background around it ("a cover letter … 5 years of churn
    # dashboards") only when the requests name none.
    kind = kind or recognise(titles) or recognise(texts)
    goals = titles
    chinese = language == "zh" or any(has_cjk(t) for t in titles[:1])
    if kind is not None:
        name = kind.name
        title = kind.title_zh if chinese else kind.title_en
        # The request quoted as an example names no one occasion's values (a restaurant, a time):
        # the description must fit the next request of the kind.
        example = next((t for t in titles if t.strip() and not names_a_name(t)), "")
        if chinese:
            when = f"（如「{_short([example])}」）" if example else ""
            description = f"{kind.purpose_zh}。当用户提出类似任务{when}时使用。"
        else:
            when = f' (e.g. "{_short([example])}")' if example else ""
            description = f"Use when the user asks for a similar task{when}; {kind.purpose_en}."
    else:
        words = _english_words(texts)
        near = nearest_kind(titles or goals, similarity) if similarity and not words else None
        fallback = near or f"{_chinese_action(titles or goals)}-task"
        name = slugify("-".join(words[:3]), fallback=fallback) if words else fallback
        title = next((t for t in titles if t.strip() and not names_a_name(t)), titles[0] if titles else name)
        if chinese:
            description = f"完成「{_short(titles)}」这类任务的个人化做法。当用户提出类似请求时使用。"
        else:
            description = f'How this user wants tasks like "{_short(titles)}" done. Use for similar requests.'
    name = _unique(name, taken)
    return SkillNaming(
        name=name, title=title, description=description.replace("<", "‹").replace(">", "›")[:1024]
    )


def _short(texts: Sequence[str], limit: int = 40) -> str:
    """The first non-empty text, cut to `limit` characters at a word (English) or clause (Chinese) end."""
    text = next((t for t in texts if t.strip()), "").strip().replace("\n", " ")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    ends = [m.end() for m in re.finditer(r"[，,；;、]" if has_cjk(cut) else r"\s", cut)]
    at = max((e for e in ends if e >= limit // 2), default=len(cut))
    return cut[:at].rstrip(" ，,；;、") + "…"


def _unique(name: str, taken: Sequence[str]) -> str:
    if name not in taken:
        return name
    for number in range(2, 1000):
        candidate = f"{name[:60]}-{number}"
        if candidate not in taken:
            return candidate
    return name

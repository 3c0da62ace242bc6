"""How long what the user says holds: one day of the plan just shown, this time only, still lasting,
rules that hold in general, and rules of earlier tasks said again ("老规矩：…")."""

from __future__ import annotations

import re

from memskill.extract.prose import CJK, LIST_MARK
from memskill.text import content_tokens

ONE_DAY = re.compile(
    r"第[一二三四五六七八九十\d]+天|那天|这天|周[一二三四五六日天]那|\b(?:D|Day ?)\d|"
    r"\b(?:that|this|the (?:first|second|third|last)) day\b",
    re.I,
)
"""A later request or step about one day of the plan just shown ("第二天能不能把小雁塔也加上") changes that
plan, not how such tasks are done: it stays out of the skill. Narrower than `POINTS_AT_ANSWER`: "结果那
部分再具体一点" points at a part of the answer and still says how such answers should be."""
ONE_TIME = re.compile(
    r"\bthis (?:time|week)\b|\b(?:just )?for this one\b|\bjust for this\b|\btonight\b|\btomorrow\b"
    r"|这次|这回|本次|这一次|这周|明早|明天|今晚",
    re.I,
)
STILL_LASTING = re.compile(
    r"以后|每次|每回|一律|加一条|from now on|every time|each time|always|permanent|new rule|one more rule",
    re.I,
)
"""A step or limit the user says is for this time only ("leave dark mode out this time", "这次一室就够",
"一式三份明早找钱律师签字") is no rule of the kind, unless it also says it lasts ("这周加一条：以后…"):
closed words, since the scope model reads "this time" as lasting (.33) as often as not."""


_GENERAL_WORDS = (
    r"一般|平时|通常|向来|习惯|规矩|要求|原则"
    r"|\bin general\b|\bgenerally\b|\bmy rules\b|\bhow I (?:want|like)\b"
)
GENERAL_LEAD = re.compile(rf"(?:{_GENERAL_WORDS})[^:：\n]{{0,16}}[:：]", re.IGNORECASE)
"""A lead-in that says the rules after it hold in general ("我给爸妈买东西一般是这几个要求：", "how I want
these in general:"): the steps the turn gives after it are how such tasks are always done (preferences
too), whatever the scope model reads in each."""
_RULES_LEAD = re.compile(rf"{_GENERAL_WORDS}|{STILL_LASTING.pattern}|\brules\b", re.IGNORECASE)


def leads_rules(before: str) -> bool:
    """Whether the last line ending in a colon of `before` (what a turn says ahead of a listed point)
    says the points after it hold from now on ("this is how I want glaze batches done from now on, …:",
    "rules for every kiln schedule I ask you for:", "我收货的规矩你记一下，以后都按这个来：")."""
    leads = [line for line in before.split("\n") if line.rstrip().endswith((":", "："))]
    return bool(leads) and bool(_RULES_LEAD.search(leads[-1]))


AS_BEFORE = re.compile(
    r"老规矩|老样子|照旧|[跟和同照按]上次(?:一样|的|那样|来)|"
    r"\bsame (?:rules |as )(?:as )?(?:last (?:time|week|month)|before)|\bas usual\b|\blike last time\b",
    re.I,
)
"""Words that say a task is done as an earlier one was ("老规矩", "same as last time"): its rules are
said again (`listed_rules`) and the task is one the user had before (`cluster.Chooser`)."""
_LIST_HEAD = re.compile(r"^[^:：\n]{0,24}(?:[:：](?!\d)|\s[-–—]\s)")  # not the colon of "21:00"
MIN_LISTED = 3
"""A limit that lists at least this many rules, each a few words ("老规矩：每天最多俩景点、9点以后出门、一家
酒店住到底、不吃辣", "30 min max Mon-Thu, pizza friday, list by aisle, under $130"), is that many limits:
the span of one clause keeps only one of them, and each restates a rule of an earlier task."""


def listed_rules(text: str) -> list[str]:
    """The rules a clause lists after an optional lead-in, or [] when it lists fewer than `MIN_LISTED`
    short ones (at most 16 characters in Chinese, 10 words in English)."""
    body = LIST_MARK.sub("", _LIST_HEAD.sub("", text.strip())).strip(" 。.；;，,、!！")
    if CJK.search(body):
        parts, short = re.split(r"[、，,；;]", body), lambda part: len(part) <= 16
    else:
        parts, short = re.split(r"\s*[,;]\s*(?:and\s+)?", body), lambda part: len(part.split()) <= 10
    parts = [part.strip() for part in parts if part.strip() and not AS_BEFORE.fullmatch(part.strip())]
    if len(parts) < MIN_LISTED or not all(short(part) and content_tokens(part) for part in parts):
        return []
    return [part[:1].upper() + part[1:] for part in parts]

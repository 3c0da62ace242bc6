"""Facts about the user: the clauses the turn tagger labels `personal_fact`, in the third person.

"我住在杭州" → "用户住在杭州"; "I work night shifts" → "The user works night shifts.". A fact with a date
or a time in it ("下周我要去成都", "we fly out on May 3") is about this task's plans (`LongTermMemory`);
one without is about the user (`UserMemory`). Rewriting the subject is grammar (pronouns and the
English third-person verb), so it stays a rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from memskill.extract.prose import EN_CONTRACTIONS, clean_en, clean_zh, shorten
from memskill.extract.turns import Turn, read_turns
from memskill.models import FactDraft, Message
from memskill.text import has_cjk

MIN_CONFIDENCE = 0.5
"""Below this tagger probability a clause is not taken as a fact."""

# Dates and times are exact patterns: numbers with date units, weekdays, relative days.
_WHEN = re.compile(
    r"\d{1,4}\s*[年月日号点]|[上下这本]个?(?:周|星期|礼拜|月)|明天|后天|今晚|周末|五一|十一|国庆|春节|清明|端午|中秋|元旦|寒假|暑假|(?:星期|周|礼拜)[一二三四五六日天]"
    r"|\b(?:today|tonight|tomorrow|next (?:week|month|year|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)|this (?:week|weekend|month)|on (?:monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday)|in (?:january|february|march|april|may|june|july|august|september|october|november|december)"
    r"|\d{1,2}(?:st|nd|rd|th)\b|\d{1,2}:\d{2})",
    re.IGNORECASE,
)
_EN_IRREGULAR = {"am": "is", "are": "is", "have": "has", "do": "does", "go": "goes"}
_EN_MODALS = frozenset("was will can would should could might must had did".split())


def _zh_fact_value(text: str) -> str:
    text = text.replace("我们家", "用户家").replace("我们", "用户一行").replace("我的", "用户的")
    text = re.sub(r"(?<![自忘本唯])我", "用户", text)
    return "用户的" + text if text.startswith("预算") else text


def _third_person(verb: str) -> str:
    if verb in _EN_IRREGULAR or verb in _EN_MODALS:
        return _EN_IRREGULAR.get(verb, verb)
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    return verb[:-1] + "ies" if re.search(r"[^aeiou]y$", verb) else verb + "s"


def _en_fact_value(sentence: str) -> str:
    """The statement about the user in the third person ("I live in Berlin" → "The user lives…")."""
    text = clean_en(sentence)
    for short, full in EN_CONTRACTIONS:
        text = re.sub(rf"\b{re.escape(short)}\b", full, text, flags=re.IGNORECASE)
    match = re.match(r"^(I|We)\s+((?:\w+ly\s+)*)(\w+)\b", text, flags=re.IGNORECASE)
    if match:
        subject = "The user" if match.group(1).lower() == "i" else "The user's group"
        verb = _third_person(match.group(3).lower())
        text = f"{subject} {match.group(2)}{verb}{text[match.end() :]}"
    text = re.sub(r"^(?:My|Our)\b", "The user's", text)
    text = re.sub(r"\b(?:my|our)\b", "their", text)
    text = re.sub(r"\b(?:I am|I)\b", "they", text)
    return text + ("" if text.endswith((".", "!")) else ".")


def fact_value(clause: str) -> str:
    """The clause as a statement about the user, in the third person."""
    if has_cjk(clause):
        value = _zh_fact_value(clean_zh(clause))
        return value if "用户" in value else "用户：" + value
    return _en_fact_value(clause)


def extract_facts(messages: Sequence[Message], turns: Sequence[Turn] | None = None) -> list[FactDraft]:
    """Facts about the user (`UserMemory`) and the task's plans (`LongTermMemory`) from user messages."""
    facts: dict[str, FactDraft] = {}
    for turn in turns if turns is not None else read_turns(messages):
        about_user = (
            False  # a Chinese clause without a subject continues the one before ("我叫李明，今年28岁")
        )
        for tag in turn.tags:
            cleaned = clean_zh(tag.text) if has_cjk(tag.text) else ""
            starts_with_user = cleaned.startswith("我")
            if tag.label != "personal_fact" or tag.confidence < MIN_CONFIDENCE:
                about_user = starts_with_user
                continue
            if has_cjk(tag.text) and about_user and not re.match(r"^[我你他她它这那]", cleaned):
                value = fact_value("我" + cleaned)
            else:
                value = fact_value(tag.text)
            about_user = about_user or starts_with_user
            identity = re.sub(r"\W+", "", value.lower())
            if not identity:
                continue
            previous = facts.get(identity)
            if previous is not None:
                sources = tuple(dict.fromkeys((*previous.sources, turn.message.id)))
                facts[identity] = replace(previous, sources=sources)
                continue
            plan = bool(_WHEN.search(tag.text))
            facts[identity] = FactDraft(
                key=shorten(re.sub(r"^(?:用户的?|The user(?:'s)?)\s*", "", value), 30),
                value=value,
                memory_type="LongTermMemory" if plan else "UserMemory",
                sources=(turn.message.id,),
                confidence=round(min(0.95, tag.confidence), 2),
            )
    return list(facts.values())

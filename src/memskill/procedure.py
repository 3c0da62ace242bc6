"""A task record's procedure steps: which of the user's instructions are steps an agent can follow, in
the order they came, and the steps the assistant's side adds (questions to ask first, the accepted
answer's shape and named parts, what the user asked about). `synthesize` merges them into the skill.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memskill.extract.prose import shorten
from memskill.extract.substance import POINTERS
from memskill.extract.tools import called_tool
from memskill.generalise import parts_of_speech
from memskill.models import TaskRecord
from memskill.skill_items import (
    ASK_OPENING,
    FOLLOW_UP_OPENING,
    LIST_SEPARATOR,
    SHAPE_OPENING,
    overlap,
    part_step,
)
from memskill.text import CJK, content_tokens

_LEADING_PUNCTUATION = re.compile(r"^[\s。，,.;；:：!！?？、…~～-]+")
_PROCEDURAL = re.compile(
    r"^(?:先|首先|每次|然后|再|最后|之前|出发前|规划前|提前)|前先|(?:^|\b)(?:first|before|then)\b", re.I
)


_META = re.compile(r"^先?说(?:一下|好)|(?:我|用户)的(?:风格|情况|要求)$|^(?:回到|接着说|继续)")


_NOMINAL = set("nrxmquc")
"""jieba's tags of nouns, pronouns, punctuation, numbers, measure words, particles and conjunctions: a
Chinese step made of these alone names things and says nothing to do."""


_STATES = re.compile(r"(?:the user|i|we|it|they|there)\b", re.I)
"""An English step that opens with its subject states something; a step to follow opens with its
verb ("Use…", "Always show…") or when to do it ("Before…")."""


def clean(text: str) -> str:
    return _LEADING_PUNCTUATION.sub("", text).strip()


def _is_step(step: str, preferences: Sequence[str]) -> bool:
    """A useful procedure step: long enough, and not merely a restated preference (unless it orders work)."""
    words = len(re.findall(r"[A-Za-z]+", step)) + len(re.findall(r"[\u4e00-\u9fff]", step)) / 2
    if words < 2 or _META.search(step):
        return False
    if CJK.search(step) and all(flag[:1] in _NOMINAL for _, flag in parts_of_speech(step)):
        return False  # "博物馆、古迹这些": only things named, nothing to do
    if len([word for word in content_tokens(step) if word not in POINTERS]) <= 1:
        return False  # "Write it that way": a verb and a pointer
    if _STATES.match(step):
        return False  # "The user is looking to make a reservation": says how things are, not what to do
    if _PROCEDURAL.search(step) or called_tool(step) is not None:
        return True  # a call of a tool restates no preference, whatever words its arguments share
    return not any(overlap(step, preference) >= 0.5 or step in preference for preference in preferences)


def record_steps(record: TaskRecord) -> list[tuple[str, float]]:
    """A record's procedure steps with their place in the task (0 first, 1 last): what to confirm
    first (the assistant's questions the user answered), the user's instructions and the tools called,
    in the order they came, then the shape of the answer the user accepted."""
    zh = record.language == "zh"
    separator = "；" if zh else "; "
    preferences = [*record.preferences, *record.corrections, *record.requirements]
    found: list[tuple[str, float]] = []
    if record.asked:
        asked = separator.join(shorten(q, 30 if zh else 80) for q in record.asked)
        found.append((ASK_OPENING["zh" if zh else "en"] + asked, 0.0))
    own = list(dict.fromkeys(clean(s) for s in record.steps if _is_step(clean(s), preferences)))
    # A wish about when or in which order to work ("提前确认天气", "always run the tests first") is a
    # step as well as a preference.
    own += [p for p in dict.fromkeys(clean(p) for p in preferences) if _PROCEDURAL.search(p) and p not in own]
    for index, step in enumerate(own):
        found.append((step, 0.25 + 0.5 * index / max(1, len(own) - 1)))
    if record.shape:
        opening = SHAPE_OPENING["zh" if zh else "en"]
        found.append((opening + ("，" if zh else ", ").join(record.shape), 0.9))
    if record.follow_ups:
        found.append(
            (FOLLOW_UP_OPENING["zh" if zh else "en"] + LIST_SEPARATOR[zh].join(record.follow_ups), 0.85)
        )
    # Each named part of the accepted answer ("注意：…", "## Risks"), after the shape that lists them.
    for index, part in enumerate(record.parts):
        name, _, gist = part.partition(": ")
        found.append((part_step(name, gist, zh), 0.91 + 0.01 * index))
    return found

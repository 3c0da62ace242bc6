"""Preferences and corrections: the clauses the turn tagger labels as a like, a dislike, a standing
rule, a limit or a correction, each written as a short statement with its span.

- **Which clauses.** Those to which the tagger gives the labels `like`, `dislike` and
  `standing_rule` together at least `MIN_MASS`, read as the likeliest of the three: what the user
  wants in general. Limits and corrections of one task ("最多五条", "make it shorter") stay in the task
  record (`record.instructions`), where they reach the task's skill; sent as feedback they are
  preferences too. Complaints alone ("太长了") are not preferences:
  they say that something is wrong, not what to do; the instruction that follows one in the same turn
  ("太长了，以后控制在200字以内") is a correction.
- **Wording.** A like or dislike becomes a statement about the user in the third person ("I get
  seasick" → "The user gets seasick."), as facts are; a rule, limit or correction is an instruction
  already, and keeps its clause cleaned of fillers ("以后控制在200字以内"). The clause is kept in
  `reasoning`, and the tagger's span of the wish feeds its topic.
- **Polarity.** +1 like, -1 dislike, 0 for instructions (which still replace an older preference on
  the same topic when they correct it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from memskill.extract.facts import fact_value
from memskill.extract.prose import CJK, clean_en, clean_zh, shorten
from memskill.extract.turns import Turn, read_turns
from memskill.models import Message, PreferenceDraft
from memskill.tagger import Tag
from memskill.topics import topic_of

MIN_MASS = 0.45
"""A clause states a preference when the tagger gives the labels asked for together at least this
probability (then it is read as the likeliest of them). Chosen on the corpus's dev kinds (see
docs/benchmarks.md, "turns")."""

PREFERENCE_LABELS = ("like", "dislike", "standing_rule")
"""What the user wants in general: stored as preference memories."""
REQUIREMENT_LABELS = ("constraint", "correction")
"""What the user asks of this task's result: kept in the task record (and so in its skill), and stored
as preferences only when the user sends them as feedback."""
FEEDBACK_LABELS = ("step", "task_request")
"""Feedback asks for no new task: an instruction in it, however phrased, is how to do the task."""
_POLARITY = {"like": 1, "dislike": -1}
_REASONS = {
    "zh": {
        "like": "说了喜欢或偏好",
        "dislike": "说了不喜欢或想避免",
        "standing_rule": "给了以后都适用的要求",
        "constraint": "提了这次任务的要求",
        "correction": "纠正了上一个回答",
        "step": "说了怎么做",
        "task_request": "说了怎么做",
    },
    "en": {
        "like": "said they like or prefer it",
        "dislike": "said they dislike or avoid it",
        "standing_rule": "gave a standing instruction",
        "constraint": "stated a requirement",
        "correction": "corrected an answer",
        "step": "said how to do it",
        "task_request": "said how to do it",
    },
}


def statement(tag: Tag) -> str:
    """The preference a clause states: a like or dislike as a statement about the user, in the third
    person ("我比较喜欢逛文化景点" → "用户比较喜欢逛文化景点"); an instruction as it was given, fillers
    trimmed ("以后控制在200字以内")."""
    if tag.label in _POLARITY:
        return fact_value(tag.text).removeprefix("用户：")
    return clean_zh(tag.text) if CJK.search(tag.text) else clean_en(tag.text)


_ANCHORED = re.compile(
    r"^[^，,。]{0,4}?(?:对|跟|和|给|请|陪|带)?(?:这个|那个|这家|那家|这里|那里|它|他|她)(?:们)?"
)
_ANCHORED_EN = re.compile(
    r"\b(?:this one|that one|him|her|them|there)\b|\bit\b(?!\s+(?:when|if|whenever))", re.IGNORECASE
)
"""A wish whose object is only pointed at ("我对这个感兴趣", "我想请他吃饭"; in English `_ANCHORED_EN`: "I
love that one", "love to go there"): it is about a thing or person of this conversation, and cannot be
carried to another task."""


_PURPOSE = re.compile(
    r"^\W*(?:我好|好让我?|以便|不然|否则|要不然|so (?:that )?I can|otherwise|or else)", re.IGNORECASE
)
"""A clause that says what a request is for or what happens without it ("…先查天气，我好决定带什么衣服",
"…别安排行程，不然整趟玩下来会很痛苦"): the reason, not a wish."""


def anchored(tag: Tag) -> bool:
    """Whether a like or dislike names its object only by pointing at it (`_ANCHORED`), or only says
    what a request is for (`_PURPOSE`)."""
    if tag.label not in _POLARITY:
        return False
    if not CJK.search(tag.text):  # an English span often leaves the pronoun out ("[it] has free seats")
        return bool(_ANCHORED_EN.search(tag.text) or _PURPOSE.search(tag.text))
    return bool(_ANCHORED.search(tag.span or tag.text) or _PURPOSE.search(tag.text))


def turn_preferences(turn: Turn, labels: Sequence[str] = PREFERENCE_LABELS) -> list[tuple[Tag, bool]]:
    """The clauses of one turn that state one of `labels` (relabelled as the likeliest of them), each
    with whether it corrects an answer."""
    found: list[tuple[Tag, bool]] = []
    complained = False
    for tag in turn.tags:
        if tag.label == "complaint":
            complained = True
            continue
        if tag.mass(labels) >= MIN_MASS:
            label = max(labels, key=lambda name: tag.probabilities.get(name, 0.0))
            if anchored(replace(tag, label=label)):
                continue
            correction = label == "correction" or (complained and turn.reacting)
            found.append((replace(tag, label=label), correction))
    return found


def extract_preferences(
    messages: Sequence[Message], turns: Sequence[Turn] | None = None, feedback: bool = False
) -> list[PreferenceDraft]:
    """Preferences stated in the user messages of `messages`; other roles only give context. With
    `feedback` (the user's own correction sent through add/feedback) every instruction counts, as a
    correction."""
    labels = PREFERENCE_LABELS + REQUIREMENT_LABELS + FEEDBACK_LABELS if feedback else PREFERENCE_LABELS
    drafts: dict[str, PreferenceDraft] = {}
    if turns is None:
        turns = read_turns(messages, after_answer=True if feedback else None)
    for turn in turns:
        for tag, corrects in turn_preferences(turn, labels):
            correction = corrects or feedback
            text = statement(tag)
            key = re.sub(r"\W+", "", text.lower())
            if not key:
                continue
            previous = drafts.get(key)
            if previous is not None:
                sources = tuple(dict.fromkeys((*previous.sources, turn.message.id)))
                drafts[key] = replace(
                    previous, sources=sources, is_correction=previous.is_correction or correction
                )
                continue
            language = "zh" if CJK.search(tag.text) else "en"
            clause = shorten(tag.text, 160)
            reason = _REASONS[language][tag.label]
            drafts[key] = PreferenceDraft(
                text=text,
                preference_type="explicit_preference",
                reasoning=f"用户{reason}：「{clause}」"
                if language == "zh"
                else f'The user {reason}: "{clause}"',
                topic=topic_of(tag.span + " " + tag.text),
                polarity=_POLARITY.get(tag.label, 0),
                sources=(turn.message.id,),
                is_correction=correction,
            )
    return list(drafts.values())

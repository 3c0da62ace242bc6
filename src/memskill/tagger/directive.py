"""Directives: a user's wish, limit, rule, step or correction written as a short instruction.

"我比较喜欢逛文化景点，" → "优先逛文化景点"; "I'm trying to cut down on cheese." → "Avoid cheese". A skill's
preferences and steps are written this way, so an agent reads what to do, not what the user once said.

A directive is the clause's span (the learned span finder, `span.py`) without its edge punctuation and
linking words. A like or a dislike names an object ("文化景点", "cheese"), so it gets an opening that
keeps its polarity (`POLARITY`); a span that already says no ("不走回头路") needs none. When the span
models are unsure or the span is a single character ("说"), the clause without its speaker stands in,
since it cannot have lost the wish.

A learned opening model (trained on the corpus's clause → directive pairs) was tried: on the corpus's
test kinds it changed token F1 against the gold directives by .000 (zh) and +.002 (en) over this, at
2 MB of weights, and a learned choice among the corpus's openings flipped polarity on dev kinds
("用网上抄来的段子" for a dislike); it was removed.
"""

from __future__ import annotations

import re

from memskill.tagger.span import Spans
from memskill.text import has_cjk

_PUNCTUATION = re.compile(
    r"^[\s，,。.；;：:！!？?、…~～\-—\"'“”‘’()（）]+|[\s，,。.；;：:！!？?、…~～\-—\"'“”‘’(（]+$"
)
_LEAD = re.compile(
    r"^(?:(?:and|but|also|so|then|plus|oh)\b[\s,]*|(?:另外|还有|然后|而且|对了|哦|但是|但|不过)[，,\s]*)+",
    re.I,
)
"""Words that tie a clause to the one before it: not part of an instruction."""
_COURTESY = re.compile(
    r"^(?:please|kindly|pls)\b[\s,]*|[\s,]*\b(?:please|pls|thanks|thank you)$"
    r"|^麻烦(?:你)?|(?<=[\u4e00-\u9fff])(?:吧|哈|呀|啊|哦)+$",
    re.I,
)
"""Courtesy and softening at a clause's edges ("…in whole dollars please", "麻烦…", "…就这样吧"): an
instruction does not carry them."""
_NEGATION = re.compile(r"[不别没无免勿]|\b(?:no|not|never|avoid|don't|dont|without|skip|less)\b", re.I)
"""A span that already says no (or yes to a no: "不走回头路") is a directive as it stands."""
POLARITY = {
    ("zh", "like"): "优先",
    ("zh", "dislike"): "避免",
    ("en", "like"): "Prefer",
    ("en", "dislike"): "Avoid",
}
"""The opening of a like's or dislike's object ("文化景点", "cheese")."""
_CONTENT = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+")
MIN_SPAN = {"zh": 2, "en": 1}
"""A span with fewer Chinese characters or English words than this is not used."""
MIN_SPAN_CONFIDENCE = 0.25
"""Below this confidence of the span models, the directive is the clause without its speaker."""
_SPEAKER = re.compile(
    r"^(?:(?:但是?|而且|还有|另外|其实|不过|对了|哦|嗯)[，,]?\s*)?(?:我们|我)(?:比较|真的|也|都|还是|其实)*|"
    r"(?<=[\u4e00-\u9fff，,])\s*(?:我们|我)(?=比较|真的|更|也|都|最|特别|很|不|没|对)|"
    r"(?<=[，,])\s*(?:我们|我)(?:比较|真的|也|都)*|^(?:and |but |also |so )?(?:i'm|i am|i)\s+",
    re.I,
)
"""Who says it: "我" and its hedges at the start of a clause or before a verb of liking ("玩的地方我更喜欢
小众一点" → "玩的地方更喜欢小众一点"); an English "I"/"I'm" at the start."""


def compose(start: str, body: str) -> str:
    """The directive: its opening, then its body (a span or a clause) without edge punctuation."""
    body = _LEAD.sub("", _PUNCTUATION.sub("", body))
    body = _PUNCTUATION.sub("", _COURTESY.sub("", body)) or body
    if start and body.lower().startswith(start.lower()):
        start = ""
    if not start:
        out = body
    elif has_cjk(start[-1]) or has_cjk(body[:1] or "a"):
        out = start + body
    else:
        out = f"{start} {body}"
    return out[:1].upper() + out[1:] if not has_cjk(out[:1] or "a") else out


def rewrite(text: str, label: str, span: str, confidence: float = 1.0) -> str:
    """`text` (a clause labelled `label`, with its `span` and the span models' `confidence` in it) as a
    short directive."""
    language = "zh" if has_cjk(text) else "en"
    if confidence < MIN_SPAN_CONFIDENCE or len(_CONTENT.findall(span)) < MIN_SPAN[language]:
        return compose("", _SPEAKER.sub("", text))
    if label == "like" and _NEGATION.search(text) and not _NEGATION.search(span):
        return compose("", _SPEAKER.sub("", text))  # "…那种我真的没兴趣" read as a like: no "优先"
    if (language, label) in POLARITY and not _NEGATION.search(span):
        return compose(POLARITY[language, label], span)
    return compose("", span)


class Directives:
    """The directive writer over a span finder (for callers that have no span yet)."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans

    def rewrite(self, text: str, label: str, span: str = "") -> str:
        """`text` (a clause labelled `label`) as a short directive; `span` when already found."""
        found, confidence = self.spans.scored(text, label)
        return rewrite(text, label, span or found, confidence)

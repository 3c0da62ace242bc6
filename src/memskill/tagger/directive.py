"""Directives: a user's wish, limit, rule, step or correction rewritten as a short instruction.

"我比较喜欢逛文化景点，" → "多安排文化景点"; "商场什么的不太感兴趣。" → "不安排商场";
"I'm trying to cut down on cheese." → "Avoid cheese". A skill's preferences and steps are written this
way, so an agent reads what to do, not what the user once said.

The rewrite is deletion-based sentence compression plus an opening: a learned model decides for each
word of the clause whether the directive keeps it (first person, hedges, fillers and particles go), and
a second learned model picks the words that open the directive ("优先", "不安排", "Avoid", "Use", or
nothing) from the openings the corpus's directives use at least `MIN_OPENING` times. Both are trained on
the corpus's clause → directive pairs (`corpus/turns`, the `directive` field); which words were kept and
which opening was written is read off each pair by aligning the directive with its clause
(`alignment`, `opening`). The result is a few words, never a new fact: nothing is written that is
neither in the clause nor one of the learned openings.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from memskill.tagger.features import BUCKETS
from memskill.tagger.model import Model
from memskill.tagger.span import Spans, tokens
from memskill.text import has_cjk

MIN_OPENING = 15
"""An opening is a class of the opening model when this many training directives start with it."""

_PUNCTUATION = re.compile(
    r"^[\s，,。.；;：:！!？?、…~～\-—\"'“”‘’()（）]+|[\s，,。.；;：:！!？?、…~～\-—\"'“”‘’(（]+$"
)
_LATIN = re.compile(r"[a-z0-9']+")


def _name(token: str) -> str:
    return re.sub(r"\d+", "0", token.lower())


def alignment(text: str, directive: str) -> list[bool]:
    """Whether each word of `text` (as `span.tokens` cuts it) is kept in `directive`.

    A Chinese word of two or more characters is kept when it occurs in the directive; a one-character
    word when the characters line up (difflib's matching blocks), so a stray "的" is not counted.
    An English word is kept when the directive holds the same word (any case, a plural's "s" aside)."""
    words = tokens(text)
    lowered = directive.lower()
    latin = {w.rstrip("s") for w in _LATIN.findall(lowered)}
    aligned = [False] * len(text)
    matcher = SequenceMatcher(None, text.lower(), lowered, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.a, block.a + block.size):
            aligned[k] = True
    kept = []
    for word, start, end in words:
        if not word.strip() or _PUNCTUATION.fullmatch(word):
            kept.append(False)
        elif has_cjk(word[0]):
            kept.append(word in directive if len(word) > 1 else all(aligned[start:end]))
        else:
            kept.append(word.lower().rstrip("s") in latin)
    return kept


def opening(text: str, directive: str) -> str:
    """The words that open `directive` before the first word it keeps from `text` ("" when none)."""
    kept = [word for (word, _, _), keep in zip(tokens(text), alignment(text, directive)) if keep]
    lowered = directive.lower()
    first = min((lowered.find(word.lower()) for word in kept if word.lower() in lowered), default=-1)
    if first <= 0:
        return ""
    return _PUNCTUATION.sub("", directive[:first]).strip()


def opening_classes(pairs: Sequence[tuple[str, str, str]]) -> tuple[str, ...]:
    """The openings (besides "") that at least `MIN_OPENING` of the (text, label, directive) pairs use."""
    counts = Counter(opening(text, directive) for text, _, directive in pairs)
    common = sorted(o for o, n in counts.items() if o and n >= MIN_OPENING)
    return ("", *common)


def opening_label(found: str, classes: Sequence[str]) -> str:
    """`found` as one of `classes`: itself, else its longest ending that is a class ("节奏放慢，不安排" →
    "不安排"), else ""."""
    if found in classes:
        return found
    endings = [c for c in classes if c and found.endswith(c)]
    return max(endings, key=len) if endings else ""


def opening_features(text: str, label: str, span: str) -> np.ndarray:
    """Features of a clause for the opening model: its words, its first three, its span's first two
    and last one, and its label."""
    words = [_name(word) for word, _, _ in tokens(text) if word.strip()]
    inner = [_name(word) for word, _, _ in tokens(span) if word.strip()] or ["<none>"]
    names = [f"label:{label}", f"s^:{inner[0]}", f"s$:{inner[-1]}", f"{label}|s^:{inner[0]}"]
    names += [f"s^2:{'|'.join(inner[:2])}", f"{label}|s^2:{'|'.join(inner[:2])}"]
    names += [f"w:{w}" for w in words] + [f"{label}|w:{w}" for w in words]
    names += [f"^{i}:{w}" for i, w in enumerate(words[:3])]
    names += [f"b:{a}|{b}" for a, b in zip(words, words[1:])]
    slots = {zlib.crc32(f"o|{name}".encode()) & (BUCKETS - 1) for name in names}
    return np.array(sorted(slots), dtype=np.int64)


_LEAD = re.compile(
    r"^(?:(?:and|but|also|so|then|plus|oh)\b[\s,]*|(?:另外|还有|然后|而且|对了|哦|但是|但|不过)[，,\s]*)+",
    re.I,
)
"""Words that tie a clause to the one before it: not part of an instruction."""


def compose(start: str, body: str) -> str:
    """The directive: its opening, then its body (the clause's span) without edge punctuation."""
    body = _LEAD.sub("", _PUNCTUATION.sub("", body))
    if start and body.lower().startswith(start.lower()):
        start = ""
    if not start:
        out = body
    elif has_cjk(start[-1]) or has_cjk(body[:1] or "a"):
        out = start + body
    else:
        out = f"{start} {body}"
    return out[:1].upper() + out[1:] if not has_cjk(out[:1] or "a") else out


_NEGATION = re.compile(r"[不别没无免勿]|\b(?:no|not|never|avoid|don't|dont|without|skip|less)\b", re.I)
"""A span that already says no (or yes to a no: "不走回头路") is a directive as it stands."""
POLARITY = {
    ("zh", "like"): "优先",
    ("zh", "dislike"): "避免",
    ("en", "like"): "Prefer",
    ("en", "dislike"): "Avoid",
}
"""The opening of a like's or dislike's object ("文化景点", "cheese"). The corpus's own openings for
these are verbs of one domain ("多安排", "Use"), and a learned choice among them flipped polarity on the
dev kinds ("用网上抄来的段子" for a dislike), so the two labels get these fixed, polarity-keeping ones."""


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


class Directives:
    """The directive writer: the span finder and the opening model (without a model, the span)."""

    def __init__(self, spans: Spans, opener: Model | None) -> None:
        self.spans, self.opener = spans, opener

    def rewrite(self, text: str, label: str, span: str = "") -> str:
        """`text` (a clause labelled `label`) as a short directive: an opening, then its span."""
        found, confidence = self.spans.scored(text, label)
        span = span or found
        language = "zh" if has_cjk(text) else "en"
        if confidence < MIN_SPAN_CONFIDENCE or len(_CONTENT.findall(span)) < MIN_SPAN[language]:
            # An unsure span, or one of one character ("说"), may have lost the wish: the clause,
            # without who says it, says it better.
            return compose("", _SPEAKER.sub("", text))
        if label == "like" and _NEGATION.search(text) and not _NEGATION.search(span):
            return compose("", _SPEAKER.sub("", text))  # "…那种我真的没兴趣" read as a like: no "优先"
        if (language, label) in POLARITY:
            return compose("" if _NEGATION.search(span) else POLARITY[language, label], span)
        if self.opener is None:
            return compose("", span)
        scores = self.opener.probabilities([opening_features(text, label, span)])[0]
        start = self.opener.labels[int(scores.argmax())]
        if _NEGATION.search(start) and _NEGATION.search(span):
            start = ""  # "不" before "别走回头路" would say the opposite
        return compose(start, span)

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
    r"^(?:(?:and|but|also|so|then|plus|oh)\b[\s,]*|(?:另外|还有|然后|而且|对了|哦|但是|但|不过|还是|老规矩|老样子|照旧)[，,：:\s]*)+",
    re.I,
)
"""Words that tie a clause to the one before it, or say it holds as before ("老规矩，先查天气"): not part of
an instruction."""
_COURTESY = re.compile(
    r"^(?:please|kindly|pls)\b[\s,]*|[\s,]*\b(?:please|pls|thanks|thank you)$"
    r"|^麻烦(?:你)?|(?<=[\u4e00-\u9fff])(?:吧|哈|呀|啊|哦)+$|[，,\s]*(?:谢谢(?:你|您)?|谢啦|多谢)$",
    re.I,
)
"""Courtesy and softening at a clause's edges ("…in whole dollars please", "麻烦…", "…就这样吧"): an
instruction does not carry them."""
_ASKING = re.compile(r"能不能|可不可以|能否|可否|(?<=[\u4e00-\u9fff])(?:好|可以|行)?[吗呢]$")
"""A wish asked as a question ("…能不能换成在家就能做的"): the instruction drops the asking."""
_FOR_ME = re.compile(
    r"(?<=[\u4e00-\u9fff])(?:(?:帮|给|替)我(?!们)|一下)(?=[\u4e00-\u9fff])|^(?:帮|给|替)我(?!们)"
)
""""帮我", "给我" and "一下" inside a request ("每次规划前先帮我查一下天气" → "每次规划前先查天气"): an
instruction to an agent says what to do, not for whom or how briefly."""
_USER_ZH = re.compile(r"(?<!自)我(?!们)")
""""我" left inside a Chinese instruction ("…，方便我准备行李") is the user: an instruction to an agent names
them so ("方便用户准备行李"), as the corpus's directives do ("我们" may be the user's team: kept)."""
_PAST = (
    "built|set|made|wrote|got|did|had|took|gave|led|ran|found|started|used|added|moved|worked|owned"
    "|created|launched|shipped|designed|managed|wanted|needed|said|told|asked|tried|learned|saw|went"
)
_USER_EN = (
    (re.compile(r"\s*\b(?:for|to|with) me\b", re.I), ""),
    (re.compile(r"\b(?:I am|I'm)\b"), "the user is"),
    (re.compile(r"\b(?:I have|I've)\b"), "the user has"),
    (re.compile(r"\bI'd\b"), "the user would"),
    (re.compile(r"\bI'll\b"), "the user will"),
    (
        re.compile(r"\bI (can|could|should|will|would|must|may|might|was|" + _PAST + r"|\w+ed)\b"),
        r"the user \1",
    ),
    (
        re.compile(r"\bI (want|need|like|prefer|get|use|know|care|think|feel|mean|hate|love|find|plan)\b"),
        r"the user \1s",
    ),
    (re.compile(r"\b(?:my|mine)\b", re.I), "the user's"),
    (re.compile(r"\bmyself\b", re.I), "themselves"),
    (re.compile(r"\bme\b"), "the user"),
)
"""The user speaking left inside an English instruction ("Mention the dbt tests I set up", "…so I get real
links", "keep my review docs in first person"): an instruction to an agent names them ("…the user set
up", "…so the user gets real links", "…the user's review docs…"), as the corpus's directives do; "for
me" goes ("anything you write for me"), an "I" whose verb would need another form stays, and quoted
words stay as said."""
_QUOTED = re.compile(r"(\"[^\"]*(?:\"|$)|“[^”]*(?:”|$)|(?<!\w)'[^']*(?:'(?!\w)|$))")


def user_en(text: str) -> str:
    """An English instruction with the speaking user named (`_USER_EN`), outside quotes."""
    pieces = _QUOTED.split(text)
    for index in range(0, len(pieces), 2):  # the odd pieces are quoted
        for pattern, replacement in _USER_EN:
            pieces[index] = pattern.sub(replacement, pieces[index])
    return "".join(pieces)


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
    r"^(?:(?:但是?|而且|还有|另外|其实|不过|对了|哦|嗯)[，,]?\s*)?(?:我们|我)(?:家里?人?)?(?:比较|真的|也|都|还是|其实)*"
    r"(?:(?:都|已经)?说(?:了|过)(?=[\u4e00-\u9fff]{2}))?|"
    r"(?<=[\u4e00-\u9fff，,])\s*(?:我们|我)(?=比较|真的|更|也|都|最|特别|很|不|没|对)|"
    r"(?<=[，,])\s*(?:我们|我)(?:比较|真的|也|都)*|"
    r"^(?:and |but |also |so )?(?:i'd|i would)\s+(?:rather|much rather|prefer to|prefer|like to)?\s*|"
    r"^(?:and |but |also |so )?(?:i'm|i am|i)\s+",
    re.I,
)
"""Who says it: "我" ("我们家": the household speaking) and its hedges at the start of a clause or before
a verb of liking ("玩的地方我更喜欢小众一点" → "玩的地方更喜欢小众一点"); an English "I"/"I'm", or "I'd
rather" and its kin, at the start."""
_FEELING = re.compile(
    r"^(?:really |just |also |do |kind of )*(?:(?P<against>hate|dislike|can't stand|cannot stand|don't like|"
    r"do not like|don't want|do not want)|love|like|enjoy|prefer)\s+"
    r"|^(?:很|真的|特别|非常|最)?(?:(?P<zh_against>讨厌|不喜欢|反感|受不了|不想要)|喜欢|爱吃|偏爱)(?=\S)",
    re.I,
)
"""A verb of liking or disliking opening a span ("hate plastic favours", "讨厌香菜"): the directive says the
same with its polarity's opening ("Avoid …", "避免…")."""
_QUOTES = (("“", "”"), ("「", "」"), ("『", "』"), ("(", ")"), ("（", "）"))
"""Pairs a span may open and stop before closing ("标题改成“复盘与改进"), or begin inside ("巴适”换成
“安逸")."""


def plain_zh(text: str) -> str:
    """A Chinese request or wish as said to an agent: without its asking ("能不能…", "…好吗"), "帮我" /
    "给我" and "一下" (`_ASKING`, `_FOR_ME`). Directives and the record's request steps both read so."""
    text = _ASKING.sub("", text) or text
    return _FOR_ME.sub("", text) or text


def compose(start: str, body: str) -> str:
    """The directive: its opening, then its body (a span or a clause) without edge punctuation."""
    body = _LEAD.sub("", _PUNCTUATION.sub("", body))
    body = _PUNCTUATION.sub("", _COURTESY.sub("", body)) or body
    body = plain_zh(body)
    body = _USER_ZH.sub("用户", body) if has_cjk(body) else user_en(body)
    for opening, closing in _QUOTES:
        if closing in body and (opening not in body or body.index(closing) < body.index(opening)):
            body = opening + body  # the span began inside a quote: "巴适”换成“安逸"
        if body.count(opening) > body.count(closing):
            body += closing
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
        body = _SPEAKER.sub("", text)
        return _felt(body, label, language) or _topic_felt(body, label) or compose("", body)
    if label == "like" and _NEGATION.search(text) and not _NEGATION.search(span):
        return compose("", _SPEAKER.sub("", text))  # "…那种我真的没兴趣" read as a like: no "优先"
    span = _SPEAKER.sub("", span) or span  # a span that took in its speaker ("I'd rather avoid …")
    span = _with_negation(text, span)
    felt = _felt(span, label, language)
    if felt:
        return felt
    if (language, label) in POLARITY and not _NEGATION.search(span):
        return compose(POLARITY[language, label], span)
    return compose("", span)


_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:never|don't|dont|do not|no|not)\s+(?:[a-z]+\s+)?"
    r"|(?:千万|绝对|一定)?(?:不要|不能|不用|不必|勿|(?<![特区分告离识性类级差辨])别)[\u4e00-\u9fff]{0,2})$",
    re.I,
)


def _with_negation(text: str, span: str) -> str:
    """The span with the "never" / "别" said just before it in the clause: a span that leaves out the
    word that negates it would turn "Never write 'we apologize…'" into its opposite."""
    start = text.find(span)
    if start <= 0 or _NEGATION.search(span):
        return span
    before = _NEGATION_BEFORE.search(text[:start])
    return text[before.start() : start] + span if before else span


_TOPIC_FELT = re.compile(
    r"^(?:对于|对)?(?P<topic>[\u4e00-\u9fff]{1,8}?)(?:什么的|之类的|这种|这类|这些|那种)?(?:我们|我)?"
    r"(?:真的|实在|其实|也|都|一般)?(?:不太|不大|不怎么|不|没)(?:太|什么)?(?:感兴趣|兴趣|喜欢|爱吃|爱|想去|想吃)"
    r"(?:了|啊|呀)?[。！!，,\s]*$"
)
"""A Chinese dislike that names its object first and ends on the feeling denied ("商场什么的不太感兴趣",
"海鲜不爱吃"); "我个人不太喜欢送烟酒" names its subject first and its object after."""


def _topic_felt(body: str, label: str) -> str:
    """A dislike said topic first as "避免" + its topic; "" otherwise."""
    found = _TOPIC_FELT.match(_LEAD.sub("", body.strip())) if label == "dislike" else None
    return compose(POLARITY["zh", "dislike"], found.group("topic")) if found else ""


def _felt(body: str, label: str, language: str) -> str:
    """A like or dislike that opens with its verb ("hate plastic party favours") with the polarity's
    opening instead ("Avoid plastic party favours"); "" when it opens otherwise."""
    feeling = _FEELING.match(_LEAD.sub("", body.strip())) if label in ("like", "dislike") else None
    rest = _LEAD.sub("", body.strip())[feeling.end() :] if feeling else ""
    if not feeling or not _CONTENT.search(rest):
        return ""
    if re.match(r"(?:to|it|that|this|when|if)\b", rest, re.I):
        return compose("", body)  # "love it when you add examples": no object to put after "Prefer"
    disliked = bool(feeling.group("against") or feeling.group("zh_against"))
    return compose(POLARITY[language, "dislike" if disliked else "like"], rest)


class Directives:
    """The directive writer over a span finder (for callers that have no span yet)."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans

    def rewrite(self, text: str, label: str, span: str = "") -> str:
        """`text` (a clause labelled `label`) as a short directive; `span` when already found."""
        found, confidence = self.spans.scored(text, label)
        return rewrite(text, label, span or found, confidence)

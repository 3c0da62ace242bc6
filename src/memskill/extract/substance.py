"""Whether a clause says anything an agent could follow for the next task of its kind: not only asking
for another option, pointing back, announcing what follows, naming a person or reading a measurement
of this task."""

from __future__ import annotations

import re

from memskill.extract.prose import CJK
from memskill.extract.scope_words import AS_BEFORE
from memskill.text import content_tokens

POINTERS = frozenset(
    "it that this way same like before again so 那样 这样 这个 那个 一样 照 按 上次 之前 刚才".split()
)
"""Words that only point at something said before ("so please write it that way", "就按那样写"): a step
of a verb and these says nothing an agent could follow."""


_NO_OBJECT_EN = frozenset(
    """search look find try show give get book make do change changed mind something anything else other
    others another different options option one ones some any more again instead actually right now wait
    hold uh um won work works fine okay ok user please thing things just really two three few several
    couple new rule rules point points help favour favor quick usual all""".split()
)
_NO_OBJECT_ZH = re.compile(
    r"换个?|别的|其他|其它|另外|另一个|一个|再|找找?|看看|一下|帮|忙|的|吧|了|呢|个|让你|你"
    r"|这个|那个|这样|那样|这么|那么|一样|都|按|照|来|以后|今后|加上|就行|就好"
    r"|[两几三]个?地方|(?<![\u4e00-\u9fff])改一?下|删掉|去掉|加一[条句]|这次|这回"  # not the 改 of 批改
)
"""What asking for another option is made of ("Search for something else", "Do you have other options",
"换个别的", "再找找其他的"), or announcing what follows ("Two things.", "One new rule:", "再帮个忙", "想让你
帮忙", "两个地方改一下"), or pointing back ("都按这个来", "都这么放", "以后都加上"): an instruction of these
alone names nothing the user wants, and a request of these alone names no task."""


def says_what(text: str) -> bool:
    """Whether a limit or correction names something the user wants ("换成博物馆", "Under 250 words"),
    rather than only asking for another option or holding the talk ("换个别的", "Wait", "That won't
    work"): only such a one is a preference or a lesson for the next task."""
    if _REASON.match(text.strip()):
        return False  # "Otherwise it wrecks the rotation", "省得一道道去对": why, cut off a wish
    if CJK.search(text):
        if len(CJK.findall(text)) <= 10 and _NUMBER.search(text) and not _LIMIT_WORD_ZH.search(text):
            return False  # "201 密码 4852#", "住201和202两间": this booking's data, not a rule
        left = len(CJK.findall(_NO_OBJECT_ZH.sub("", text)))
        # "以后体检的都加上这个": the rule is the one it points at, said before
        return left >= 2 and not (_POINTER_ZH.search(text) and left <= 3)
    if _POINTING_RULE.search(text):
        return False  # "Keep it that way for every set", "That goes for every blurb from now on"
    if _BARE_NAME.fullmatch(text.strip()) or (_ONE_PERSON.search(text) and len(text.split()) <= 4):
        # "Tony," of a list of names ("old hands: Margaret, Sheila, Tony, …"), "Great Elm," of an
        # address; "Leave her off", "Can you swap her": what to do about one person of this task
        return False
    if _SOMEONE_DOES.match(text.strip()) and not _SOMEONE_WANTS.search(text):
        return False  # "He loves Dafydd Iwan", "Rhian from biology is coming": what someone does or is
    if len(text.split()) <= 4 and _NUMBER.search(text) and not _LIMIT_WORD.search(text):
        return False  # "60% cloud, dry", "End 15C": a reading of this task, not a limit on the next
    text = AS_BEFORE.sub("", text)  # "Same as last time, usual shifts and names" points back
    return any(word not in _NO_OBJECT_EN and word not in POINTERS for word in content_tokens(text))


_LIMIT_WORD_ZH = re.compile(
    r"都|用|要|别|不|只|才|每|最|内|以上|以下|前|后|超|至少|多|少|字|句|页|行|条|元|块|个|分钟|小时|控制|保持|写|加|放|按|比"
)
"""Words of a Chinese rule with a number in it ("尾数都用8", "200字以内", "每晚减50", "9点以后出门")."""
_REASON = re.compile(
    r"(?:otherwise|because|since|so that|'cause|cos)\b|(?:否则|不然|要不然|因为|省得|免得|以免)", re.I
)
_POINTER_ZH = re.compile(r"这个|这样|那样|这条|这些|那些")
_POINTING_RULE = re.compile(
    r"^(?:keep|do|make) (?:it|them|that|this) (?:that|this|the same) way\b|^(?:that|this|same|it) goes for\b",
    re.I,
)
_SOMEONE_DOES = re.compile(
    r"(?i:he|she|they|dad|mum|mom)(?:'ll|'s|'d|'re| (?:is|was|will|would|has|had|does|did|can|always|never"
    r"|loves|works|lives|goes|went|picked|says|said|gets|got|comes|came)\b)"
    r"|[A-Z][a-z]+(?: from [a-z ]+)? (?:loves|lives|picked|caught)\b"
    r"|[A-Z][a-z]+ from [a-z ]+ (?:is|was|will)\b"
)
"""What someone else does or is ("He loves Dafydd Iwan", "Rhian from biology is coming to help"): a fact
read as a rule. Not "Price is per night" nor "Everything works offline": a noun before "is" or "works"
may be a part of the answer (a rule's first word is capitalised like a name)."""
_SOMEONE_WANTS = re.compile(r"\b(?:wants?|likes?|prefers?|needs?|hates?|asks?|expects?|insists?)\b", re.I)
_BARE_NAME = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}[,.;]?")
_ONE_PERSON = re.compile(r"\b(?:her|him)\b", re.I)
_NUMBER = re.compile(r"(?<![A-Za-z])\d|\d(?![A-Za-z\d])")  # not the 3 of "what3words"
_LIMIT_WORD = re.compile(
    r"\b(?:max|maximum|min|minimum|under|over|at most|at least|no more|no less|up to|within|per|each|every"
    r"|only|less|fewer|more|limit|cap|below|above|round|rounded|words?|characters?|pages?|lines?)\b"
    r"|\d\s?(?:pt|px)\b",
    re.I,
)

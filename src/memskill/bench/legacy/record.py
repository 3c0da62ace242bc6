"""The old request and step rules of the task record (frozen: the baseline of the turn tagger)."""

from __future__ import annotations

import re

from memskill.bench.legacy.facts import _ACKNOWLEDGEMENT
from memskill.bench.legacy.preferences import _ZH_HYPOTHETICAL
from memskill.extract.prose import CJK as _CJK
from memskill.extract.prose import any_of as _any
from memskill.extract.prose import clean_en as _clean_en
from memskill.extract.prose import clean_zh as _clean_zh
from memskill.extract.prose import normalise_en as _normalise_en

# ================================================================ task record

_ZH_REQUEST = re.compile(
    r"^(?:请|麻烦)|帮我|给我|替我|帮忙|^(?:能不能|可以|能否|能)帮"
    r"|^我(?:想|要|需要|打算)?" + _any("规划|安排|订|预订|查|找|了解|写|做|整理")
    + "|^" + _any(r"""规划|安排|推荐|查询?|查找|查看|预订|订|列出|列|写|整理|总结|翻译|生成|
    设计|制定|计算|比较|介绍|看看|找|做|给出|提供""")
)  # fmt: skip
_EN_REQUEST = re.compile(
    "^"
    + _any(r"""please |can you |could you |would you |will you |help me |i need you to |
    i want you to |i would like you to |let us |i need (?:a|an|some|to)\b|
    i want (?:a|an|some|to)\b|i would like (?:a|an|some|to)\b""")
    + "|^"
    + _any(r"""plan|book|find|search|look up|check|write|make|create|give|list|show|tell|explain|
    summari[sz]e|translate|recommend|suggest|compare|draft|generate|build|fix|convert|add|remove|
    update|calculate|estimate|design|organi[sz]e|prepare|send|schedule|arrange|rewrite|describe|
    help|review|run|test|debug|refactor|analy[sz]e|pull|query|proofread|edit""")
    + r"\b"
)
_PROCEDURAL = re.compile(r"^先|^然后|^再|^最后|^接着|^(?:first|then|after that|finally|next)\b", re.I)
_ZH_STEP_VERBS = (("查一下", "查询"), ("查查", "查询"), ("看一下", "查看"), ("找一下", "查找"))
_STEP_KINDS = frozenset({"prohibit", "standing", "wish", "procedure", "require"})
_EN_ASKING = re.compile(
    r"^(?:can you|could you|would you|will you|i need you to|i want you to|i would like you to|"
    r"i'd like you to)\s+",
    re.IGNORECASE,
)


def _is_step(clause: str) -> bool:
    if _CJK.search(clause):
        cleaned = _clean_zh(clause)
        request = bool(_ZH_REQUEST.search(cleaned)) and not _ZH_HYPOTHETICAL.search(cleaned)
    else:
        cleaned = _normalise_en(_clean_en(clause))
        request = bool(_EN_REQUEST.search(cleaned))
    if not cleaned or _ACKNOWLEDGEMENT.match(cleaned):
        return False
    return request or bool(_PROCEDURAL.search(cleaned))

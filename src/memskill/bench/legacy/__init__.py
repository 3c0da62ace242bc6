"""The phrase rules memskill read user turns with before its turn tagger, frozen as a baseline.

`memskill bench quality --only turns` prints them beside the tagger on the same clauses. They are
what `memskill.extract` held until the tagger replaced them (preferences, requests and steps,
acknowledgements, facts), copied unchanged but for the parts that assembled drafts; nothing in the
product imports them.

`rules_label` turns their verdicts into the tagger's labels: a preference rule's kind (like, compare,
self → like; dislike → dislike; standing → standing_rule; prohibit, wish, require → constraint;
procedure → step; a complaint → complaint, or correction when it corrects an answer), then an
acknowledgement → approval, a request → task_request (first turn) or step, a fact rule → personal_fact,
a topic-change cue → side_request, a question mark → question, anything else → small_talk.
"""

from __future__ import annotations

import re

from memskill.bench.legacy.facts import _ACKNOWLEDGEMENT, _en_fact, _zh_fact
from memskill.bench.legacy.preferences import _EN_CORRECTIVE, _ZH_CORRECTIVE, _clause_hit, _feedback
from memskill.bench.legacy.record import _is_step
from memskill.extract.prose import CJK as _CJK
from memskill.extract.prose import clean_en as _clean_en
from memskill.extract.prose import clean_zh as _clean_zh

_KINDS = {
    "like": "like",
    "compare": "like",
    "self": "like",
    "dislike": "dislike",
    "standing": "standing_rule",
    "prohibit": "constraint",
    "wish": "constraint",
    "require": "constraint",
    "procedure": "step",
    "feedback": "complaint",
}
_CUE = re.compile(r"^(?:另外|顺便|对了|还有个事|by the way|btw|also,? can you|unrelated)", re.IGNORECASE)


def rules_label(clause: str, first_turn: bool, after_answer: bool) -> str:
    """The label the old rules give one clause."""
    chinese = bool(_CJK.search(clause))
    cleaned = _clean_zh(clause) if chinese else _clean_en(clause)
    hit = _clause_hit(clause)
    if hit is not None:
        label = _KINDS[hit.kind]
        corrective = _ZH_CORRECTIVE if chinese else _EN_CORRECTIVE
        if after_answer and label in {"constraint", "step"} and corrective.search(clause.lower()):
            return "correction"
        return label
    if _feedback(clause) is not None:
        return "complaint"
    if _ACKNOWLEDGEMENT.match(cleaned) or _ACKNOWLEDGEMENT.match(clause.strip()):
        return "approval"
    if not first_turn and _CUE.search(clause.strip()):
        return "side_request"
    if _is_step(clause):
        return "task_request" if first_turn else "step"
    if (_zh_fact(cleaned) if chinese else _en_fact(clause)) is not None:
        return "personal_fact"
    if re.search(r"[?？]|吗$", clause.strip()):
        return "question"
    return "small_talk"

"""Skill items: the bullets of a skill and the operations on them, shared by both ways of updating one.

A skill is a list of `SkillItem`s in four sections (procedure, experience, preference, example). Two
items say the same when their embeddings are close (`MERGE_COSINE`) or their character bigrams overlap
(`MERGE_OVERLAP`); `retract` removes preferences the user has since contradicted, `corrected_items`
finds the ones a correction replaces, `apply_operations` applies a model's operations on numbered
bullets (feedback: add / agree / edit / remove), `apply_verdict` a model's verdict on one candidate
(same / refines / contradicts / new / drop), `merge_once` merges the two steps a skill holds once (the
answer's shape, what to give unasked), and `trim` keeps each section within its limit. `synthesize`
decides what a task adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from memskill.consolidate import CONTRADICTION_COSINE
from memskill.extract.prose import shorten
from memskill.extract.tools import called_tool
from memskill.models import PreferenceDraft, SkillItem
from memskill.prompts import one_line
from memskill.prompts.skill_update import SECTIONS, SkillUpdate, Verdict
from memskill.text import STOPWORDS
from memskill.topics import topic_of

MERGE_COSINE = 0.82
"""Two items whose embeddings are this similar say the same thing."""
MERGE_OVERLAP = 0.6
"""…or whose character-bigram Jaccard overlap is at least this."""
CONTAINMENT_WEIGHT = 0.85
"""Containment of the shorter text counts a little less than Jaccard overlap of the same size."""
ONCE = 0.75
"""A preference's `position` from which it is a limit of one request only (`TaskRecord.occasional`)."""
SECTION_LIMITS = {"procedure": 7, "preference": 12, "experience": 8, "example": 2}
"""Items kept per section: seven steps, so that with the closing check step a procedure has at most
eight; the two fullest examples."""

Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def _bigrams(text: str) -> set[str]:
    compact = "".join(text.lower().split())
    return {compact[i : i + 2] for i in range(len(compact) - 1)} or {compact}


def overlap(a: str, b: str) -> float:
    """Character-bigram overlap (language-neutral, cheap): the larger of Jaccard and, when the shorter
    text has at least four bigrams, the share of the shorter text found in the longer one — so "别走回头路"
    restates "我是那种不走回头路的特种兵"; a shorter text of three bigrams counts when it occurs whole."""
    left, right = _bigrams(a), _bigrams(b)
    if not left | right:
        return 0.0
    shared = len(left & right)
    jaccard = shared / len(left | right)
    shorter = min(len(left), len(right))
    if shorter >= 4:
        return max(jaccard, CONTAINMENT_WEIGHT * shared / shorter)
    short, long = sorted(("".join(a.lower().split()), "".join(b.lower().split())), key=len)
    # A short text said whole inside a longer one ("先查天气" in "每次规划前先查天气和温度") restates it.
    return max(jaccard, CONTAINMENT_WEIGHT) if shorter >= 3 and short in long else jaccard


def corrected_items(
    items: Sequence[SkillItem], drafts: Sequence[PreferenceDraft], similarity: Similarity
) -> list[str]:
    """The skill's preferences that feedback corrects: on a correction's topic and close to it (as
    `consolidate` decides for stored preferences). A limit of a task ("回答控制在500字以内") lives in the
    skill only, so the skill is where a later "以后控制在200字以内" must replace it."""
    texts = [item.text for item in items if item.section == "preference"]
    if not texts or not drafts:
        return []
    cosines = similarity(texts, [draft.text for draft in drafts])
    return [
        text
        for i, text in enumerate(texts)
        for j, draft in enumerate(drafts)
        if text != draft.text and topic_of(text) == draft.topic and cosines[i, j] >= CONTRADICTION_COSINE
    ]


def withdraw(items: Sequence[SkillItem], record_id: str) -> tuple[list[SkillItem], list[str]]:
    """`items` without what one task record said: a record whose task turned out shorter (a later turn
    moved its boundary) is read again, and what it no longer holds must leave the skill. Bullets that
    other records support keep their text and lose one support."""
    kept, log = [], []
    for item in items:
        if record_id not in item.sources:
            kept.append(item)
        elif len(item.sources) == 1:
            log.append(f"withdraw {item.section}: {item.text}")
        else:
            sources = tuple(s for s in item.sources if s != record_id)
            kept.append(replace(item, sources=sources, support=max(1, item.support - 1)))
    return kept, log


def retract(
    items: Sequence[SkillItem], retracted: Sequence[str], similarity: Similarity
) -> tuple[list[SkillItem], list[str]]:
    """`items` without the preference bullets that say what the user has since contradicted."""
    current, log = list(items), []
    for text in retracted:
        keep = []
        for item in current:
            if item.section == "preference" and same(item.text, text, similarity):
                log.append(f"remove preference: {item.text}")
            else:
                keep.append(item)
        current = keep
    return current, log


def same(a: str, b: str, similarity: Similarity) -> bool:
    if _other_tools(a, b):
        return False
    return overlap(a, b) >= MERGE_OVERLAP or float(similarity([a], [b])[0, 0]) >= MERGE_COSINE


def _other_tools(a: str, b: str) -> bool:
    """Whether two steps call different tools: "调用 get_weather（参数：city、date）" is no restatement of
    "调用 search_venues（参数：city、district、date、…）", however many parameters they share."""
    left, right = called_tool(a), called_tool(b)
    return left is not None and right is not None and left != right


def best_match(text: str, others: Sequence[str], similarity: Similarity) -> int | None:
    candidates = [i for i, other in enumerate(others) if not _other_tools(text, other)]
    if not candidates:
        return None
    cosines = similarity([text], [others[i] for i in candidates])[0]
    scores = [max(float(c), overlap(text, others[i]) + 0.2) for c, i in zip(cosines, candidates)]
    best = int(np.argmax(scores))
    if float(cosines[best]) >= MERGE_COSINE or overlap(text, others[candidates[best]]) >= MERGE_OVERLAP:
        return candidates[best]
    return None


STRUCTURED_EXAMPLE = 3
"""An example of at least this many lines of answer is laid out (the skill bench's "structured")."""


def example_answer(example: str) -> str:
    """An example's answer, without the request line and the answer's label ("请求：…", "回答：")."""
    return example.split("\n", 2)[-1].strip()


def _example_lines(example: str) -> int:
    """How many lines of answer an example has."""
    return len([line for line in example_answer(example).split("\n") if line.strip()])


def trim(items: list[SkillItem]) -> list[SkillItem]:
    """Keep the best-supported items of each section (newest examples), in a stable order."""
    kept: list[SkillItem] = []
    for section, limit in SECTION_LIMITS.items():
        group = [item for item in items if item.section == section]
        if section == "example":
            # The fullest answers (most lines), the newest among equals; a one-line answer ("按你的习惯更推荐
            # 龙井村…") only while the skill has no answer laid out in lines.
            if any(_example_lines(item.text) >= STRUCTURED_EXAMPLE for item in group):
                group = [item for item in group if _example_lines(item.text) >= STRUCTURED_EXAMPLE]
            ranked = sorted(range(len(group)), key=lambda i: (-group[i].text.count("\n"), -i))[:limit]
            group = [group[i] for i in sorted(ranked)]
        elif len(group) > limit:
            # Best supported first; among equal preferences, what the user likes and always wants before
            # the limits of one task (those of this request only last of all), the newest task's first
            # (a user's latest word wins), and within a task the surest first (its record ranks them);
            # among equal steps, the user's own and the tools' before the parts of an answer, and a tool
            # the task called before the user's words (which may be a reason or an aside read as a step).
            task = {source: n for n, source in enumerate(dict.fromkeys(i.sources[:1] for i in group))}
            keys = [
                (
                    -item.support,
                    item.position >= 0.5,
                    item.position >= ONCE,
                    -task[item.sources[:1]],
                    item.position,
                    -i,
                )
                if section == "preference"
                else (-item.support, _is_part(item.text), called_tool(item.text) is None, i)
                for i, item in enumerate(group)
            ]
            ranked = sorted(range(len(group)), key=keys.__getitem__)[:limit]
            group = [group[i] for i in sorted(ranked)]
        if section == "procedure":
            group = sorted(group, key=lambda item: item.position)
        kept.extend(group)
    return kept


def apply_operations(
    items: Sequence[SkillItem], reply: SkillUpdate, record_id: str, may_remove: bool = True
) -> tuple[list[SkillItem], list[str]]:
    """The bullets after a model's operations, and a log line per operation.

    An unusable operation (no text, a bullet number that does not exist, a bullet named twice) is
    skipped with a `skip` line; the others still apply. An `add` that restates a bullet of its section
    agrees with it instead. A `remove` applies to a bullet one task supports, or when the task
    corrected the skill (`may_remove`); otherwise it is skipped, so a model cannot drop what several
    tasks confirmed on its own.
    """
    listed = [i for i, item in enumerate(items) if item.section in SECTIONS]
    current: list[SkillItem | None] = list(items)
    added: list[SkillItem] = []
    named: set[int] = set()
    log: list[str] = []
    for operation in reply.operations:
        text = one_line(operation.text)
        if operation.op == "add":
            if not text:
                log.append(f"skip add {operation.section}: no text")
                continue
            same_section = [
                i for i in listed if current[i] is not None and items[i].section == operation.section
            ]
            twin = next((i for i in same_section if overlap(text, items[i].text) >= MERGE_OVERLAP), None)
            if twin is None:
                position = 1.0 if operation.section == "procedure" else 0.5
                added.append(SkillItem(operation.section, text, 1, (record_id,), position))
                log.append(f"add {operation.section}: {text}")
                continue
            index = twin
        elif not 1 <= operation.item <= len(listed):
            log.append(f"skip {operation.op}: bullet {operation.item} does not exist (1 to {len(listed)})")
            continue
        else:
            index = listed[operation.item - 1]
        existing = current[index]
        if existing is None or index in named:
            log.append(f"skip {operation.op}: bullet {operation.item} is named twice")
            continue
        named.add(index)
        sources = existing.sources if record_id in existing.sources else (*existing.sources, record_id)
        support = existing.support + (0 if record_id in existing.sources else 1)
        if operation.op == "remove":
            if existing.support > 1 and not may_remove:
                log.append(f"skip remove {existing.section}: {existing.support} tasks support it")
                continue
            current[index] = None
            log.append(f"remove {existing.section}: {existing.text}")
        elif operation.op == "edit" and text:
            current[index] = replace(existing, text=text, support=support, sources=sources)
            log.append(f"edit {existing.section}: {existing.text} → {text}")
        else:
            current[index] = replace(existing, support=support, sources=sources)
            log.append(f"agree {existing.section}: {existing.text}")
    kept = [item for item in current if item is not None]
    return kept + added, log


def nearest_item(text: str, others: Sequence[str], similarity: Similarity) -> tuple[int, float] | None:
    """The index of the closest of `others` and its score (cosine, or bigram overlap when higher)."""
    if not others:
        return None
    cosines = similarity([text], others)[0]
    scores = [max(float(c), overlap(text, other)) for c, other in zip(cosines, others)]
    best = max(range(len(scores)), key=scores.__getitem__)
    return best, scores[best]


def apply_verdict(
    current: list[SkillItem],
    candidate: SkillItem,
    verdict: Verdict,
    nearest: SkillItem | None,
    record_id: str,
    corrected: bool,
    log: list[str],
) -> bool:
    """Apply a model's verdict on one candidate to `current` (in place), against the `nearest` bullet
    the model was shown; False leaves the candidate to the algorithm. Guards: a `new` that restates a
    bullet is left to the algorithm (which agrees with it); `contradicts` replaces the nearest bullet
    only when the task corrected the skill (`corrected`) or one task supports it; a verdict on a
    bullet this merge already changed is left to the algorithm."""
    index = next((i for i, item in enumerate(current) if item is nearest), None)
    if nearest is not None and index is None and verdict.verdict != "drop":
        return False
    existing = current[index] if index is not None else None
    if verdict.verdict == "drop":
        log.append(f"drop {candidate.section}: {candidate.text}")
        return True
    if existing is None or verdict.verdict == "new":
        if existing is not None and overlap(candidate.text, existing.text) >= MERGE_OVERLAP:
            return False  # a restatement: the algorithm agrees with the bullet
        text = one_line(verdict.text) if verdict.verdict == "refines" else ""
        added = replace(candidate, text=text) if text else candidate
        current.append(added)
        log.append(f"add {added.section}: {added.text}")
        return True
    assert index is not None
    grows = record_id not in existing.sources
    sources = (*existing.sources, record_id) if grows else existing.sources
    support = existing.support + grows
    if verdict.verdict == "same":
        current[index] = replace(existing, support=support, sources=sources)
        log.append(f"agree {existing.section}: {existing.text}")
    elif verdict.verdict == "refines":
        text = one_line(verdict.text) or candidate.text
        current[index] = replace(existing, text=text, support=support, sources=sources)
        log.append(f"edit {existing.section}: {existing.text} → {text}")
    else:  # contradicts
        if existing.support > 1 and not corrected:
            return False  # several tasks support it and nothing corrected it: the algorithm decides
        current[index] = candidate
        log.append(f"remove {existing.section}: {existing.text}")
        log.append(f"add {candidate.section}: {candidate.text}")
    return True


ASK_OPENING = {"zh": "先向用户确认：", "en": "First confirm with the user: "}
"""The one step per skill that lists the questions to ask before answering."""
SHAPE_OPENING = {"zh": "按用户认可的结构作答：", "en": "Answer in the shape the user accepted: "}
"""The one step per skill that says how the accepted answers were built."""
FOLLOW_UP_OPENING = {
    "zh": "回答时一并给出用户追问过的信息：",
    "en": "Give unasked what the user asked about before: ",
}
"""The one step per skill that lists what the user asked about answers (`TaskRecord.follow_ups`)."""
LIST_SEPARATOR = {True: "、", False: "; "}
"""How the follow-up step lists things, by whether it is Chinese."""


def merge_once(current: list[SkillItem], candidate: SkillItem, record_id: str, log: list[str]) -> bool:
    """Merge a candidate of a step a skill holds once (the questions to ask first, the answer's shape,
    what to give unasked, each named part of the answer) into its existing step, in place; return
    whether `candidate` was one. Every record supports the step; the shape keeps the fuller description
    (a record seen again, its conversation gone on, updates what it said before); a part keeps its
    first example unless its own record updates it; the listing steps list what every task's assistant
    asked or user asked about, once."""
    if candidate.section != "procedure":
        return False
    key = _once_key(candidate.text)
    if key is None:
        return False
    index = next(
        (i for i, item in enumerate(current) if item.section == "procedure" and _once_key(item.text) == key),
        None,
    )
    if index is None:
        return False
    existing = current[index]
    again = record_id in existing.sources
    text = _COMBINE[key[0]](existing, candidate.text, again)
    if text != existing.text or not again:
        sources = existing.sources if again else (*existing.sources, record_id)
        support = existing.support if again else existing.support + 1
        current[index] = replace(existing, text=text, support=support, sources=sources)
        log.append(f"agree procedure: {text}")
    return True


def _once_key(step: str) -> tuple[str, str] | None:
    """Which step held once a procedure step is: ("ask" | "shape" | "follow", ""), ("part", its name),
    or None for any other step."""
    for kind, opening in (("ask", ASK_OPENING), ("shape", SHAPE_OPENING), ("follow", FOLLOW_UP_OPENING)):
        if step.startswith(tuple(opening.values())):
            return kind, ""
    named = _PART_NAME.match(step)
    return ("part", named.group(1) or named.group(2)) if named else None


def _is_part(step: str) -> bool:
    """Whether a step asks for a named part of the answer: such steps give way to the user's own."""
    return bool(_PART_NAME.match(step))


def part_step(name: str, gist: str, zh: bool) -> str:
    """The step that asks for a named part of the answer, with what it held last time as an example."""
    return (PART_STEP["zh"] if zh else PART_STEP["en"]).format(name=name, gist=first_clause(gist, 40))


PART_STEP = {"zh": "写明「{name}」一项，如：{gist}", "en": 'Include a "{name}" part, e.g. {gist}'}
"""The step per named part of the accepted answer (`TaskRecord.parts`)."""
_PART_NAME = re.compile(r"^写明「([^」]+)」一项|^Include a \"([^\"]+)\" part")


def _kept(existing: SkillItem, text: str, again: bool) -> str:
    return text if again else existing.text


def _fuller(existing: SkillItem, text: str, again: bool) -> str:
    return text if again and existing.support == 1 else max(existing.text, text, key=len)


def _listed(existing: SkillItem, text: str, again: bool) -> str:
    del again
    return _union(existing.text, text, FOLLOW_UP_OPENING, LIST_SEPARATOR)


def _asked(existing: SkillItem, text: str, again: bool) -> str:
    del again
    return _union(existing.text, text, ASK_OPENING, {True: "；", False: "; "})


def _union(existing: str, text: str, openings: dict[str, str], separators: dict[bool, str]) -> str:
    """One listing step with the parts of both, in the order first said (at most `MAX_LISTED`)."""
    opening = next(o for o in openings.values() if existing.startswith(o))
    separator = separators[opening == openings["zh"]]
    parts = [
        part.strip()
        for said in (existing, text)
        for part in said.removeprefix(opening).removeprefix(openings["en"]).split(separator)
        if part.strip()
    ]
    return opening + separator.join(list(dict.fromkeys(parts))[:MAX_LISTED])


MAX_LISTED = 6
"""Questions or things asked about kept in one listing step."""
_COMBINE = {"ask": _asked, "shape": _fuller, "follow": _listed, "part": _kept}


_CONDITION = re.compile(
    r"^(?:(?:whenever|when|if|every time|each time)\b[^,;:]{3,60}[,;:]"
    r"|(?:每次|以后|如果|只要)[^，,；;：:]{2,24}[，,；;：:])",
    re.I,
)
"""A leading condition ("Whenever you plan a party for me,", "以后写汇报的时候，") ahead of what to do."""


def first_clause(text: str, limit: int = 40) -> str:
    """A preference shortened at a clause's end, never inside a word ("Order the issues by severity,
    bugs first, style last" → "Order the issues by severity"); cut only when longer than `limit`
    (`limit` + 8 for text written with spaces, whose words are longer)."""
    spaced = " " in text.strip()
    limit += 8 if spaced else 0
    if len(text) <= limit:
        return text
    head = _CONDITION.match(text)
    if head:
        # "Whenever you plan a party for me, end with a shopping list…": the instruction is what
        # follows the condition, and the skill's own trigger already says when.
        rest = text[head.end() :].strip()
        return first_clause(rest[:1].upper() + rest[1:] if spaced else rest, limit - (8 if spaced else 0))
    cut = re.search(r"[，,；;：:（(]", text[8:])
    if cut and 8 + cut.start() <= limit:
        return text[: 8 + cut.start()]
    if not spaced:
        return shorten(text, limit)
    words = text[: limit + 1].split(" ")[:-1]  # the last piece may be a cut word
    while len(words) > 1 and words[-1].lower().strip(".,") in STOPWORDS:
        words.pop()  # "…tables in the" → "…tables"
    return " ".join(words).rstrip(",;:") + "…"

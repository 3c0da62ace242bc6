"""Synthesise: keep one skill per task cluster up to date by item-level operations.

A skill is a list of `SkillItem`s in four sections (procedure, experience, preference, example). Each new
task record is turned into candidate items and merged into the previous version:

- **agree** — a candidate says the same as an existing item (embedding cosine or character overlap above a
  threshold): the item's support grows and the record joins its sources;
- **add** — nothing similar exists: a new item with support 1;
- **remove** — an item matches a preference the user has since contradicted or corrected;
- **edit** — a correction restates an existing item: the corrected wording replaces it.

The result is rendered as SKILL.md, validated, and stored as a new immutable version; nothing is
rewritten wholesale, so what the skill learned from earlier tasks survives a new one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from memskill.consolidate import CONTRADICTION_COSINE
from memskill.generalise import ROLES
from memskill.models import PreferenceDraft, SkillItem, SkillVersion, TaskRecord
from memskill.naming import name_skill
from memskill.prompts.skill_update import SkillUpdate, apply_operations, description_of
from memskill.skillfile import SkillDocument, render, validate
from memskill.topics import topic_of

MERGE_COSINE = 0.82
"""Two items whose embeddings are this similar say the same thing."""
MERGE_OVERLAP = 0.6
"""…or whose character-bigram Jaccard overlap is at least this."""
CONTAINMENT_WEIGHT = 0.85
"""Containment of the shorter text counts a little less than Jaccard overlap of the same size."""
SECTION_LIMITS = {"procedure": 12, "preference": 12, "experience": 8, "example": 5}

Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Evidence:
    """What one task record contributes to its cluster's skill."""

    record_id: str
    record: TaskRecord
    lessons: tuple[str, ...] = ()
    """Tool experience learned in the task."""
    retracted: tuple[str, ...] = ()
    """Preference texts the user has since contradicted: matching items are removed."""


@dataclass(frozen=True)
class SkillDraft:
    """The next version of a skill, before it is stored."""

    name: str
    title: str
    description: str
    items: tuple[SkillItem, ...]
    operations: tuple[str, ...]
    language: str


def _bigrams(text: str) -> set[str]:
    compact = "".join(text.lower().split())
    return {compact[i : i + 2] for i in range(len(compact) - 1)} or {compact}


def overlap(a: str, b: str) -> float:
    """Character-bigram overlap (language-neutral, cheap): the larger of Jaccard and, when the shorter
    text has at least four bigrams, the share of the shorter text found in the longer one — so "别走回头路"
    restates "我是那种不走回头路的特种兵"."""
    left, right = _bigrams(a), _bigrams(b)
    if not left | right:
        return 0.0
    shared = len(left & right)
    jaccard = shared / len(left | right)
    shorter = min(len(left), len(right))
    return max(jaccard, CONTAINMENT_WEIGHT * shared / shorter) if shorter >= 4 else jaccard


_LEADING_PUNCTUATION = re.compile(r"^[\s。，,.;；:：!！?？、…~～-]+")
_PROCEDURAL = re.compile(
    r"^(?:先|首先|每次|然后|再|最后|之前|出发前|规划前)|前先|(?:^|\b)(?:first|before|then|always)\b", re.I
)


_META = re.compile(r"^先?说(?:一下|好)|我的(?:风格|情况|要求)$|^(?:回到|接着说|继续)")


def _clean(text: str) -> str:
    return _LEADING_PUNCTUATION.sub("", text).strip()


def _is_step(step: str, preferences: Sequence[str]) -> bool:
    """A useful procedure step: long enough, and not merely a restated preference (unless it orders work)."""
    words = len(re.findall(r"[A-Za-z]+", step)) + len(re.findall(r"[\u4e00-\u9fff]", step)) / 2
    if words < 2 or _META.search(step):
        return False
    if _PROCEDURAL.search(step):
        return True
    return not any(overlap(step, preference) >= 0.5 or step in preference for preference in preferences)


def candidates(evidence: Evidence) -> list[SkillItem]:
    """The items a task record proposes, each supported by that record."""
    record, source = evidence.record, (evidence.record_id,)
    items: list[SkillItem] = []
    preferences = [*record.preferences, *record.corrections, *record.requirements]
    steps = list(dict.fromkeys(_clean(s) for s in record.steps if _is_step(_clean(s), preferences)))
    for index, step in enumerate(steps):
        position = index / max(1, len(steps) - 1)
        items.append(SkillItem("procedure", step, 1, source, position))
    # What the user likes and always wants ranks before the limits of one task (position < 0.5 vs ≥ 0.5),
    # so a long task's limits never crowd the user's own preferences out of the skill.
    general = [text for text in dict.fromkeys(_clean(p) for p in record.preferences) if text]
    specific = [
        text
        for text in dict.fromkeys(_clean(p) for p in (*record.corrections, *record.requirements))
        if text and text not in general
    ]
    for index, text in enumerate(general):
        items.append(SkillItem("preference", text, 1, source, 0.5 * index / max(1, len(general))))
    for index, text in enumerate(specific):
        items.append(SkillItem("preference", text, 1, source, 0.5 + 0.5 * index / max(1, len(specific))))
    for lesson in dict.fromkeys(evidence.lessons):
        if lesson.strip():
            items.append(SkillItem("experience", lesson, 1, source))
    if record.goal.strip():
        items.append(SkillItem("example", _example(record), 1, source))
    return items


def _example(record: TaskRecord) -> str:
    goal = " ".join(record.goal.split())
    goal = goal if len(goal) <= 120 else goal[:119] + "…"
    outcome = " ".join(record.outcome.split())
    outcome = outcome if len(outcome) <= 80 else outcome[:79] + "…"
    arrow = " → " + outcome if outcome else ""
    return f"{goal}{arrow}"


def merge(
    items: Sequence[SkillItem], evidence: Evidence, similarity: Similarity
) -> tuple[list[SkillItem], list[str]]:
    """Apply one record's evidence to `items`; return the new items and a log of operations."""
    current, log = retract(items, evidence.retracted, similarity)
    corrections = set(evidence.record.corrections)
    for candidate in candidates(evidence):
        if candidate.section == "example":
            current = with_example(current, evidence)
            continue
        same_section = [i for i, item in enumerate(current) if item.section == candidate.section]
        match = _best_match(candidate.text, [current[i].text for i in same_section], similarity)
        if match is None:
            current.append(candidate)
            log.append(f"add {candidate.section}: {candidate.text}")
            continue
        index = same_section[match]
        existing = current[index]
        if evidence.record_id in existing.sources:
            continue
        sources = (*existing.sources, evidence.record_id)
        support = existing.support + 1
        position = (existing.position * existing.support + candidate.position) / support
        if candidate.text in corrections and candidate.text != existing.text:
            current[index] = replace(existing, text=candidate.text, support=support, sources=sources)
            log.append(f"edit {candidate.section}: {existing.text} → {candidate.text}")
        else:
            current[index] = replace(existing, support=support, sources=sources, position=position)
            log.append(f"agree {candidate.section}: {existing.text}")
    return _trim(current), log


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


def retract(
    items: Sequence[SkillItem], retracted: Sequence[str], similarity: Similarity
) -> tuple[list[SkillItem], list[str]]:
    """`items` without the preference bullets that say what the user has since contradicted."""
    current, log = list(items), []
    for text in retracted:
        keep = []
        for item in current:
            if item.section == "preference" and _same(item.text, text, similarity):
                log.append(f"remove preference: {item.text}")
            else:
                keep.append(item)
        current = keep
    return current, log


def with_example(items: list[SkillItem], evidence: Evidence) -> list[SkillItem]:
    """One example per task record: a record seen again (a conversation that went on) replaces its own."""
    if not evidence.record.goal.strip():
        return items
    kept = [i for i in items if not (i.section == "example" and evidence.record_id in i.sources)]
    return [*kept, SkillItem("example", _example(evidence.record), 1, (evidence.record_id,))]


def _same(a: str, b: str, similarity: Similarity) -> bool:
    return overlap(a, b) >= MERGE_OVERLAP or float(similarity([a], [b])[0, 0]) >= MERGE_COSINE


def _best_match(text: str, others: Sequence[str], similarity: Similarity) -> int | None:
    if not others:
        return None
    cosines = similarity([text], others)[0]
    scores = [max(float(c), overlap(text, other) + 0.2) for c, other in zip(cosines, others)]
    best = int(np.argmax(scores))
    if float(cosines[best]) >= MERGE_COSINE or overlap(text, others[best]) >= MERGE_OVERLAP:
        return best
    return None


def _trim(items: list[SkillItem]) -> list[SkillItem]:
    """Keep the best-supported items of each section (newest examples), in a stable order."""
    kept: list[SkillItem] = []
    for section, limit in SECTION_LIMITS.items():
        group = [item for item in items if item.section == section]
        if section == "example":
            group = group[-limit:]
        elif len(group) > limit:
            # Best supported first; among equal preferences, what the user likes and always wants before
            # the limits of one task, and the newest first (a user's latest word wins).
            keys = [
                (-item.support, item.position >= 0.5, -i)
                if section == "preference"
                else (-item.support, 0, i)
                for i, item in enumerate(group)
            ]
            ranked = sorted(range(len(group)), key=keys.__getitem__)[:limit]
            group = [group[i] for i in sorted(ranked)]
        if section == "procedure":
            group = sorted(group, key=lambda item: item.position)
        kept.extend(group)
    return kept


def synthesize(
    previous: SkillVersion | None,
    evidence: Evidence,
    titles: Sequence[str],
    goals: Sequence[str],
    similarity: Similarity,
    taken_names: Sequence[str] = (),
    update: SkillUpdate | None = None,
) -> SkillDraft:
    """The next version of a cluster's skill after one more task record.

    With `update` (a model's operations on the previous bullets) the bullets change exactly as it says,
    then contradicted preferences are removed and the record's example is added; without it the record's
    candidates are merged algorithmically.
    """
    if update is None:
        items, log = merge(previous.items if previous else (), evidence, similarity)
    else:
        changed, log = apply_operations(previous.items if previous else (), update, evidence.record_id)
        items, removed = retract(changed, evidence.retracted, similarity)
        items = _trim(with_example(items, evidence))
        log += removed
    language = evidence.record.language
    naming = name_skill(titles, goals, language, () if previous is not None else taken_names)
    name = previous.name if previous is not None else naming.name
    described = description_of(update) if update is not None else None
    return SkillDraft(name, naming.title, described or naming.description, tuple(items), tuple(log), language)


def document(
    draft: SkillDraft, metadata: dict[str, str], record_count: int, conversation_count: int
) -> SkillDocument:
    """The SKILL.md document of a draft."""

    def texts(section: str) -> tuple[str, ...]:
        return tuple(item.text for item in draft.items if item.section == section)

    def with_support(section: str) -> tuple[str, ...]:
        out = []
        for item in draft.items:
            if item.section == section:
                suffix = (
                    f"（{item.support} 次确认）"
                    if draft.language == "zh"
                    else f" (confirmed {item.support}×)"
                )
                out.append(item.text + (suffix if item.support > 1 else ""))
        return tuple(out)

    updated = time.strftime("%Y-%m-%d", time.gmtime(int(metadata.get("updated_at_ms", "0")) / 1000 or None))
    # The note about replaced values only when something in the skill was replaced.
    generalised = any(role in item.text for item in draft.items for role in ROLES)
    if draft.language == "zh":
        additional: tuple[str, ...] = (
            f"由 {record_count} 次任务、{conversation_count} 段对话总结而来，最近更新于 {updated}。",
        )
        if generalised:
            additional += (
                "具体的地点、日期和数字已换成通用说法（如“目的地”），使用时请代入本次任务的实际情况。",
            )
    else:
        additional = (
            f"Learned from {record_count} tasks in {conversation_count} conversations; last updated "
            f"{updated}.",
        )
        if generalised:
            additional += (
                'Concrete places, dates and amounts are generalised (e.g. "the destination"); '
                "fill in this task's.",
            )
    meta = {k: v for k, v in metadata.items() if k != "updated_at_ms"}
    meta["updated_at"] = updated
    return SkillDocument(
        name=draft.name,
        description=draft.description,
        title=draft.title,
        procedure=(*texts("procedure"), *_check_step(draft)),
        experience=with_support("experience"),
        preferences=with_support("preference"),
        examples=texts("example"),
        additional=additional,
        metadata=meta,
    )


def _check_step(draft: SkillDraft) -> tuple[str, ...]:
    """A closing step that carries the user's preferences into the procedure itself."""
    preferences = sorted(
        (item for item in draft.items if item.section == "preference"),
        key=lambda item: (-item.support, item.position),
    )[:6]
    if not preferences:
        return ()
    short = [p.text if len(p.text) <= 30 else p.text[:29] + "…" for p in preferences]
    if draft.language == "zh":
        return ("交付前对照用户偏好逐条检查：" + "；".join(short),)
    return ("Before answering, check the result against each preference: " + "; ".join(short),)


def render_checked(doc: SkillDocument) -> str:
    """Render SKILL.md and refuse to return text the validator rejects."""
    markdown = render(doc)
    problems = validate(markdown, doc.name)
    if problems:
        raise ValueError("generated SKILL.md is invalid: " + "; ".join(problems))
    return markdown

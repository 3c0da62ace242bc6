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
SECTION_LIMITS = {"procedure": 8, "preference": 12, "experience": 8, "example": 2}

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
    r"^(?:先|首先|每次|然后|再|最后|之前|出发前|规划前|提前)|前先|(?:^|\b)(?:first|before|then)\b", re.I
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


def _steps(record: TaskRecord) -> list[tuple[str, float]]:
    """A record's procedure steps with their place in the task (0 first, 1 last): what to confirm
    first (the assistant's questions the user answered), the tools called, the user's instructions in
    order, then the shape of the answer the user accepted."""
    zh = record.language == "zh"
    separator = "；" if zh else "; "
    preferences = [*record.preferences, *record.corrections, *record.requirements]
    found: list[tuple[str, float]] = []
    if record.asked:
        asked = separator.join(_short(q, 30) for q in record.asked)
        found.append((("先向用户确认：" if zh else "First confirm with the user: ") + asked, 0.0))
    for tool in record.tools:
        found.append(
            (
                (f"调用 {tool} 获取答案所需的数据" if zh else f"Call {tool} for the data the answer needs"),
                0.15,
            )
        )
    own = list(dict.fromkeys(_clean(s) for s in record.steps if _is_step(_clean(s), preferences)))
    # A wish about when or in which order to work ("提前确认天气", "always run the tests first") is a
    # step as well as a preference.
    own += [
        p for p in dict.fromkeys(_clean(p) for p in preferences) if _PROCEDURAL.search(p) and p not in own
    ]
    for index, step in enumerate(own):
        found.append((step, 0.25 + 0.5 * index / max(1, len(own) - 1)))
    if record.shape:
        opening = SHAPE_OPENING["zh" if zh else "en"]
        found.append((opening + ("，" if zh else ", ").join(record.shape), 0.9))
    return found


SHAPE_OPENING = {"zh": "按用户认可的结构作答：", "en": "Answer in the shape the user accepted: "}
"""The one step per skill that says how the accepted answers were built."""


def _is_shape(text: str) -> bool:
    return text.startswith(tuple(SHAPE_OPENING.values()))


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def candidates(evidence: Evidence) -> list[SkillItem]:
    """The items a task record proposes, each supported by that record."""
    record, source = evidence.record, (evidence.record_id,)
    items = [SkillItem("procedure", text, 1, source, position) for text, position in _steps(record)]
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
    # A correction of the result is a lesson ("用户纠正过：…"); a like said after a complaint is a
    # preference and stays one.
    fixes = [c for c in record.corrections if c in record.requirements]
    for correction in dict.fromkeys(_clean(c) for c in fixes):
        if correction:
            lesson = (
                "用户纠正过：" if record.language == "zh" else "The user corrected this before: "
            ) + correction
            items.append(SkillItem("experience", lesson, 1, source))
    example = _example(record)
    if example:
        items.append(SkillItem("example", example, 1, source))
    return items


def _example(record: TaskRecord) -> str:
    """The accepted answer under the request it answered; "" when the task has no answer to show."""
    if not record.example.strip():
        return ""
    request = _short(record.requests[0] if record.requests else record.title, 80)
    if record.language == "zh":
        return f"请求：{request}\n回答：\n{record.example}"
    return f"Request: {request}\nAnswer:\n{record.example}"


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
        shapes = [i for i in same_section if _is_shape(current[i].text)] if _is_shape(candidate.text) else []
        if shapes:
            # One shape step per skill: the fuller description wins, and every record supports it.
            # A record seen again (its conversation went on) updates what it said before.
            existing = current[shapes[0]]
            again = evidence.record_id in existing.sources
            text = (
                candidate.text
                if again and existing.support == 1
                else max(existing.text, candidate.text, key=len)
            )
            if text != existing.text or not again:
                sources = existing.sources if again else (*existing.sources, evidence.record_id)
                support = existing.support if again else existing.support + 1
                current[shapes[0]] = replace(existing, text=text, support=support, sources=sources)
                log.append(f"agree procedure: {text}")
            continue
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
    example = _example(evidence.record)
    if not example:
        return items
    kept = [i for i in items if not (i.section == "example" and evidence.record_id in i.sources)]
    return [*kept, SkillItem("example", example, 1, (evidence.record_id,))]


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
            # The fullest answers (most lines), the newest among equals.
            ranked = sorted(range(len(group)), key=lambda i: (-group[i].text.count("\n"), -i))[:limit]
            group = [group[i] for i in sorted(ranked)]
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

    The record's candidates are always merged algorithmically. With `update` (a model's operations on
    the previous bullets) those operations are applied first, so the model refines and adds while what
    the algorithm found still arrives: a reply without operations loses nothing.
    """
    items: Sequence[SkillItem] = previous.items if previous else ()
    log: list[str] = []
    if update is not None:
        changed, log = apply_operations(items, update, evidence.record_id)
        items = changed
    merged, more = merge(items, evidence, similarity)
    # What the model removed stays removed: the record's own candidate for it is not added back.
    removed = [line.split(": ", 1)[1] for line in log if line.startswith("remove ")]
    items = [
        item
        for item in merged
        if not (
            item.sources == (evidence.record_id,) and any(_same(item.text, r, similarity) for r in removed)
        )
    ]
    log += more
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

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from memskill.consolidate import stable_id
from memskill.extract.prose import shorten
from memskill.extract.record import ASK_FLOOR
from memskill.extract.tools import called_tool
from memskill.generalise import ROLES, as_title, generalise
from memskill.models import Scope, Skill, SkillItem, SkillVersion, TaskRecord
from memskill.naming import kind_of_name, name_skill
from memskill.procedure import clean, record_steps
from memskill.prompts.skill_update import Candidate, SkillUpdate, Verdict, description_of
from memskill.skill_items import (
    ONCE,
    Similarity,
    apply_operations,
    apply_verdict,
    best_match,
    example_answer,
    first_clause,
    merge_once,
    nearest_item,
    retract,
    same,
    trim,
    withdraw,
)
from memskill.skillfile import SkillDocument, render, validate
from memskill.stores.base import TaskRecordRow
from memskill.vectors import record_from_dict, record_request


@dataclass(frozen=True)
class Evidence:
    """What one task record contributes to its cluster's skill."""

    record_id: str
    record: TaskRecord
    lessons: tuple[str, ...] = ()
    """Tool experience learned in the task."""
    retracted: tuple[str, ...] = ()
    """Preference texts the user has since contradicted: matching items are removed."""
    revised: bool = False
    """The record was stored before from a chunk whose boundary a later turn moved (`rechunk.moved`):
    what it said then is withdrawn first."""
    gone: tuple[str, ...] = ()
    """Records removed in the same job, their chunks gone (`rechunk.absorbed`): what they said is
    withdrawn first too."""


SUPPORT_NOTE = {"zh": "（{} 次确认）", "en": " (confirmed {}×)"}
"""What a rendered item says after its text when more than one task record agrees with it."""
_SUPPORT_NOTE = re.compile(r"（\d+ 次确认）$| \(confirmed \d+×\)$")


def without_support(text: str) -> str:
    """A rendered item without its `SUPPORT_NOTE`."""
    return _SUPPORT_NOTE.sub("", text)


@dataclass(frozen=True)
class SkillDraft:
    """The next version of a skill, before it is stored."""

    name: str
    title: str
    description: str
    items: tuple[SkillItem, ...]
    operations: tuple[str, ...]
    language: str


def candidates(evidence: Evidence) -> list[SkillItem]:
    """The items a task record proposes, each supported by that record."""
    record, source = evidence.record, (evidence.record_id,)
    items = [SkillItem("procedure", text, 1, source, position) for text, position in record_steps(record)]
    # What the user likes and always wants ranks before the limits of one task (position < 0.5 vs ≥ 0.5),
    # so a long task's limits never crowd the user's own preferences out of the skill.
    # Steps the user said hold for every task of the kind ("from now on…", after "how I want these in
    # general:") are such preferences too.
    general = [
        text for text in dict.fromkeys(clean(p) for p in (*record.preferences, *record.standing)) if text
    ]
    specific = [
        text
        for text in dict.fromkeys(clean(p) for p in (*record.requirements, *record.corrections))
        if text and text not in general
    ]
    for index, text in enumerate(general):
        items.append(SkillItem("preference", text, 1, source, 0.5 * index / max(1, len(general))))
    # A limit of this request only ranks after every task's lasting ones (position ≥ `ONCE`).
    occasional = {clean(p) for p in record.occasional}
    lasting = [text for text in specific if text not in occasional]
    for index, text in enumerate(lasting):
        position = 0.5 + (ONCE - 0.5) * index / max(1, len(lasting))
        items.append(SkillItem("preference", text, 1, source, position))
    once = [text for text in specific if text in occasional]
    for index, text in enumerate(once):
        items.append(SkillItem("preference", text, 1, source, ONCE + (1 - ONCE) * index / max(1, len(once))))
    for lesson in dict.fromkeys(evidence.lessons):
        if lesson.strip():
            items.append(SkillItem("experience", lesson, 1, source))
    # A correction of the result is a lesson ("用户纠正过：…"); a like said after a complaint is a
    # preference and stays one.
    # One lesson per correcting turn (a record stored before turns were kept: one per correction).
    fixes = record.fixes or tuple(c for c in record.corrections if c in record.requirements)
    for correction in dict.fromkeys(clean(c) for c in fixes):
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
    request = shorten(record.example_request or (record.requests[0] if record.requests else record.title), 80)
    if record.language == "zh":
        return f"请求：{request}\n回答：\n{record.example}"
    return f"Request: {request}\nAnswer:\n{record.example}"


def judged(evidence: Evidence) -> list[SkillItem]:
    """The candidates a model judges, numbered from 1 in this order: all but the example."""
    return [item for item in candidates(evidence) if item.section != "example"]


def _shown_nearest(
    items: Sequence[SkillItem], evidence: Evidence, similarity: Similarity
) -> list[tuple[SkillItem, float] | None]:
    """For each judged candidate, the skill's nearest bullet of its section and the score."""
    found: list[tuple[SkillItem, float] | None] = []
    for candidate in judged(evidence):
        same_section = [item for item in items if item.section == candidate.section]
        near = nearest_item(candidate.text, [item.text for item in same_section], similarity)
        found.append(None if near is None else (same_section[near[0]], near[1]))
    return found


def shown_candidates(
    items: Sequence[SkillItem], evidence: Evidence, similarity: Similarity
) -> list[Candidate]:
    """What the model sees of each judged candidate: its text and the skill's nearest bullet."""
    return [
        Candidate(c.section, c.text)
        if near is None
        else Candidate(c.section, c.text, near[0].text, near[1], near[0].support)
        for c, near in zip(judged(evidence), _shown_nearest(items, evidence, similarity))
    ]


def merge(
    items: Sequence[SkillItem],
    evidence: Evidence,
    similarity: Similarity,
    verdicts: Mapping[int, Verdict] | None = None,
) -> tuple[list[SkillItem], list[str]]:
    """Apply one record's evidence to `items`; return the new items and a log of operations."""
    current, log = retract(items, evidence.retracted, similarity)
    corrections = set(evidence.record.corrections)
    # The nearest bullets as the model saw them (before this merge changes anything).
    shown = (
        {n: near for n, near in enumerate(_shown_nearest(items, evidence, similarity), 1)} if verdicts else {}
    )
    number = 0
    proposed = candidates(evidence)
    known = len(current)
    # One embedding call for every text the loop compares (the embedder caches them), not one per
    # candidate: a batch costs about half as much per text.
    similarity([*{item.text for item in (*current, *proposed) if item.section != "example"}], [])
    for candidate in proposed:
        if candidate.section == "example":
            updated = with_example(current, evidence)
            if updated != current:  # a new accepted answer is a change: a new version shows it
                log.append(f"example: {candidate.text.splitlines()[0][:80]}")
            current = updated
            continue
        number += 1
        verdict = (verdicts or {}).get(number)
        near = shown.get(number)
        nearest = near[0] if near is not None else None
        corrected = bool(evidence.record.corrections or evidence.retracted)
        if verdict is not None and apply_verdict(
            current, candidate, verdict, nearest, evidence.record_id, corrected, log
        ):
            continue
        # A record's own candidates are distinct (each was kept once when the record was built): one
        # never merges into another added just before it ("sections: …, What went well" is no
        # duplicate of "Add a short 'What went well' section").
        same_section = [i for i, item in enumerate(current[:known]) if item.section == candidate.section]
        if merge_once(current, candidate, evidence.record_id, log):
            continue
        match = best_match(candidate.text, [current[i].text for i in same_section], similarity)
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
        # The same tool called with more arguments: the fuller call stands.
        tool = called_tool(candidate.text)
        wider = tool is not None and tool == called_tool(existing.text)
        wider = wider and len(candidate.text) > len(existing.text)
        if (candidate.text in corrections or wider) and candidate.text != existing.text:
            current[index] = replace(existing, text=candidate.text, support=support, sources=sources)
            log.append(f"edit {candidate.section}: {existing.text} → {candidate.text}")
        else:
            current[index] = replace(existing, support=support, sources=sources, position=position)
            log.append(f"agree {candidate.section}: {existing.text}")
    return trim(current), log


def with_example(items: list[SkillItem], evidence: Evidence) -> list[SkillItem]:
    """One example per task record: a record seen again (a conversation that went on) replaces its own."""
    example = _example(evidence.record)
    if not example:
        return items
    # A record seen again replaces its own example; another record's identical answer is not shown twice,
    # whatever request it was shown under.
    answer = example_answer(example)
    kept = [
        i
        for i in items
        if not (
            i.section == "example" and (evidence.record_id in i.sources or example_answer(i.text) == answer)
        )
    ]
    return [*kept, SkillItem("example", example, 1, (evidence.record_id,))]


def synthesize(
    previous: SkillVersion | None,
    evidence: Evidence,
    titles: Sequence[str],
    goals: Sequence[str],
    similarity: Similarity,
    taken_names: Sequence[str] = (),
    update: SkillUpdate | None = None,
    asks: Sequence[str] = (),
    earlier: Sequence[Evidence] = (),
) -> SkillDraft:
    """The next version of a cluster's skill after one more task record (`asks`: the words that asked
    for each task, which name its kind; the goals by default). A first version also folds in the
    cluster's `earlier` records, tasks of the kind that were too unsure a request to start a skill.

    The record's candidates are always merged algorithmically. With `update` (a model's operations on
    the previous bullets) those operations are applied first, so the model refines and adds while what
    the algorithm found still arrives: a reply without operations loses nothing.
    """
    items: Sequence[SkillItem] = previous.items if previous else ()
    log: list[str] = []
    for record in earlier if previous is None else ():
        items, folded = merge(items, record, similarity, None)
        log += folded
    for record_id in (evidence.record_id,) if evidence.revised else ():
        items, withdrawn = withdraw(items, record_id)
        log += withdrawn
    for record_id in evidence.gone:
        items, withdrawn = withdraw(items, record_id)
        log += withdrawn
    if update is not None:
        may_remove = bool(evidence.record.corrections or evidence.retracted)
        items, applied = apply_operations(items, update, evidence.record_id, may_remove)
        log += applied
    verdicts = {v.candidate: v for v in update.verdicts} if update is not None else None
    merged, more = merge(items, evidence, similarity, verdicts)
    # What the model removed stays removed: the record's own candidate for it is not added back.
    removed = [line.split(": ", 1)[1] for line in log if line.startswith("remove ")]
    items = [
        item
        for item in merged
        if not (
            item.sources == (evidence.record_id,) and any(same(item.text, r, similarity) for r in removed)
        )
    ]
    log = [line for line in log if not line.startswith("skip ")] + more
    language = evidence.record.language
    kept = kind_of_name(previous.name) if previous is not None else None
    named = previous is not None
    naming = name_skill(titles, goals, language, () if named else taken_names, similarity, kept, named, asks)
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
        note = SUPPORT_NOTE["zh" if draft.language == "zh" else "en"]
        return tuple(
            item.text + (note.format(item.support) if item.support > 1 else "")
            for item in draft.items
            if item.section == section
        )

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
        tasks = f"{record_count} task" + ("" if record_count == 1 else "s")
        conversations = f"{conversation_count} conversation" + ("" if conversation_count == 1 else "s")
        additional = (f"Learned from {tasks} in {conversations}; last updated {updated}.",)
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


CHECK_OPENINGS = (
    "交付前对照用户偏好逐条检查：",
    "Before answering, check the result against each preference: ",
)


def _check_step(draft: SkillDraft) -> tuple[str, ...]:
    """A closing step that carries the user's preferences into the procedure itself."""
    preferences = sorted(
        (item for item in draft.items if item.section == "preference"),
        key=lambda item: (-item.support, item.position),
    )[:6]
    if not preferences:
        return ()
    short = [first_clause(p.text) for p in preferences]
    zh = draft.language == "zh"
    return (CHECK_OPENINGS[0 if zh else 1] + ("；" if zh else "; ").join(short),)


def is_substantive(record: TaskRecord, user_turns: int) -> bool:
    """Whether a task is worth a skill: a real request, not a greeting, thanks, chat or a one-word
    exchange (the record has steps only when one of its user turns asks for something)."""
    if not record.steps and not record.requests:
        return False
    if record.asks < ASK_FLOOR and not record.tools:
        return False
    return user_turns >= 2 or bool(
        record.preferences or record.requirements or record.tools or record.corrections
    )


Vet = Callable[[Sequence[SkillItem]], tuple[list[SkillItem], list[str]]]
"""Items in, (the items kept, why each other one was kept out) out."""


def next_version(
    previous: Skill | None,
    scope: Scope,
    cluster_id: str,
    evidence: Evidence,
    records: Sequence[TaskRecordRow],
    taken: Sequence[str],
    similarity: Similarity,
    update: SkillUpdate | None,
    moment: int,
    vet: Vet | None = None,
) -> tuple[Skill, SkillDraft] | None:
    """The cluster's skill with its next version after `evidence` (None when nothing changed): the
    draft rendered to a validated SKILL.md, ready to store. `records` are the cluster's task records,
    `taken` the names of the user's other skills; `vet` keeps out the items its sources do not back
    (`memskill.evidence`), and the version records why."""

    # A skill is named and described from what its tasks asked for, never from an acknowledgement; its
    # first task's request leads. Records of one job share a time, so ties go by id (from content): the
    # same tasks give the same title however their jobs were timed or retried.
    ordered = sorted(records, key=lambda r: (r.create_time, r.id))
    first = evidence.record.requests[0] if evidence.record.requests else ""
    titles = [record_request(r.record) for r in ordered] or [
        as_title(generalise(first)) if first else evidence.record.title
    ]
    goals = [generalise(str(r.record.get("goal", ""))) for r in ordered] or [generalise(evidence.record.goal)]
    # What asked for each task names the skill's kind; the conditions said after the request do not.
    # As said: "去大理待5天" names a trip, its generalised "去目的地待N天" no longer does.
    asks = [str(r.record.get("ask") or r.record.get("goal", "")) for r in ordered] or [
        evidence.record.ask or evidence.record.goal
    ]
    # A task of the kind whose request read too unsure to start a skill ("I need an outline for…" at
    # .58) still says how the user wants the kind done: the first version folds it in.
    earlier = [
        Evidence(r.id, record_from_dict(r.record), ())
        for r in (ordered if previous is None else ())
        if r.id != evidence.record_id
    ]
    current = previous.current if previous else None
    draft = synthesize(current, evidence, titles, goals, similarity, taken, update, asks, earlier)
    if previous is not None and not draft.operations:
        return None
    kept, held_out = vet(draft.items) if vet is not None else (list(draft.items), [])
    draft = replace(draft, items=tuple(kept))
    skill_id = previous.id if previous else stable_id("skill_", scope.user_id, cluster_id)
    number = previous.current.version + 1 if previous else 1
    conversations = tuple(dict.fromkeys(r.conversation_id for r in ordered))
    metadata = {
        "skill_id": skill_id,
        "version": str(number),
        "user_id": scope.user_id,
        "source_count": str(len(records)),
        "updated_at_ms": str(moment),
    }
    markdown = render_checked(document(draft, metadata, len(records), len(conversations)))
    version = SkillVersion(
        skill_id=skill_id,
        version=number,
        name=draft.name,
        description=draft.description,
        items=draft.items,
        markdown=markdown,
        create_time=moment,
        note="\n".join(draft.operations),
        held_out=tuple(held_out),
    )
    skill = Skill(
        id=skill_id,
        user_id=scope.user_id,
        cluster_id=cluster_id,
        current=version,
        conversation_ids=conversations,
        agent_id=scope.agent_id,
        app_id=scope.app_id,
        confidence=min(0.95, 0.5 + 0.1 * len(records)),
        create_time=previous.create_time if previous else moment,
        update_time=moment,
    )
    return skill, draft


def render_checked(doc: SkillDocument) -> str:
    """Render SKILL.md and refuse to return text the validator rejects."""
    markdown = render(doc)
    problems = validate(markdown, doc.name)
    if problems:
        raise ValueError("generated SKILL.md is invalid: " + "; ".join(problems))
    return markdown

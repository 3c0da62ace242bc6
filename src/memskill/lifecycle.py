"""A skill's life: candidate → active → retired, the operator's review, and feedback per skill.

    candidate ──(enough tasks, evidence holds; approval when review is required)──▶ active
    active ──(retire; feedback reliability under DEMOTE_BELOW)──▶ retired / candidate
    retired, demoted candidate ──(approve)──▶ active

- **States.** Only active skills are served (`search/memory`, `get/memory`): a candidate lacks tasks
  (`Settings.skill_min_tasks`), an approval (`Settings.skill_review == "required"`), good feedback, or
  any procedure step once the evidence check held its steps out; a retired skill is kept with its
  history and never served. A skill's wire status follows: active is `activated`, the others
  `archived`, so every search path already leaves them out.
- **Review.** With review required, a new skill is a candidate until an operator approves it, and a
  version memskill makes of an approved skill waits: the skill keeps serving the approved version
  (`Skill.live_version`) until the newer one is approved. Operators also reject (retire a candidate,
  or drop a waiting version), retire, edit (a version written by a person; later versions build on it
  and never bring back what the person removed, see `removed_by_people`), and roll back (a new version
  equal to an old one).
- **Feedback.** Feedback about a skill counts as helpful or unhelpful; `Skill.reliability` is (helpful +
  1) / (all + 2), and an active skill under `DEMOTE_BELOW` goes back to candidate.

Every change is one `SkillEvent` in the skill's history, with who and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from memskill.errors import InvalidRequest, NotFound
from memskill.evidence import check
from memskill.models import Message, Scope, Skill, SkillEvent, SkillItem, SkillState, SkillVersion, now_ms
from memskill.providers.embedders import Embedder
from memskill.skillfile import SkillDocument, parse, render
from memskill.stores.base import Store
from memskill.synthesize import CHECK_OPENINGS
from memskill.vectors import skill_search_text, skill_vectors

MACHINE = "memskill"
"""The actor of what memskill does by itself."""
DEMOTE_BELOW = 0.3
"""An active skill whose reliability falls under this goes back to candidate: with no helpful feedback,
two unhelpful ones (1/4); one helpful and four unhelpful (2/7)."""
STATUS = {"active": "activated", "candidate": "archived", "retired": "archived"}
ACTIONS = ("approve", "reject", "retire", "rollback", "edit")
"""What an operator may do to a skill (`Review.act`)."""


def status_of(skill: Skill) -> Skill:
    """The skill with the wire status its state implies."""
    return replace(skill, status=STATUS[skill.state])  # type: ignore[arg-type]


def missing(skill: Skill, tasks: int, min_tasks: int) -> list[str]:
    """What a skill lacks before it may be served by its evidence (empty: nothing)."""
    lacks = []
    if tasks < min_tasks:
        lacks.append(f"{tasks} of {min_tasks} supporting tasks")
    steps = sum(item.section == "procedure" for item in skill.current.items)
    if not steps and any(reason.startswith("procedure:") for reason in skill.current.held_out):
        lacks.append("no procedure step its sources back (see what the version held out)")
    if skill.reliability < DEMOTE_BELOW:
        lacks.append(f"feedback reliability {skill.reliability:.2f} (under {DEMOTE_BELOW})")
    return lacks


def after_build(previous: Skill | None, built: Skill, tasks: int, min_tasks: int, review: bool) -> Skill:
    """The state of a skill after memskill built its next version from `tasks` supporting tasks."""
    if previous is not None:
        built = replace(built, helpful=previous.helpful, unhelpful=previous.unhelpful)
    lacks = missing(built, tasks, min_tasks)
    if previous is None:
        state: SkillState = "candidate" if lacks or review else "active"
        return status_of(replace(built, state=state, live_version=0))
    carried = replace(built, state=previous.state, helpful=previous.helpful, unhelpful=previous.unhelpful)
    if previous.state == "retired":
        return status_of(replace(carried, live_version=previous.live_version))
    if review:
        # A version memskill makes waits for approval; an approved skill keeps serving its last one.
        live = previous.live_version or (previous.current.version if previous.state == "active" else 0)
        return status_of(replace(carried, live_version=live))
    state = "candidate" if lacks else "active"
    return status_of(replace(carried, state=state, live_version=0))


def served(store: Store, skill: Skill) -> Skill:
    """The skill as it is served: with the approved version while a newer one waits for review."""
    if not skill.live_version or skill.live_version == skill.current.version:
        return skill
    live = next((v for v in store.skill_versions(skill.id) if v.version == skill.live_version), None)
    return replace(skill, current=live) if live is not None else skill


APPROVING = 0.5
"""Feedback is helpful when a clause is at least this surely an approval and none is a complaint or a
correction by more than `DOUBTING`; unhelpful when a clause is a complaint or correction at least this
surely, or is labelled one while no clause is an approval by `DOUBTING`; else it counts neither way (a
new standing rule, or a reading the tagger is unsure of)."""
DOUBTING = 0.2


def found_helpful(messages: Sequence[Message]) -> bool | None:
    """Whether feedback says the skill helped (True), failed (False) or neither (None), read by the turn
    tagger as a reply to an answer ("完美，就按这个来" helped; "Too long." failed; "以后控制在200字以内" is
    neither: it adds a rule)."""
    from memskill.tagger import default_tagger

    tagger = default_tagger()
    tags = [
        tag
        for m in messages
        if m.role == "user"
        for tag in tagger.tag(m.content, first_turn=False, after_answer=True)
    ]
    against = max((tag.mass(("complaint", "correction")) for tag in tags), default=0.0)
    approval = max((tag.probabilities.get("approval", 0.0) for tag in tags), default=0.0)
    # A complaint read as such, however unsure ("Too long again.": .46 complaint, .16 approval), with no
    # approval in sight, is one too.
    complains = any(tag.label in ("complaint", "correction") for tag in tags) and approval < DOUBTING
    if against >= APPROVING or complains:
        return False
    if approval >= APPROVING and against < DOUBTING:
        return True
    return None


CANDIDATE_COSINE = 0.25
"""How close (cosine) a candidate's name and description must be to the query to be returned: a trip
request and a travel skill's description are about .44 apart with the offline embedder, an e-mail
request and that skill about .03."""


def candidate_hits(
    store: Store, embed: Callable[[list[str]], np.ndarray], scope: Scope, query: np.ndarray
) -> list[tuple[Skill, float]]:
    """The scope's candidate skills whose name and description are at least `CANDIDATE_COSINE` close to
    the query vector, best first, with that cosine as their relativity. Candidates are few and outside
    the search indexes, so they are compared one by one; a search that asks for them
    (`include_candidates`) gets them marked by `state`."""
    found = [s for s in store.list_skills(scope, ("archived",)) if s.state == "candidate"]
    if not found:
        return []
    texts = [s.current.name.replace("-", " ") + " " + s.current.description for s in found]
    cosines = np.asarray(embed(texts)) @ np.asarray(query)
    ranked = sorted(zip(found, (float(c) for c in cosines), strict=True), key=lambda pair: -pair[1])
    return [(skill, cosine) for skill, cosine in ranked if cosine >= CANDIDATE_COSINE]


REMOVED_BY_A_PERSON = " — a person removed it"
"""How a version lists an item a person removed: carried from version to version, so that finding what
people removed reads the previous version (and, after a person's version, the one before it) only."""


def removed_by_people(current: SkillVersion, before: SkillVersion | None) -> list[tuple[str, str]]:
    """(section, text) of the items people removed, which a later version memskill builds must not bring
    back: those `current` lists as removed and, when a person made `current`, what it dropped from
    `before` (the version before it)."""
    found: list[tuple[str, str]] = []
    for reason in current.held_out:
        if reason.endswith(REMOVED_BY_A_PERSON):
            section, _, text = reason[: -len(REMOVED_BY_A_PERSON)].partition(": ")
            found.append((section, text))
    if before is not None and current.author != MACHINE:
        kept = {(i.section, i.text) for i in current.items}
        found += [(i.section, i.text) for i in before.items if (i.section, i.text) not in kept]
    return list(dict.fromkeys(found))


def removed_items(store: Store, previous: Skill | None) -> set[tuple[str, str]]:
    """What people removed from the skill (`removed_by_people`), reading its versions only when the
    current one is a person's: a skill's update reads one version, not its whole history."""
    if previous is None:
        return set()
    before = None
    if previous.current.author != MACHINE and previous.current.version > 1:
        number = previous.current.version - 1
        before = next((v for v in store.skill_versions(previous.id) if v.version == number), None)
    return set(removed_by_people(previous.current, before))


def vetted(
    items: Sequence[SkillItem], sources: str, removed: set[tuple[str, str]]
) -> tuple[list[SkillItem], list[str]]:
    """The items of a version memskill builds that its sources back (`evidence.check`) and no person
    removed, and why each other one is out. What people removed is listed in every later version,
    proposed again or not: the next build reads it from there (`removed_by_people`)."""
    kept, held_out = check(items, sources)
    held_out += [f"{section}: {text}{REMOVED_BY_A_PERSON}" for section, text in sorted(removed)]
    return [i for i in kept if (i.section, i.text) not in removed], held_out


class Review:
    """The operator's actions on skills, over a store. `actor` names who acts (kept in the history)."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def _skill(self, skill_id: str) -> Skill:
        skill = self.store.get_skill(skill_id)
        if skill is None:
            raise NotFound(f"skill {skill_id!r} not found; list skills with `memskill skills list`")
        return skill

    def _log(self, skill: Skill, actor: str, action: str, detail: str = "") -> None:
        event = SkillEvent(skill.id, skill.update_time, actor, action, skill.current.version, detail)
        self.store.add_skill_event(event)

    def _set(self, skill: Skill, actor: str, action: str, detail: str = "") -> Skill:
        skill = status_of(replace(skill, update_time=now_ms()))
        with self.store.transaction():
            self.store.set_skill_state(skill)
            self._log(skill, actor, action, detail)
        return skill

    def approve(self, skill_id: str, actor: str) -> Skill:
        """Serve the skill's current version (a candidate, a retired skill or a waiting version). The
        feedback counts start again: the operator's judgement replaces what demoted it (the history
        keeps every vote)."""
        skill = self._skill(skill_id)
        approved = replace(skill, state="active", live_version=0, helpful=0, unhelpful=0)
        return self._set(approved, actor, "approved")

    def reject(self, skill_id: str, actor: str, reason: str = "") -> Skill:
        """Retire a candidate; for an active skill with a waiting version, drop that version (a new
        version equal to the served one) and keep serving."""
        skill = self._skill(skill_id)
        if skill.state == "active" and skill.live_version and skill.live_version != skill.current.version:
            return self.rollback(skill_id, skill.live_version, actor, reason or "waiting version rejected")
        if skill.state != "candidate":
            raise InvalidRequest(
                f"skill {skill_id!r} is {skill.state}, with no version waiting: nothing to reject"
            )
        return self._set(replace(skill, state="retired"), actor, "rejected", reason)

    def retire(self, skill_id: str, actor: str, reason: str = "") -> Skill:
        """Stop serving a skill; its versions and history stay (approve brings it back)."""
        return self._set(replace(self._skill(skill_id), state="retired"), actor, "retired", reason)

    def edit(self, skill_id: str, markdown: str, actor: str) -> Skill:
        """A version written by a person: the SKILL.md as given (validated), served at once."""
        skill = self._skill(skill_id)
        document = parse(markdown)
        if document.name != skill.current.name:
            raise InvalidRequest(
                f"the edited SKILL.md is named {document.name!r}, the skill {skill.current.name!r}: "
                "keep the name (it is the skill's folder name)"
            )
        items = _items_of(document)
        return self._new_version(skill, items, document.description, markdown, actor, "edited")

    def rollback(self, skill_id: str, version: int, actor: str, reason: str = "") -> Skill:
        """A new version equal to version `version`, served at once."""
        skill = self._skill(skill_id)
        old = next((v for v in self.store.skill_versions(skill_id) if v.version == version), None)
        if old is None:
            raise NotFound(f"skill {skill_id!r} has no version {version}")
        detail = f"to version {version}" + (f": {reason}" if reason else "")
        return self._new_version(
            skill, old.items, old.description, old.markdown, actor, "rolled back", detail
        )

    def _new_version(
        self,
        skill: Skill,
        items: Sequence[SkillItem],
        description: str,
        markdown: str,
        actor: str,
        action: str,
        detail: str = "",
    ) -> Skill:
        moment = now_ms()
        number = skill.current.version + 1
        document = parse(markdown)
        metadata = {
            **document.metadata,
            "skill_id": skill.id,
            "version": str(number),
            "user_id": skill.user_id,
        }
        version = SkillVersion(
            skill_id=skill.id,
            version=number,
            name=skill.current.name,
            description=description,
            items=tuple(items),
            markdown=render(replace(document, metadata=metadata)),
            create_time=moment,
            note=f"{action} by {actor}" + (f" ({detail})" if detail else ""),
            author=actor,
        )
        changed = status_of(
            replace(skill, current=version, state="active", live_version=0, update_time=moment)
        )
        scope = Scope(skill.user_id, skill.agent_id, skill.app_id)
        cluster = next((c for c in self.store.list_clusters(scope) if c.id == skill.cluster_id), None)
        vector = None
        if cluster is not None:
            vector = skill_vectors([cluster.centroid], [(document.title, description)], self.embedder)[0]
        records = self.store.task_records(skill.cluster_id)
        search = skill_search_text(version.name, document.title, description, items, records)
        with self.store.transaction():
            self.store.save_skill(changed, search, vector, self.embedder.id if vector is not None else None)
            self._log(changed, actor, action, detail)
        return changed

    def act(
        self,
        action: str,
        skill_id: str,
        actor: str,
        reason: str = "",
        version: int | None = None,
        markdown: str | None = None,
    ) -> Skill:
        """One of `ACTIONS` by name, as the CLI, the HTTP extension and the console ask for it."""
        if action == "approve":
            return self.approve(skill_id, actor)
        if action == "reject":
            return self.reject(skill_id, actor, reason)
        if action == "retire":
            return self.retire(skill_id, actor, reason)
        if action == "rollback":
            if version is None:
                raise InvalidRequest("a rollback needs the version to return to (`version`, `--version N`).")
            return self.rollback(skill_id, version, actor, reason)
        if action == "edit":
            if not markdown:
                raise InvalidRequest("an edit needs the whole edited SKILL.md (`skill_markdown`, `--file`).")
            return self.edit(skill_id, markdown, actor)
        raise InvalidRequest(f"unknown review action {action!r}: use one of {', '.join(ACTIONS)}")

    def feedback(self, skill_id: str, helpful: bool, actor: str, detail: str = "") -> Skill:
        """Count one piece of feedback; an active skill whose reliability falls under `DEMOTE_BELOW` goes
        back to candidate."""
        skill = self._skill(skill_id)
        counted = replace(
            skill,
            helpful=skill.helpful + helpful,
            unhelpful=skill.unhelpful + (not helpful),
        )
        action = "helpful" if helpful else "unhelpful"
        if counted.state == "active" and counted.reliability < DEMOTE_BELOW:
            counted = replace(counted, state="candidate")
            detail = (detail + "; " if detail else "") + f"demoted: reliability {counted.reliability:.2f}"
        return self._set(counted, actor, action, detail)

    def history(self, skill_id: str) -> tuple[Skill, list[SkillVersion], list[SkillEvent]]:
        """The skill, every version and every event, oldest first."""
        skill = self._skill(skill_id)
        return skill, self.store.skill_versions(skill_id), self.store.skill_events(skill_id)


def _items_of(document: SkillDocument) -> list[SkillItem]:
    """A person's SKILL.md as skill items (the closing check step is rendered from the preferences, so
    it is not kept as a step); they cite no task, being the person's own word."""
    steps = [step for step in document.procedure if not step.startswith(CHECK_OPENINGS)]
    items = [SkillItem("procedure", text, 1, (), n / max(1, len(steps))) for n, text in enumerate(steps)]
    items += [SkillItem("experience", text) for text in document.experience]
    items += [SkillItem("preference", text) for text in document.preferences]
    items += [SkillItem("example", text) for text in document.examples]
    return items

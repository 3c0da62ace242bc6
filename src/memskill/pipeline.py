"""The pipeline that turns one stored job into memories and skills.

    ingest job:   new messages (+ recent history) → segment → extract per chunk → store facts,
                  preferences, tool lessons (merge duplicates, archive contradicted) → cluster the task
                  record → synthesise the cluster's skill (new version)
    feedback job: the correction → preferences (superseding old ones) → the matching skill (new version)

Reads and model work happen first; every write of a job, and marking it completed, happen in one
transaction, so a crash leaves either nothing or everything of a job, and a re-run after a crash does
the job once in effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from memskill.cluster import Chooser
from memskill.consolidate import Consolidator, Outcome, memory_texts, stable_id
from memskill.errors import LeaseLost
from memskill.evidence import sources_of
from memskill.extract import detect_language, task_chunks
from memskill.generalise import generalise
from memskill.lifecycle import MACHINE, Review, after_build, found_helpful, removed_items, vetted
from memskill.llm import Ledger, StageRun, StructuredLLM
from memskill.models import (
    Extraction,
    Job,
    PreferenceDraft,
    Scope,
    Skill,
    SkillEvent,
    SkillItem,
    TaskChunk,
    TaskRecord,
    ToolLessonDraft,
    now_ms,
)
from memskill.prompts.skill_update import SkillUpdate
from memskill.providers.embedders import Embedder
from memskill.rechunk import absorbed, moved, with_task_start
from memskill.rechunk import record_id as rechunk_record_id
from memskill.skill_items import corrected_items
from memskill.stages import Stages
from memskill.stores.base import ClusterRow, Store, TaskRecordRow
from memskill.synthesize import Evidence, is_substantive, next_version, shown_candidates
from memskill.vectors import (
    centroid,
    record_dict,
    record_from_dict,
    record_text,
    skill_search_text,
    skill_vectors,
)

log = logging.getLogger("memskill.pipeline")

CONTEXT_MESSAGES = 16
"""Earlier messages of the conversation re-read with new ones, so a task that continues keeps its chunk."""


@dataclass(frozen=True)
class Proposal:
    """A model's operations on a skill, and which skill version they were made for (None: a new skill)."""

    base: tuple[str, int] | None
    update: SkillUpdate


class Pipeline:
    """Runs jobs against a store with an embedder. Stateless apart from its collaborators."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        llm: StructuredLLM | None = None,
        profile: str = "full",
        min_tasks: int = 1,
        review: bool = False,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.min_tasks = min_tasks
        """Supporting tasks a skill needs before it is served (`Settings.skill_min_tasks`)."""
        self.review = review
        """Whether every new skill and version waits for an operator (`Settings.skill_review`)."""
        self.stages = Stages(embedder, llm, profile)
        self.clusters = Chooser(store, embedder)
        self.memories = Consolidator(store, embedder)
        self.progress: Callable[[str, int, int], None] | None = None
        """Called as (what, done, total) while a job runs; the CLI shows it."""

    def similarity(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        vectors = self.embedder.embed([*left, *right])
        return vectors[: len(left)] @ vectors[len(left) :].T

    def run(
        self, job: Job, heartbeat: Callable[[], None] | None = None, worker: str | None = None
    ) -> dict[str, list[str]]:
        """Do a job and mark it completed (in the same transaction as its writes).

        `heartbeat` is called before each model call (the worker renews its lease there). With `worker`,
        the writes commit only if that worker still holds the job's lease; otherwise they roll back and
        `LeaseLost` is raised (another worker took the job over and does it instead).
        """
        payload = self.store.job_payload(job.id)
        scope = Scope(job.user_id, payload.get("agent_id"), payload.get("app_id"))
        ledger = Ledger(heartbeat=heartbeat, owner=worker)
        if job.kind == "feedback":
            return self._run_feedback(job, scope, payload, ledger)
        return self._run_ingest(job, scope, payload, ledger)

    # -- ingest -----------------------------------------------------------------------------------

    def _run_ingest(
        self, job: Job, scope: Scope, payload: dict[str, Any], ledger: Ledger
    ) -> dict[str, list[str]]:
        new_ids = list(payload.get("new_message_ids", []))
        new = self.store.messages_by_ids(new_ids)
        outcome = Outcome()
        if not new:
            with self.store.transaction():
                self._finish(job, outcome, ledger)
            return outcome.as_dict()
        context = self.store.recent_messages(job.user_id, job.conversation_id, CONTEXT_MESSAGES, new_ids)
        if len(context) >= CONTEXT_MESSAGES:
            context = with_task_start(self.store, job, context)
        messages = [*context, *new]
        fresh = set(new_ids)
        tags = tuple(str(t) for t in payload.get("tags", []))
        parts = task_chunks(job.conversation_id, messages, self.stages.segment(messages, ledger))
        # A chunk with new messages is a task to record; so is an older chunk whose stored record a
        # later turn's boundary moved (`rechunk.moved`): that record is written again.
        chunks = [
            chunk
            for chunk in parts
            if any(m.id in fresh for m in chunk.messages)
            or moved(self.store.get_task_record(self._record_id(job, chunk)), chunk, fresh)
        ]
        extractions = []
        for number, chunk in enumerate(chunks, start=1):
            extractions.append((chunk, _only_fresh(self.stages.extract(chunk, ledger), fresh)))
            self._report("extracting tasks", number, len(chunks))
        # Model calls happen here, before the transaction, so the write lock is never held while waiting:
        # the texts the memories and clusters are embedded by go in one call (the embedder caches them).
        self.embedder.embed(
            list(
                dict.fromkeys(
                    text
                    for chunk, extraction in extractions
                    for text in (record_text(extraction.record), *memory_texts(chunk, extraction))
                )
            )
        )
        proposals = {
            self._record_id(job, chunk): self._propose(scope, job, chunk, extraction, ledger)
            for chunk, extraction in extractions
        }
        with self.store.transaction():
            gone = absorbed(self.store, job, parts, chunks, messages)
            for stale in gone:
                self._drop_record(scope, stale, outcome)
            for number, (chunk, extraction) in enumerate(extractions, start=1):
                proposal = proposals.get(self._record_id(job, chunk))
                gone_ids = tuple(row.id for row in gone)
                args = (tags, outcome, ledger, proposal, gone_ids, frozenset(fresh))
                self._store_chunk(job, scope, chunk, extraction, *args)
                self._report("storing memories and skills", number, len(extractions))
            self._finish(job, outcome, ledger)
        return outcome.as_dict()

    def _drop_record(self, scope: Scope, stale: TaskRecordRow, outcome: Outcome) -> None:
        """Remove a record whose chunk is gone, with the skill it alone made; its cluster is re-centred."""
        cluster = next((c for c in self.store.list_clusters(scope) if c.id == stale.cluster_id), None)
        others = [row for row in self.store.task_records(stale.cluster_id) if row.id != stale.id]
        if cluster is not None and cluster.skill_id and not others:
            self.store.delete_skill(cluster.skill_id)
            outcome.deleted.append(cluster.skill_id)
        self.store.delete_task_record(stale.id)
        if cluster is not None and others:
            self._recentred(replace(cluster, size=len(others)))

    def _report(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    def _finish(self, job: Job, outcome: Outcome, ledger: Ledger) -> None:
        report = ledger.report()
        result = {**outcome.as_dict(), "llm": report}
        if not self.store.finish_job(job.id, "completed", None, result, ledger.usage, ledger.owner):
            raise LeaseLost(f"job {job.id} is no longer leased to {ledger.owner}; its writes are rolled back")
        if report["mode"] != "algorithmic":
            log.info("job %s: %s (%s)", job.id, report["mode"], _stage_summary(ledger))

    @staticmethod
    def _record_id(job: Job, chunk: TaskChunk) -> str:
        return rechunk_record_id(job, chunk.messages[0].id)

    def _propose(
        self, scope: Scope, job: Job, chunk: TaskChunk, extraction: Extraction, ledger: Ledger
    ) -> Proposal | None:
        """The model's operations on the skill this chunk will most likely update (None without a model).

        The cluster is chosen here without saving anything; inside the transaction it is chosen again,
        and the operations are used only if the same skill at the same version is updated.
        """
        if self.stages.llm is None:
            return None
        record = extraction.record
        existing = self.store.get_task_record(self._record_id(job, chunk))
        cluster = self.clusters.choose(scope, job.conversation_id, record, record_text(record), existing)
        user_turns = sum(1 for m in chunk.messages if m.role == "user")
        if cluster.skill_id is None and not is_substantive(record, user_turns):
            return None
        previous = self.store.get_skill(cluster.skill_id) if cluster.skill_id else None
        base = (previous.id, previous.current.version) if previous else None
        title = previous.current.name if previous else record.title
        description = previous.current.description if previous else ""
        items = previous.current.items if previous else ()
        lessons = _rules((*extraction.earlier_lessons, *extraction.tool_lessons))
        evidence = Evidence(self._record_id(job, chunk), record, tuple(lessons))
        shown = shown_candidates(items, evidence, self.similarity)
        update = self.stages.skill_update(title, description, items, shown, record.language, ledger)
        return Proposal(base, update) if update is not None else None

    def _store_chunk(
        self,
        job: Job,
        scope: Scope,
        chunk: TaskChunk,
        extraction: Extraction,
        tags: tuple[str, ...],
        outcome: Outcome,
        ledger: Ledger,
        proposal: Proposal | None,
        gone: tuple[str, ...] = (),
        fresh: frozenset[str] = frozenset(),
    ) -> None:
        record_id = self._record_id(job, chunk)
        existing_record = self.store.get_task_record(record_id)
        revised = moved(existing_record, chunk, fresh)
        cluster = self._cluster_for(scope, job.conversation_id, extraction.record, existing_record)
        self.memories.episode(job, scope, record_id, chunk, extraction.record, tags, outcome)
        for fact in extraction.facts:
            self.memories.fact(job, scope, fact, tags, outcome)
        retracted: list[str] = []
        for preference in extraction.preferences:
            retracted += self.memories.preference(job, scope, preference, cluster.id, tags, outcome)
        stored = [
            lesson
            for lesson in extraction.tool_lessons
            if self.memories.tool_lesson(
                job, scope, lesson, tags, outcome, _served(chunk, lesson, extraction.record)
            )
        ]
        # A task re-read with its next turn is the same task: the failures fixed in its earlier turns
        # still teach its skill (the record's items are rebuilt from this evidence).
        lessons = _rules((*extraction.earlier_lessons, *stored))
        record = extraction.record
        self.store.add_task_record(
            TaskRecordRow(
                record_id,
                job.user_id,
                cluster.id,
                job.conversation_id,
                record_dict(record),
                # One time for every record a job writes (its creation): records of one job then tie
                # and sort by id, as they do when the job is run again after a crash.
                existing_record.create_time if existing_record else (job.create_time or now_ms()),
            )
        )
        if revised:
            cluster = self._recentred(cluster)
        user_turns = sum(1 for m in chunk.messages if m.role == "user")
        substantive = is_substantive(record, user_turns)
        if revised and not substantive and cluster.skill_id and cluster.size <= 1:
            # The skill was made from a cut that held another task's messages; cut right, its only
            # task is a question answered once, worth no skill (the other task has its own record).
            self.store.delete_skill(cluster.skill_id)
            outcome.deleted.append(cluster.skill_id)
            return
        if cluster.skill_id is None and not substantive:
            return
        evidence = Evidence(record_id, record, tuple(lessons), tuple(retracted), revised, gone)
        self._update_skill(scope, cluster, evidence, outcome, self._usable(cluster, proposal, ledger))

    def _usable(self, cluster: ClusterRow, proposal: Proposal | None, ledger: Ledger) -> SkillUpdate | None:
        """The proposal's operations if they were made for this cluster's skill at its current version."""
        if proposal is None:
            return None
        previous = self.store.get_skill(cluster.skill_id) if cluster.skill_id else None
        base = (previous.id, previous.current.version) if previous else None
        if base == proposal.base:
            return proposal.update
        reason = "the task joined another skill, or the skill changed while the model answered"
        ledger.note(StageRun("skill_update", "fallback", 0.0, reason=reason))
        return None

    def _cluster_for(
        self, scope: Scope, conversation_id: str, record: TaskRecord, existing: TaskRecordRow | None
    ) -> ClusterRow:
        """The record's cluster, saved: its own when it was stored before, else a similar one or a new one."""
        cluster = self.clusters.choose(scope, conversation_id, record, record_text(record), existing)
        if cluster.id != (existing.cluster_id if existing else None):
            self.store.save_cluster(cluster)
        return cluster

    def _recentred(self, cluster: ClusterRow) -> ClusterRow:
        """The cluster with its centroid made again from its records (one of them was rewritten), saved."""
        texts = [record_text(record_from_dict(row.record)) for row in self.store.task_records(cluster.id)]
        if not texts:
            return cluster
        recentred = replace(cluster, centroid=centroid(self.embedder.embed(texts)))
        self.store.save_cluster(recentred)
        return recentred

    # -- skills -----------------------------------------------------------------------------------

    def _update_skill(
        self,
        scope: Scope,
        cluster: ClusterRow,
        evidence: Evidence,
        outcome: Outcome,
        update: SkillUpdate | None = None,
    ) -> Skill:
        previous = self.store.get_skill(cluster.skill_id) if cluster.skill_id else None
        records = list(self.store.task_records(cluster.id))
        taken = [
            s.current.name for s in self.store.list_skills(scope) if previous is None or s.id != previous.id
        ]
        removed = removed_items(self.store, previous)

        def vet(items: Sequence[SkillItem]) -> tuple[list[SkillItem], list[str]]:
            said = sources_of(self.store, items, records, evidence.record_id, evidence.record.sources)
            return vetted(items, said, removed)

        built = next_version(
            previous, scope, cluster.id, evidence, records, taken, self.similarity, update, now_ms(), vet
        )
        if built is None:
            assert previous is not None
            return previous  # nothing new: no new version
        skill, draft = built
        # A conversation's follow-ups to one task are records of it too: tasks count by conversation.
        tasks = len({r.conversation_id for r in records}) or 1
        skill = after_build(previous, skill, tasks, self.min_tasks, self.review)
        vector = skill_vectors([cluster.centroid], [(draft.title, draft.description)], self.embedder)[0]
        search = skill_search_text(draft.name, draft.title, draft.description, draft.items, records)
        self.store.save_skill(skill, search, vector, self.embedder.id)
        held_out = len(skill.current.held_out)
        held = f"; {held_out} held out" if held_out else ""
        self.store.add_skill_event(
            SkillEvent(
                skill.id,
                skill.update_time,
                MACHINE,
                "updated" if previous else "created",
                skill.current.version,
                f"{skill.state}{held}",
            )
        )
        if cluster.skill_id != skill.id:
            self.store.save_cluster(replace(cluster, skill_id=skill.id, update_time=skill.update_time))
        (outcome.updated if previous else outcome.added).append(skill.id)
        return skill

    # -- feedback ---------------------------------------------------------------------------------

    def _run_feedback(
        self, job: Job, scope: Scope, payload: dict[str, Any], ledger: Ledger
    ) -> dict[str, list[str]]:
        outcome = Outcome()
        message_ids = list(payload.get("message_ids", []))
        messages = self.store.messages_by_ids(message_ids)
        text = " ".join(m.content for m in messages).strip()
        named = self.store.get_skill(str(payload["skill_id"])) if payload.get("skill_id") else None
        skill = named or self._skill_for_feedback(scope, job.conversation_id, text)
        found = self.stages.feedback(
            text,
            messages,
            skill.current.name if skill else None,
            skill.current.items if skill else (),
            ledger,
        )
        base = (skill.id, skill.current.version) if skill else None
        drafts = [replace(d, is_correction=True) for d in found.preferences]
        if not drafts and text and not found.answered:
            drafts = [
                PreferenceDraft(
                    text=text,
                    preference_type="explicit_preference",
                    reasoning="用户在反馈中说明" if detect_language(text) == "zh" else "stated as feedback",
                    topic="feedback",
                    polarity=0,
                    sources=tuple(message_ids),
                    is_correction=True,
                )
            ]
        cluster = None
        if skill is not None:
            cluster = next((c for c in self.store.list_clusters(scope) if c.id == skill.cluster_id), None)
        with self.store.transaction():
            retracted: list[str] = []
            for draft in drafts:
                retracted += self.memories.preference(
                    job, scope, draft, cluster.id if cluster else None, (), outcome
                )
            if skill is not None:
                retracted += corrected_items(skill.current.items, drafts, self.similarity)
            if skill is not None:
                helpful = found_helpful(messages)
                if helpful is not None:
                    Review(self.store, self.embedder).feedback(skill.id, helpful, "feedback", text[:200])
                    skill = self.store.get_skill(skill.id) or skill
            if cluster is not None and drafts:
                language = detect_language(text)
                record = TaskRecord(
                    title=skill.current.name if skill else "feedback",
                    goal="",
                    steps=(),
                    corrections=tuple(generalise(d.text) for d in drafts),
                    preferences=(),
                    tools=(),
                    outcome="",
                    language=language,
                    sources=tuple(message_ids),
                )
                evidence = Evidence(stable_id("rec_", job.id), record, (), tuple(retracted))
                proposal = Proposal(base, found.update) if found.update is not None else None
                self._update_skill(scope, cluster, evidence, outcome, self._usable(cluster, proposal, ledger))
            self._finish(job, outcome, ledger)
        return outcome.as_dict()

    def _skill_for_feedback(self, scope: Scope, conversation_id: str, text: str) -> Skill | None:
        """The skill of the conversation's latest task, else the skill closest to the feedback."""
        latest = self.store.latest_task_record(scope.user_id, conversation_id)
        skills = self.store.list_skills(scope)
        if latest is not None:
            for skill in skills:
                if skill.cluster_id == latest.cluster_id:
                    return skill
        if not skills or not text:
            return None
        vector = self.embedder.embed([text])[0]
        hits = self.store.vector_search(scope, "skills", "", vector, 1, self.embedder.id)
        if hits and hits[0].score >= 0.3:
            return next((s for s in skills if s.id == hits[0].id), None)
        return None


def _teaches(lesson: ToolLessonDraft) -> bool:
    """A tool lesson worth a skill's Experience: a call failed (and maybe what fixed it). Calls that
    simply worked stay in the tool's memory, not in the skill."""
    return lesson.usage.success_rate < 1.0


def _rules(lessons: Sequence[ToolLessonDraft]) -> list[str]:
    """What tool lessons teach a skill: each fixed failure of a lesson that `_teaches` as a rule, else
    its one experience."""
    return [rule for lesson in lessons if _teaches(lesson) for rule in (lesson.rules or (lesson.experience,))]


def _stage_summary(ledger: Ledger) -> str:
    return ", ".join(
        f"{run.stage} {run.mode}" + (f" ({run.reason})" if run.reason else "") for run in ledger.runs
    )


def _only_fresh(extraction: Extraction, fresh: set[str]) -> Extraction:
    """Drop drafts that came only from re-read history (they were stored by an earlier job)."""

    def new(sources: Sequence[str]) -> bool:
        return any(source in fresh for source in sources)

    return replace(
        extraction,
        facts=tuple(f for f in extraction.facts if new(f.sources)),
        preferences=tuple(p for p in extraction.preferences if new(p.sources)),
        tool_lessons=tuple(t for t in extraction.tool_lessons if new(t.sources)),
        earlier_lessons=tuple(t for t in extraction.tool_lessons if not new(t.sources)),
    )


def _served(chunk: TaskChunk, lesson: ToolLessonDraft, record: TaskRecord) -> list[str]:
    """What the user asked for when the lesson's tool was called: the task's title and the last user
    message before the call ("…先查天气…" says what `get_weather` is for better than its arguments)."""
    first = next((n for n, m in enumerate(chunk.messages) if m.id in lesson.sources), len(chunk.messages))
    before = [m.content for m in chunk.messages[:first] if m.role == "user" and m.content.strip()]
    return [record.title, *before[-1:]]

"""The pipeline's stages behind one interface: the LLM's answer when a model is configured and its answer
is usable, the algorithmic stage otherwise — decided per item, noted in the job's `Ledger`.

    segment        messages → task segments                (prompts/segmentation.py   | segment.py)
    extract        chunk → task record                     (prompts/task_record.py    | extract/record.py)
                   chunk → facts and preferences           (prompts/facts.py          | extract/facts.py, …)
                   chunk → tool lessons                    (prompts/tool_lessons.py   | extract/tools.py)
    skill_update   candidates + nearest bullets → verdicts (prompts/skill_update.py   | synthesize.merge)
    feedback       correction → preferences + operations   (prompts/feedback.py       | extract/preferences)

Without a model every stage is algorithmic and `run_stage` only records that; the algorithmic extraction
always runs (it is cheap) because the LLM stages borrow from it, e.g. tool success rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from memskill.extract import extract, extract_preferences
from memskill.llm import Ledger, StructuredLLM, run_stage
from memskill.models import Extraction, Message, PreferenceDraft, Segment, SkillItem, TaskChunk, TaskRecord
from memskill.prompts import (
    facts,
    feedback,
    language_of,
    segmentation,
    skill_update,
    task_record,
    tool_lessons,
)
from memskill.prompts.skill_update import SkillUpdate
from memskill.providers.embedders import Embedder
from memskill.segment import segment
from memskill.skill_items import apply_operations

MIN_LLM_SEGMENT_MESSAGES = 4
"""Fewer messages than this are one task; asking a model to split them is wasted tokens."""


@dataclass(frozen=True)
class FeedbackResult:
    preferences: tuple[PreferenceDraft, ...]
    update: SkillUpdate | None
    """Operations on the matched skill's bullets, when the model gave usable ones."""
    answered: bool = False
    """The model answered: no preference in its answer means the feedback states none."""


class Stages:
    """Each stage tries the model first (when there is one) and falls back per item."""

    def __init__(self, embedder: Embedder, llm: StructuredLLM | None = None, profile: str = "full") -> None:
        self.embedder = embedder
        self.llm = llm
        self.small = profile == "small"
        """The small-model profile: only the task record and the skill update ask the model."""

    @property
    def helper(self) -> StructuredLLM | None:
        """The model for the stages a small model is spared (segmentation, facts, tool lessons)."""
        return None if self.small else self.llm

    def segment(self, messages: Sequence[Message], ledger: Ledger) -> list[Segment]:
        def algorithmic() -> list[Segment]:
            return segment(messages, self.embedder)

        llm = self.helper if len(messages) >= MIN_LLM_SEGMENT_MESSAGES else None
        return run_stage(
            ledger,
            "segment",
            llm,
            lambda model: model.ask(
                segmentation.PROMPT,
                segmentation.content(messages),
                language_of(messages),
                lambda reply: segmentation.check(reply, len(messages)),
            ),
            algorithmic,
        )

    def extract(self, chunk: TaskChunk, ledger: Ledger) -> Extraction:
        algorithmic = extract(chunk)
        messages = chunk.messages
        language = language_of(messages)
        record: TaskRecord = run_stage(
            ledger,
            "task_record",
            self.llm,
            lambda model: model.ask(
                task_record.PROMPT,
                task_record.content(chunk),
                language,
                lambda reply: task_record.to_record(reply, chunk),
            ),
            lambda: algorithmic.record,
        )
        found = run_stage(
            ledger,
            "facts",
            self.helper,
            lambda model: model.ask(
                facts.PROMPT,
                facts.content(messages),
                language,
                lambda reply: facts.to_drafts(reply, messages),
            ),
            lambda: (algorithmic.facts, algorithmic.preferences),
        )
        lessons = algorithmic.tool_lessons
        if any(m.tool_calls for m in messages):
            lessons = run_stage(
                ledger,
                "tool_lessons",
                self.helper,
                lambda model: model.ask(
                    tool_lessons.PROMPT,
                    tool_lessons.content(messages),
                    language,
                    lambda reply: tool_lessons.to_drafts(reply, messages, algorithmic.tool_lessons),
                ),
                lambda: algorithmic.tool_lessons,
            )
        if record is not algorithmic.record:
            # What the model does not write (the requests' words, the accepted answer and its shape)
            # comes from the algorithmic record, so a model's record loses none of it.
            base = algorithmic.record
            record = replace(
                record,
                requests=base.requests,
                shape=base.shape,
                asked=base.asked,
                example=base.example,
                ask=base.ask,
            )
        return Extraction(record, found[0], found[1], lessons)

    def skill_update(
        self,
        title: str,
        description: str,
        items: Sequence[SkillItem],
        candidates: Sequence[skill_update.Candidate],
        language: str,
        ledger: Ledger,
    ) -> SkillUpdate | None:
        """The model's verdicts on a new task's candidate items; None = synthesise algorithmically."""
        if self.llm is None:
            return None
        update: SkillUpdate | None = run_stage(
            ledger,
            "skill_update",
            self.llm,
            lambda model: model.ask(
                skill_update.PROMPT,
                skill_update.content(title, description, items, candidates),
                "zh" if language == "zh" else "en",
                lambda reply: _checked_review(reply, len(candidates)),
            ),
            lambda: None,
        )
        return update

    def feedback(
        self,
        text: str,
        messages: Sequence[Message],
        skill_title: str | None,
        items: Sequence[SkillItem],
        ledger: Ledger,
    ) -> FeedbackResult:
        sources = tuple(m.id for m in messages)

        def algorithmic() -> FeedbackResult:
            return FeedbackResult(tuple(extract_preferences(messages, feedback=True)), None)

        def convert(reply: feedback.FeedbackReply) -> FeedbackResult:
            drafts = feedback.to_drafts(reply, sources, text)
            update = feedback.as_update(reply, "") if skill_title else None
            if update is not None:
                _checked_update(update, items)
            return FeedbackResult(drafts, update, answered=True)

        return run_stage(
            ledger,
            "feedback",
            self.llm,
            lambda model: model.ask(
                feedback.PROMPT,
                feedback.content(text, skill_title, items),
                language_of(messages),
                convert,
            ),
            algorithmic,
        )


def _checked_review(reply: skill_update.SkillReview, count: int) -> SkillUpdate:
    """The reply's verdicts on candidates that exist, each candidate judged once (a verdict on a
    number that was not shown, or a second one, is dropped alone); refines needs its text."""
    kept: dict[int, skill_update.Verdict] = {}
    for verdict in reply.verdicts:
        usable = verdict.verdict != "refines" or verdict.text.strip()
        if 1 <= verdict.candidate <= count and verdict.candidate not in kept and usable:
            kept[verdict.candidate] = verdict
    if reply.verdicts and not kept:
        raise ValueError(f"no verdict names a candidate: candidates are numbered 1 to {count}")
    return SkillUpdate(description=reply.description, verdicts=list(kept.values()))


def _checked_update(reply: SkillUpdate, items: Sequence[SkillItem]) -> SkillUpdate:
    """The reply, unless none of its operations applies to `items` (ValueError says why): a reply with
    some unusable operations keeps the usable ones."""
    _, log = apply_operations(items, reply, "rec_check")
    skipped = [line for line in log if line.startswith("skip ")]
    if skipped and len(skipped) == len(log):
        raise ValueError("no operation applies: " + "; ".join(skipped))
    return reply

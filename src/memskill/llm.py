"""Asking a chat model for structured answers, and keeping account of what each job asked.

    ask(prompt, content)  →  the endpoint's best response format (providers/chat.py)
                          →  JSON cut out of the answer (fences, <think> blocks and chatter removed)
                          →  validated against the prompt's response type, then its semantic check
                          →  one repair request that quotes the problem, if either failed
                          →  LLMFailure: the caller runs the algorithmic stage for this item

A `Ledger` travels with one job: every stage notes whether it used the LLM, fell back (and why) or ran
algorithmically, with its time and tokens. It also holds the job's time budget for model calls; once
spent, the remaining stages run algorithmically, so a slow endpoint cannot hold a job past its lease.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from memskill.errors import LLMFailure, UpstreamError
from memskill.models import Usage
from memskill.prompts import Language, Prompt
from memskill.providers.chat import ChatModel

log = logging.getLogger("memskill.llm")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")
Mode = Literal["llm", "fallback", "algorithmic"]
JOB_BUDGET_S = 60.0
"""Model time after which a job starts no more model calls; the remaining stages run algorithmically.
With the default 30 s timeout tried twice, a job on a hung endpoint ends within about two minutes."""
SKILL_RESERVE_S = 15.0
"""The last part of the budget only the skill update (and feedback) may spend: a slow extraction leaves
the model time to update the skill, the stage whose output users see."""
RESERVED_STAGES = frozenset({"skill_update", "feedback"})
REPAIR_QUOTE_CHARS = 4000

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


@dataclass(frozen=True)
class StageRun:
    """How one stage ran on one item of a job."""

    stage: str
    mode: Mode
    ms: float
    usage: Usage = field(default_factory=Usage)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "mode": self.mode, "ms": round(self.ms, 1)}
        if self.usage.calls:
            out["tokens"] = self.usage.prompt_tokens + self.usage.completion_tokens
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Ledger:
    """The stage runs of one job and its budget for model calls."""

    budget_s: float = JOB_BUDGET_S
    heartbeat: Callable[[], None] | None = None
    """Called before each model call: the worker renews its lease on the job."""
    owner: str | None = None
    """The worker holding the job's lease; the job's writes commit only while it still does."""
    runs: list[StageRun] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, run: StageRun) -> None:
        with self._lock:
            self.runs.append(run)

    def spent(self, stage: str = "") -> bool:
        """Whether `stage` may start no more model calls: the skill update may use the whole budget,
        other stages all but `SKILL_RESERVE_S` of it."""
        budget = self.budget_s if stage in RESERVED_STAGES else max(0.0, self.budget_s - SKILL_RESERVE_S)
        return time.monotonic() - self.started >= budget

    @property
    def usage(self) -> Usage:
        total = Usage()
        for run in self.runs:
            total = total + run.usage
        return total

    def mode(self) -> str:
        """`algorithmic` (no model), `llm` (every stage used it), `fallback` (none could), else `mixed`."""
        modes = {run.mode for run in self.runs} or {"algorithmic"}
        return modes.pop() if len(modes) == 1 else "mixed"

    def report(self) -> dict[str, Any]:
        return {
            "mode": self.mode(),
            "stages": [run.as_dict() for run in self.runs],
            "usage": self.usage.as_dict(),
        }


class StructuredLLM:
    """A chat model asked for JSON replies of a prompt's response type, with one repair round."""

    def __init__(self, chat: ChatModel) -> None:
        self.chat = chat

    @property
    def id(self) -> str:
        return self.chat.id

    def ask(
        self,
        prompt: Prompt[T],
        content: str,
        language: Language,
        convert: Callable[[T], R],
    ) -> tuple[R, Usage]:
        """The converted reply and its token usage; LLMFailure when even the repaired reply is unusable.

        `convert` turns the validated reply into domain values and raises ValueError with a message
        the model can act on when the reply is well-formed but wrong (a gap between segments, a cited
        message that does not exist).
        """
        messages = prompt.messages(content, language)
        usage = Usage()
        problem = ""
        for attempt in range(2):
            try:
                reply = self.chat.complete(messages, prompt.name, prompt.schema())
            except UpstreamError as error:
                raise LLMFailure(str(error), usage) from None
            usage = usage + reply.usage
            try:
                value = prompt.response.model_validate(extract_json(reply.content))
                return convert(value), usage
            except ValidationError as error:
                problem = _validation_summary(error)
            except ValueError as error:
                problem = str(error)
            if attempt == 0:
                messages = [
                    *messages,
                    {"role": "assistant", "content": reply.content[:REPAIR_QUOTE_CHARS]},
                    {"role": "user", "content": _repair_request(problem, language)},
                ]
        raise LLMFailure(f"unusable reply after one repair: {problem}", usage)


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer: the whole text, a fenced block, or the first {...} in it."""
    text = _THINK.sub("", text).strip()
    if not text:
        raise ValueError("the reply was empty")
    try:
        return json.loads(text)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the reply holds no JSON object")


def _validation_summary(error: ValidationError, limit: int = 5) -> str:
    parts = []
    for detail in error.errors()[:limit]:
        where = ".".join(str(p) for p in detail.get("loc", ())) or "the object"
        parts.append(f"{where}: {detail.get('msg', 'invalid')}")
    more = f" (and {error.error_count() - limit} more)" if error.error_count() > limit else ""
    return "; ".join(parts) + more


def _repair_request(problem: str, language: Language) -> str:
    if language == "zh":
        return f"这个回复无法使用：{problem}。请只回复改正后的 JSON 对象。"
    return f"That reply could not be used: {problem}. Reply again with only the corrected JSON object."


def run_stage(
    ledger: Ledger,
    stage: str,
    llm: StructuredLLM | None,
    ask: Callable[[StructuredLLM], tuple[R, Usage]],
    fallback: Callable[[], R],
) -> R:
    """One stage on one item: the LLM's answer when there is a model and budget, else the algorithm's."""
    started = time.perf_counter()
    if llm is None:
        value = fallback()
        ledger.note(StageRun(stage, "algorithmic", _ms(started)))
        return value
    if ledger.spent(stage):
        failure = LLMFailure("the job's model time budget is spent", Usage())
    else:
        try:
            if ledger.heartbeat is not None:
                ledger.heartbeat()
            value, usage = ask(llm)
            ledger.note(StageRun(stage, "llm", _ms(started), usage))
            return value
        except LLMFailure as error:
            failure = error
        except Exception as error:  # a bug in turning a reply into values must not cost the job
            log.exception("%s: %s raised while using the model's reply", llm.id, stage)
            failure = LLMFailure(f"{type(error).__name__}: {error}", Usage())
    log.warning("%s: %s fell back to the algorithmic stage: %s", llm.id, stage, failure.reason)
    value = fallback()
    ledger.note(StageRun(stage, "fallback", _ms(started), failure.usage, failure.reason))
    return value


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000

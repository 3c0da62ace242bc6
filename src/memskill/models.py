"""Plain domain types shared by every stage.

These are frozen dataclasses without behaviour beyond small derived properties; the stores persist
them and the server translates them to the wire format. Times are millisecond epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal


def now_ms() -> int:
    """The current time as a millisecond epoch, the unit of every stored time."""
    return int(time.time() * 1000)


Role = Literal["user", "assistant", "system", "tool"]
Status = Literal["activated", "archived"]
SkillState = Literal["candidate", "active", "retired"]
"""Where a skill is in its life (`memskill.lifecycle`): a candidate waits for its evidence or an
operator, an active skill is served, a retired one is kept but never served."""
JobStatus = Literal["running", "completed", "failed"]


@dataclass(frozen=True)
class ToolCall:
    """One function call an assistant message asked for."""

    id: str
    """Call id that the matching `tool` message refers to."""
    name: str
    """Tool (function) name."""
    arguments: str
    """Arguments as the raw JSON string the model produced."""


@dataclass(frozen=True)
class Message:
    """One conversation message, normalised from the OpenAI chat format."""

    role: Role
    """Who spoke: user, assistant, system or tool."""
    content: str
    """Plain text; multi-part content is joined."""
    chat_time: int | None = None
    """When it was said (ms epoch), when the client told us."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a `tool` message: the call it answers."""
    id: str = ""
    """Stable id derived from the content (set at ingest)."""


@dataclass(frozen=True)
class Segment:
    """A contiguous run of messages about one task: inclusive indexes into a message list."""

    start: int
    end: int
    title: str


@dataclass(frozen=True)
class TaskChunk:
    """The messages of one task inside one conversation."""

    conversation_id: str
    title: str
    messages: tuple[Message, ...]
    after_answer: bool = False
    """The chunk opens right after an assistant reply in its conversation (its first turn reacts to it)."""


@dataclass(frozen=True)
class ToolUsage:
    """How one tool fared in a chunk."""

    used_tool: str
    error_type: str
    """Empty when the call succeeded."""
    success_rate: float
    tool_experience: str


@dataclass(frozen=True)
class TaskRecord:
    """What happened in one task chunk, the unit that clustering and synthesis work on."""

    title: str
    goal: str
    """The user's first request, as said."""
    steps: tuple[str, ...]
    """Generalised requests and instructions, in order."""
    corrections: tuple[str, ...]
    preferences: tuple[str, ...]
    tools: tuple[str, ...]
    outcome: str
    language: Literal["zh", "en"]
    sources: tuple[str, ...]
    """Message ids the record came from."""
    requirements: tuple[str, ...] = ()
    """What the user asked of this task's result (limits, corrections): beside `preferences`, which
    hold what the user likes, dislikes and always wants."""
    requests: tuple[str, ...] = ()
    """What the user asked for, as the words of each request ("规划一个N天的出行计划"), generalised."""
    shape: tuple[str, ...] = ()
    """The structure of the answer the user accepted ("按天分段（D1、D2…）", "bulleted points")."""
    asked: tuple[str, ...] = ()
    """Questions the assistant asked before answering, which the user answered."""
    example: str = ""
    """The accepted answer, shortened by its structure, personal data masked."""
    example_request: str = ""
    """What the accepted answer replied to, when that was a later request of the task than its first
    ("查一下这个酒店有没有停车位"), generalised; "" when it answers the first (or a correction of it)."""
    asks: float = 1.0
    """How surely the user asked for something to be done: the highest probability the turn tagger gave
    one of the task's user clauses of being a task request, step or side request (1.0 when unknown)."""
    fixes: tuple[str, ...] = ()
    """What each turn that corrected a result asked to change, one text per turn (its requirements that
    correct, joined): the skill's lessons from corrections."""
    follow_ups: tuple[str, ...] = ()
    """What the user asked about an answer after getting it ("电话", "the address"): the next answer of
    the kind should give it unasked."""
    parts: tuple[str, ...] = ()
    """The named parts of the accepted answer with what each held, as "name: gist" ("注意: 选缓震好的
    跑鞋，…", "Risks: the migration locks the table"): the next answer of the kind has them too."""
    standing: tuple[str, ...] = ()
    """Steps the user gave as how tasks of the kind are done from now on (the scope model reads them as
    lasting: "from now on add a short 'What went well' section", "老规矩：先夸，再说问题"): preferences of
    the skill as well as steps. Limits the user declared lasting (said "from now on", or listed under a
    lead-in that says so) are here too, ahead of those only the scope model reads as lasting."""
    occasional: tuple[str, ...] = ()
    """The `requirements` the scope model reads as this request's only ("这次预算3000以内", "patient is
    34, keen runner"): under a skill's cap they give way to every task's lasting ones."""
    ask: str = ""
    """The user's first words up to the clause that asks for the task ("最近要搬家，帮我筛下房子吧。"): what
    names its kind, without the conditions said after it ("地铁公交都行" is a commute, not a metro
    question); "" when no clause asks (then the goal names it)."""


@dataclass(frozen=True)
class FactDraft:
    """A fact extracted from messages, before it is stored."""

    key: str
    """Short title (memory_key)."""
    value: str
    """The fact in one sentence (memory_value)."""
    memory_type: Literal["LongTermMemory", "UserMemory"]
    sources: tuple[str, ...]
    confidence: float = 0.8


@dataclass(frozen=True)
class PreferenceDraft:
    """A preference extracted from messages, before it is stored."""

    text: str
    """The preference as a standalone statement."""
    preference_type: Literal["explicit_preference", "implicit_preference"]
    reasoning: str
    """Why we believe it (which words showed it)."""
    topic: str
    """Coarse subject used to find contradictions, e.g. `length`, `pace`, `tone`."""
    polarity: int
    """+1 likes / wants, -1 dislikes / avoids, 0 neutral instruction."""
    sources: tuple[str, ...]
    is_correction: bool = False


@dataclass(frozen=True)
class ToolLessonDraft:
    """A lesson about a tool taken from calls and results."""

    tool: str
    value: str
    """What happened (call, arguments, result)."""
    experience: str
    """The lesson: what failed and what fixed it."""
    usage: ToolUsage
    sources: tuple[str, ...]
    rules: tuple[str, ...] = ()
    """Every failure that a later call fixed, each as a rule ("run_sql: pass … not …"); the skill's
    Experience gets them all (empty: `experience` alone)."""


@dataclass(frozen=True)
class Extraction:
    """Everything one chunk yields."""

    record: TaskRecord
    facts: tuple[FactDraft, ...] = ()
    preferences: tuple[PreferenceDraft, ...] = ()
    tool_lessons: tuple[ToolLessonDraft, ...] = ()
    earlier_lessons: tuple[ToolLessonDraft, ...] = ()
    """Tool lessons of the chunk's re-read history: stored by an earlier job, still the task's own (a
    skill rebuilt from the task's record keeps what they teach)."""


@dataclass(frozen=True)
class Scope:
    """Which data a call may see: always one user, optionally one agent or app."""

    user_id: str
    agent_id: str | None = None
    app_id: str | None = None


MemoryKind = Literal["fact", "preference", "tool"]


@dataclass(frozen=True)
class MemoryItem:
    """A stored memory of any kind: fact, preference or tool lesson.

    The three kinds share storage, search and lifecycle; `kind` tells which wire shape to use and
    `payload` carries the kind-specific fields (e.g. `preference_type`, `tool_used_status`).
    """

    id: str
    user_id: str
    kind: MemoryKind
    key: str
    """memory_key / preference topic / tool name."""
    text: str
    """memory_value / preference / tool_value: what search matches."""
    conversation_id: str
    agent_id: str | None = None
    app_id: str | None = None
    status: Status = "activated"
    confidence: float = 0.8
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)
    create_time: int = 0
    update_time: int = 0

    @property
    def search_text(self) -> str:
        """What keyword search indexes (and, for a tool lesson, what its vector is made from)."""
        return search_text(self.kind, self.key, self.text, self.payload)


TOOL_REQUESTS_KEPT = 5
"""A tool lesson is indexed with the requests of the last this many tasks it served."""


def search_text(kind: str, key: str, text: str, payload: dict[str, Any]) -> str:
    """An item's searchable text: its key and text; a tool lesson leads with the requests of the tasks
    it served and its rules, so that a new request of that kind finds it, not only the tool's name."""
    if kind != "tool":
        return key + " " + text
    requests = [str(r) for r in payload.get("requests", [])][-TOOL_REQUESTS_KEPT:]
    rules = [str(r) for r in payload.get("experiences", [])][-3:]
    return " ".join([key, *requests, *rules, text])


@dataclass(frozen=True)
class SkillItem:
    """One bullet of a skill section, kept with its evidence."""

    section: Literal["procedure", "experience", "preference", "example"]
    text: str
    support: int = 1
    """How many task records agreed with it."""
    sources: tuple[str, ...] = ()
    """Ids of the task records that support it (`rec_…`; each record names its conversation)."""
    position: float = 0.5
    """Relative place within a task (0 first, 1 last); orders procedure steps."""


@dataclass(frozen=True)
class SkillVersion:
    """One immutable version of a skill."""

    skill_id: str
    version: int
    name: str
    description: str
    items: tuple[SkillItem, ...]
    markdown: str
    create_time: int
    note: str = ""
    """What changed relative to the previous version."""
    author: str = "memskill"
    """Who made it: "memskill" for a version built from tasks, else the operator who edited or rolled back."""
    held_out: tuple[str, ...] = ()
    """Items kept out of this version, each with why ("procedure: … — no source message names
    `get_wether`")."""


@dataclass(frozen=True)
class Skill:
    """A skill's current state: its latest version plus bookkeeping."""

    id: str
    user_id: str
    cluster_id: str
    current: SkillVersion
    conversation_ids: tuple[str, ...]
    agent_id: str | None = None
    app_id: str | None = None
    status: Status = "activated"
    skill_type: Literal["auto_create", "upload"] = "auto_create"
    confidence: float = 0.5
    tags: tuple[str, ...] = ()
    create_time: int = 0
    update_time: int = 0
    state: SkillState = "active"
    live_version: int = 0
    """The version served while a newer one waits for review (0: the current version is served)."""
    helpful: int = 0
    """Feedback that found the skill helpful."""
    unhelpful: int = 0
    """Feedback that found it wrong or unhelpful."""

    @property
    def reliability(self) -> float:
        """How far feedback trusts the skill: (helpful + 1) / (all feedback + 2), 0.5 before any."""
        return (self.helpful + 1) / (self.helpful + self.unhelpful + 2)


@dataclass(frozen=True)
class SkillEvent:
    """One entry of a skill's history: who did what to it, and when."""

    skill_id: str
    time: int
    actor: str
    """"memskill" for the engine, else the operator's name."""
    action: str
    """created, updated, approved, rejected, retired, edited, rolled back, demoted, feedback."""
    version: int
    detail: str = ""


@dataclass(frozen=True)
class Usage:
    """Tokens a model endpoint counted for some calls (0 when it did not say)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "calls": self.calls,
        }


@dataclass(frozen=True)
class Job:
    """A unit of background work (ingest or feedback) and its outcome."""

    id: str
    user_id: str
    conversation_id: str
    kind: Literal["ingest", "feedback"]
    status: JobStatus
    attempts: int = 0
    error: str | None = None
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    create_time: int = 0
    update_time: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    """How the stages ran: `mode` (llm / mixed / algorithmic) and per-stage `stages` with reasons."""
    usage: Usage = field(default_factory=Usage)
    """Tokens the job's model calls used."""

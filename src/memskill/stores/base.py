"""The store protocol and the small row types the stores exchange with the engine.

A store persists raw messages, jobs, memory items, task clusters, task records and skills, and answers
two kinds of search (keyword and vector) scoped to one user. `SQLiteStore` is the embedded default.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from memskill.models import Job, MemoryItem, Message, Scope, Skill, SkillEvent, SkillVersion, Usage


class ScoredId(NamedTuple):
    """A search hit: an id and a score whose meaning depends on the search (cosine, -bm25)."""

    id: str
    score: float


@dataclass(frozen=True)
class IngestResult:
    """What storing one add call did."""

    job: Job
    new_message_ids: tuple[str, ...]
    duplicate: bool
    """True when the very same call had been stored before (a client retry)."""


@dataclass(frozen=True)
class ClusterRow:
    """A user's persistent task cluster: similar tasks across conversations, one skill."""

    id: str
    user_id: str
    agent_id: str | None
    app_id: str | None
    title: str
    centroid: np.ndarray
    size: int
    skill_id: str | None
    create_time: int
    update_time: int


@dataclass(frozen=True)
class TaskRecordRow:
    """A stored task record (the `TaskRecord` fields as a dict) and the cluster it joined."""

    id: str
    user_id: str
    cluster_id: str
    conversation_id: str
    record: dict[str, Any]
    create_time: int


@dataclass(frozen=True)
class ApiKeyRow:
    """A stored API key: only its SHA-256 hash and a short prefix to recognise it by."""

    id: str
    key_hash: str
    prefix: str
    app_id: str | None
    note: str
    create_time: int
    revoke_time: int | None = None


@dataclass(frozen=True)
class UserOverview:
    """What is stored for one user, for the dashboard's user list."""

    user_id: str
    memories: int
    preferences: int
    tool_memories: int
    skills: int
    conversations: int
    messages: int
    tokens: int
    failed_jobs: int
    last_active: int
    """When a job of the user last changed (ms epoch), 0 if none did."""


def overviews(counts: dict[str, dict[str, int]]) -> list[UserOverview]:
    """The console's user rows from each store's counts per user (fact, preference, tool, skills,
    conversations, messages, tokens, failed, last_time), the most recently active first."""
    rows = [
        UserOverview(
            user_id=user_id,
            memories=row.get("fact", 0),
            preferences=row.get("preference", 0),
            tool_memories=row.get("tool", 0),
            skills=row.get("skills", 0),
            conversations=row.get("conversations", 0),
            messages=row.get("messages", 0),
            tokens=row.get("tokens", 0),
            failed_jobs=row.get("failed", 0),
            last_active=row.get("last_time", 0),
        )
        for user_id, row in counts.items()
    ]
    return sorted(rows, key=lambda u: (-u.last_active, u.user_id))


@dataclass(frozen=True)
class MessageRow:
    """A stored message with what the store keeps beside it: whose it is and which job stored it."""

    message: Message
    user_id: str
    conversation_id: str
    agent_id: str | None
    app_id: str | None
    job_id: str
    create_time: int


@dataclass(frozen=True)
class JobRow:
    """A stored job as its columns (without its lease, which means nothing in another store)."""

    id: str
    user_id: str
    conversation_id: str
    agent_id: str | None
    app_id: str | None
    kind: str
    status: str
    payload: dict[str, Any]
    attempts: int
    error: str | None
    result: dict[str, Any]
    create_time: int
    update_time: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0


@dataclass(frozen=True)
class StoredItem:
    """A memory item with its vector and the embedder that made it (None: stored without one)."""

    item: MemoryItem
    vector: np.ndarray | None
    embedder: str | None


@dataclass(frozen=True)
class StoredSkill:
    """A skill with what its search reads: the text keyword search indexes, its vector and the embedder
    that made it (its versions and history are read with `skill_versions` and `skill_events`)."""

    skill: Skill
    search_text: str
    vector: np.ndarray | None
    embedder: str | None


DUMP_TABLES = (
    "messages",
    "jobs",
    "items",
    "clusters",
    "task_records",
    "skills",
    "skill_versions",
    "api_keys",
)
"""The tables a whole-store export reads (the others are derived: indexes, revisions, logs)."""


class MessageStore(Protocol):
    """Conversations: storing an add call atomically with its job, reading messages back."""

    def ingest(
        self,
        scope: Scope,
        conversation_id: str,
        messages: Sequence[Message],
        job: Job,
        payload: dict[str, Any],
        lease: tuple[str, int] | None = None,
    ) -> IngestResult: ...

    def messages_by_ids(self, ids: Sequence[str]) -> list[Message]: ...

    def recent_messages(
        self,
        user_id: str,
        conversation_id: str,
        limit: int,
        before_ids: Sequence[str] = (),
        app_id: str | None = None,
    ) -> list[Message]: ...

    def conversation_ids(self, user_id: str) -> list[str]: ...

    def pending_message_hits(
        self, scope: Scope, match: str, limit: int
    ) -> list[tuple[Message, str, float]]: ...


class JobStore(Protocol):
    """The job queue: claims with leases, renewals, completion, retries, token accounting."""

    def get_job(self, job_id: str) -> Job | None: ...

    def job_payload(self, job_id: str) -> dict[str, Any]: ...

    def claim_job(self, worker: str, lease_ms: int) -> Job | None: ...

    def renew_lease(self, job_id: str, worker: str, lease_ms: int) -> bool: ...

    def finish_job(
        self,
        job_id: str,
        status: str,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        usage: Usage | None = None,
        worker: str | None = None,
    ) -> bool:
        """End a job; with `worker`, only while that worker still holds its lease (else False)."""
        ...

    def token_usage(self, user_id: str | None = None) -> Usage: ...

    def release_job(self, job_id: str, error: str, retry_in_ms: int, worker: str | None = None) -> bool: ...

    def count_jobs(self, status: str) -> int: ...


class ItemStore(Protocol):
    """Memories (facts, preferences, tool lessons): insert, update, list, delete."""

    def insert_item(self, item: MemoryItem, vector: np.ndarray | None, embedder_id: str | None) -> None: ...

    def update_item(
        self, item: MemoryItem, vector: np.ndarray | None = None, embedder_id: str | None = None
    ) -> None: ...

    def get_item(self, item_id: str) -> MemoryItem | None: ...

    def get_items(self, item_ids: Sequence[str]) -> list[MemoryItem]: ...

    def list_items(
        self,
        scope: Scope,
        kinds: Sequence[str],
        statuses: Sequence[str] = ("activated",),
        cluster_ids: Sequence[str] | None = None,
    ) -> list[MemoryItem]:
        """A user's items of the given kinds and statuses, newest first; with `cluster_ids`, only those
        whose payload links them to one of these task clusters."""
        ...

    def delete_items(self, item_ids: Sequence[str]) -> int: ...

    def delete_user(self, user_id: str) -> int: ...


class SearchStore(Protocol):
    """Vector and keyword search over items and skills, and the vectors themselves."""

    def vector_search(
        self,
        scope: Scope,
        table: str,
        kind: str,
        query: np.ndarray,
        limit: int,
        embedder_id: str | None = None,
    ) -> list[ScoredId]:
        """Nearest rows by cosine; with `embedder_id`, only rows whose vector that embedder made."""
        ...

    def keyword_search(
        self, scope: Scope, table: str, kind: str, match: str, limit: int
    ) -> list[ScoredId]: ...

    def keyword_searches(
        self, scope: Scope, lists: Sequence[tuple[str, str]], match: str, limit: int
    ) -> dict[tuple[str, str], list[ScoredId]]:
        """`keyword_search` for several (table, kind) lists of one query at once (one round trip where
        the store has them), each list's top `limit`."""
        ...

    def vectors_of(
        self, table: str, ids: Sequence[str], dim: int, embedder_id: str | None = None
    ) -> dict[str, np.ndarray]: ...

    def term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """How many stored memories (of every user) hold each of `terms`, as far as the store can tell
        cheaply; terms it cannot count are left out (a keyword query then keeps them in written order)."""
        ...

    def item_tokens(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """The tokens (`text.tokens`) of each item's searchable text (`MemoryItem.search_text`), in order;
        unknown ids are left out. Search reads these instead of segmenting every candidate again."""
        ...

    def stale_vectors(
        self, table: str, embedder_id: str, dim: int | None, limit: int, after: str = ""
    ) -> list[str]:
        """Ids after `after`, in id order, of rows of `table` (items, skills, clusters) whose vector was
        made by another embedder than `embedder_id` or is not `dim` long."""
        ...

    def count_stale_vectors(self, table: str, embedder_id: str, dim: int | None) -> int: ...

    def set_vector(self, table: str, row_id: str, vector: np.ndarray, embedder_id: str) -> bool:
        """Replace a stale vector (a cluster's centroid); False when a current one was written meanwhile."""
        ...


class SkillStore(Protocol):
    """Task clusters, task records, skills with their versions and history."""

    def list_clusters(self, scope: Scope) -> list[ClusterRow]: ...

    def save_cluster(self, cluster: ClusterRow) -> None: ...

    def add_task_record(self, row: TaskRecordRow) -> None: ...

    def get_task_record(self, record_id: str) -> TaskRecordRow | None: ...

    def latest_task_record(self, user_id: str, conversation_id: str) -> TaskRecordRow | None: ...

    def task_records(self, cluster_id: str) -> list[TaskRecordRow]: ...

    def conversation_records(self, user_id: str, conversation_id: str) -> list[TaskRecordRow]:
        """A conversation's task records, oldest first."""
        ...

    def delete_task_record(self, record_id: str) -> None:
        """Remove a task record; a cluster left with no record is removed with it (delete its skill
        first)."""
        ...

    def save_skill(
        self, skill: Skill, search_text: str, vector: np.ndarray | None, embedder_id: str | None
    ) -> None: ...

    def skill_versions(self, skill_id: str) -> list[SkillVersion]: ...

    def set_skill_state(self, skill: Skill) -> None:
        """Write `skill`'s state, status, served version, feedback counts and update time only."""
        ...

    def add_skill_event(self, event: SkillEvent) -> None:
        """Append one entry to a skill's history."""
        ...

    def skill_events(self, skill_id: str) -> list[SkillEvent]:
        """A skill's history, oldest first."""
        ...

    def get_skill(self, skill_id: str) -> Skill | None: ...

    def get_skills(self, skill_ids: Sequence[str]) -> dict[str, Skill]:
        """The skills of `skill_ids` that exist, by id, in one query (a search ranks dozens)."""
        ...

    def list_skills(self, scope: Scope, statuses: Sequence[str] = ("activated",)) -> list[Skill]: ...

    def delete_skill(self, skill_id: str) -> bool: ...


class ConsoleStore(Protocol):
    """Users, API keys and the operator console's overviews."""

    def user_ids(self) -> list[str]: ...

    def save_api_key(self, key: ApiKeyRow) -> None: ...

    def api_key_by_hash(self, key_hash: str) -> ApiKeyRow | None: ...

    def list_api_keys(self) -> list[ApiKeyRow]: ...

    def revoke_api_key(self, key_id: str, when: int) -> bool: ...

    def api_key_by_id(self, key_id: str) -> ApiKeyRow | None: ...

    def user_overview(self) -> list[UserOverview]: ...

    def list_jobs(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]: ...

    def conversation_messages(
        self, user_id: str, conversation_id: str, limit: int = 500
    ) -> list[Message]: ...

    # Whole-store export and import (`memskill.archive`): every row of a kind in stored order, all of
    # them or one user's, and the writes that keep ids and times. Items, clusters, task records, skills
    # and keys are written back with the methods above.


class DumpStore(Protocol):
    """Whole-store reads and writes for `memskill.archive`."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A read-only view of one moment: the calling thread's reads inside it all see the same state."""
        ...

    def row_counts(self, user_id: str | None = None) -> dict[str, int]:
        """Rows per table (`DUMP_TABLES`), of everyone or of one user (api_keys: always all)."""
        ...

    def dump_messages(self, user_id: str | None = None) -> Iterator[MessageRow]: ...

    def dump_jobs(self, user_id: str | None = None) -> Iterator[JobRow]: ...

    def dump_items(self, user_id: str | None = None) -> Iterator[StoredItem]: ...

    def dump_clusters(self, user_id: str | None = None) -> Iterator[ClusterRow]: ...

    def dump_task_records(self, user_id: str | None = None) -> Iterator[TaskRecordRow]: ...

    def dump_skills(self, user_id: str | None = None) -> Iterator[StoredSkill]: ...

    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Which of `ids` a table of `DUMP_TABLES` holds."""
        ...

    def restore_messages(self, rows: Sequence[MessageRow]) -> int:
        """Store messages with their ids, job and times, indexed for keyword search; those already
        stored are left as they are. Returns how many were new."""
        ...

    def restore_jobs(self, rows: Sequence[JobRow]) -> int:
        """Store jobs with their ids, state and times, unleased; those already stored are left as they
        are. Returns how many were new."""
        ...


class Store(MessageStore, JobStore, ItemStore, SearchStore, SkillStore, ConsoleStore, DumpStore, Protocol):
    """What the engine needs from a storage backend."""

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls join the outer one."""
        ...

    def close(self) -> None: ...

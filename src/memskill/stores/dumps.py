"""What a whole-store dump reads, shared by both stores (`sqlite/dump.py`, `postgres/dump.py`).

The same columns and conversions as `rows.py`, plus what the engine never reads back but another store
needs to be the same: a message's job and storage time, a job's payload, each vector's embedder, a
skill's indexed text. Each query pages by the table's stored order (`seq`, or SQLite's rowid), so a
dump written back row by row keeps every listing in the same order.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from memskill.stores.base import ClusterRow, JobRow, MessageRow, StoredItem, StoredSkill, TaskRecordRow
from memskill.stores.rows import (
    ITEM_COLUMNS,
    MESSAGE_COLUMNS,
    SKILL_COLUMNS,
    item_from_row,
    message_from_row,
    skill_from_row,
)

BATCH = 500
"""Rows read per query while dumping."""

VectorReader = Callable[[Any], "np.ndarray | None"]
"""How a backend's vector column value becomes a float32 array (None stays None)."""


def _width(columns: str) -> int:
    return len(columns.split(","))


MESSAGE_DUMP = f"{MESSAGE_COLUMNS}, user_id, conversation_id, agent_id, app_id, job_id, create_time"
JOB_DUMP = (
    "id, user_id, conversation_id, agent_id, app_id, kind, status, payload, attempts, error, result, "
    "create_time, update_time, prompt_tokens, completion_tokens, llm_calls"
)
ITEM_DUMP = f"{ITEM_COLUMNS}, vector, embedder"
CLUSTER_DUMP = "id, user_id, agent_id, app_id, title, centroid, size, skill_id, create_time, update_time"
TASK_RECORD_DUMP = "id, user_id, cluster_id, conversation_id, record, create_time"
SKILL_DUMP = f"{SKILL_COLUMNS}, s.search_text, s.vector, s.embedder"


def message_row(row: Sequence[Any]) -> MessageRow:
    width = _width(MESSAGE_COLUMNS)
    return MessageRow(message_from_row(row[:width]), *row[width:])


def job_row(row: Sequence[Any]) -> JobRow:
    return JobRow(
        id=row[0],
        user_id=row[1],
        conversation_id=row[2],
        agent_id=row[3],
        app_id=row[4],
        kind=row[5],
        status=row[6],
        payload=json.loads(row[7] or "{}"),
        attempts=row[8],
        error=row[9],
        result=json.loads(row[10] or "{}"),
        create_time=row[11],
        update_time=row[12],
        prompt_tokens=row[13],
        completion_tokens=row[14],
        llm_calls=row[15],
    )


def stored_item(row: Sequence[Any], vector: VectorReader) -> StoredItem:
    width = _width(ITEM_COLUMNS)
    return StoredItem(item_from_row(row[:width]), vector(row[width]), row[width + 1])


def cluster_row(row: Sequence[Any], vector: VectorReader) -> ClusterRow:
    centroid = vector(row[5])
    return ClusterRow(
        id=row[0],
        user_id=row[1],
        agent_id=row[2],
        app_id=row[3],
        title=row[4],
        centroid=np.zeros(0, dtype=np.float32) if centroid is None else centroid,
        size=row[6],
        skill_id=row[7],
        create_time=row[8],
        update_time=row[9],
    )


def task_record_row(row: Sequence[Any]) -> TaskRecordRow:
    return TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])


def stored_skill(row: Sequence[Any], vector: VectorReader) -> StoredSkill:
    return StoredSkill(skill_from_row(row[:-3]), row[-3], vector(row[-2]), row[-1])


def message_values(row: MessageRow) -> tuple[Any, ...]:
    """A message's columns in `MESSAGE_DUMP` order, lists as JSON text."""
    message = row.message
    calls = json.dumps([[c.id, c.name, c.arguments] for c in message.tool_calls], ensure_ascii=False)
    return (
        message.id,
        message.role,
        message.content,
        message.chat_time,
        calls,
        message.tool_call_id,
        row.user_id,
        row.conversation_id,
        row.agent_id,
        row.app_id,
        row.job_id,
        row.create_time,
    )


def job_values(row: JobRow) -> tuple[Any, ...]:
    """A job's columns in `JOB_DUMP` order, payload and result as JSON text."""
    return (
        row.id,
        row.user_id,
        row.conversation_id,
        row.agent_id,
        row.app_id,
        row.kind,
        row.status,
        json.dumps(row.payload, ensure_ascii=False),
        row.attempts,
        row.error,
        json.dumps(row.result, ensure_ascii=False),
        row.create_time,
        row.update_time,
        row.prompt_tokens,
        row.completion_tokens,
        row.llm_calls,
    )


class DumpReads(ABC):
    """Every row of each kind, in stored order, for both stores: a host class gives `_pages` (its
    dialect's paged SELECT), `_vector` (its vector column as an array) and `ORDER` (the column each
    table is stored in order of: `seq`, or SQLite's rowid where a table has no `seq`)."""

    ORDER: ClassVar[dict[str, str]]

    @abstractmethod
    def _pages(
        self, columns: str, source: str, order: str, user_id: str | None, owner: str = "user_id"
    ) -> Iterator[Sequence[Any]]:
        """The rows of `columns` from `source` in `order`, page by page (one user's, or all)."""

    @staticmethod
    @abstractmethod
    def _vector(value: Any) -> np.ndarray | None:
        """A vector column's value as a float32 array (None for none)."""

    def dump_messages(self, user_id: str | None = None) -> Iterator[MessageRow]:
        for row in self._pages(MESSAGE_DUMP, "messages", self.ORDER["messages"], user_id):
            yield message_row(row)

    def dump_jobs(self, user_id: str | None = None) -> Iterator[JobRow]:
        for row in self._pages(JOB_DUMP, "jobs", self.ORDER["jobs"], user_id):
            yield job_row(row)

    def dump_items(self, user_id: str | None = None) -> Iterator[StoredItem]:
        for row in self._pages(ITEM_DUMP, "items", self.ORDER["items"], user_id):
            yield stored_item(row, self._vector)

    def dump_clusters(self, user_id: str | None = None) -> Iterator[ClusterRow]:
        for row in self._pages(CLUSTER_DUMP, "clusters", self.ORDER["clusters"], user_id):
            yield cluster_row(row, self._vector)

    def dump_task_records(self, user_id: str | None = None) -> Iterator[TaskRecordRow]:
        for row in self._pages(TASK_RECORD_DUMP, "task_records", self.ORDER["task_records"], user_id):
            yield task_record_row(row)

    def dump_skills(self, user_id: str | None = None) -> Iterator[StoredSkill]:
        source = "skills s JOIN skill_versions v ON v.skill_id = s.id AND v.version = s.version"
        for row in self._pages(SKILL_DUMP, source, "s.seq", user_id, owner="s.user_id"):
            yield stored_skill(row, self._vector)

"""Task records whose chunk a later turn changed. Segmentation runs again on every turn, so a boundary
can move after a chunk was recorded: a chunk that lost messages is recorded again, shorter
(`moved`); a chunk that is gone, its messages now in other chunks, leaves a record to remove
(`absorbed`), or it would make a second skill of the task that took its messages. A job reads the
last messages of its conversation; a task longer than that is read from its start (`with_task_start`),
or its part in the window would be recorded again as a task of its own, once per turn.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from memskill.consolidate import stable_id
from memskill.models import Job, Message, TaskChunk
from memskill.stores.base import Store, TaskRecordRow


def record_id(job: Job, first_message_id: str) -> str:
    """The id of the record of a job's chunk that starts at `first_message_id`."""
    return stable_id("rec_", job.user_id, job.conversation_id, first_message_id)


def moved(stored: TaskRecordRow | None, chunk: TaskChunk, fresh: Collection[str] = ()) -> bool:
    """Whether a later turn moved a boundary of a chunk's stored record: the record holds messages the
    chunk no longer has (it is written again, shorter), or the chunk holds earlier messages the record
    does not, those of a chunk that is gone (`absorbed`), besides the `fresh` ones of this job."""
    if stored is None:
        return False
    sources = set(stored.record.get("sources", []))
    held = {m.id for m in chunk.messages}
    return bool(sources - held) or any(m.id not in sources and m.id not in fresh for m in chunk.messages)


def absorbed(
    store: Store,
    job: Job,
    parts: Sequence[TaskChunk],
    recorded: Sequence[TaskChunk],
    messages: Sequence[Message],
) -> list[TaskRecordRow]:
    """Stored records of chunks that are gone: no chunk of `parts` starts at their first message any
    more, and a chunk `recorded` now holds their messages (small talk that held the next request until
    the request's next turn moved the boundary). The window's first message may start a chunk cut by
    the window, so its record is never one of them."""
    starts = {chunk.messages[0].id for chunk in parts}
    claimed = {m.id for chunk in recorded for m in chunk.messages}
    found = (store.get_task_record(record_id(job, m.id)) for m in messages[1:] if m.id not in starts)
    return [row for row in found if row and any(s in claimed for s in row.record.get("sources", []))]


TASK_REACH = 64
"""The most earlier messages a job reads back to reach its task's start: a task longer than that (an
agent's session of hundreds of tool calls) is read from this far back, so a turn's work stays bounded."""


def with_task_start(store: Store, job: Job, context: Sequence[Message]) -> list[Message]:
    """`context` reaching back to the first message of the recorded task its first message belongs to,
    by at most `TASK_REACH` messages."""
    first = context[0].id
    holding = [
        row
        for row in store.conversation_records(job.user_id, job.conversation_id)
        if first in row.record.get("sources", [])
    ]
    if not holding:
        return list(context)
    sources = list(holding[-1].record["sources"])
    earlier = sources[: sources.index(first)][-TASK_REACH:]
    return [*store.messages_by_ids(earlier), *context]

"""Task records whose chunk a later turn changed. Segmentation runs again on every turn, so a boundary
can move after a chunk was recorded: a chunk that lost messages is recorded again, shorter
(`reaches_past`); a chunk that is gone, its messages now in other chunks, leaves a record to remove
(`absorbed`), or it would make a second skill of the task that took its messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from memskill.consolidate import stable_id
from memskill.models import Job, Message, TaskChunk
from memskill.stores.base import Store, TaskRecordRow


def record_id(job: Job, first_message_id: str) -> str:
    """The id of the record of a job's chunk that starts at `first_message_id`."""
    return stable_id("rec_", job.user_id, job.conversation_id, first_message_id)


def reaches_past(stored: TaskRecordRow | None, chunk: TaskChunk) -> bool:
    """Whether a chunk's stored record holds messages the chunk no longer has (a later turn moved the
    boundary): the record is then written again, shorter."""
    held = {m.id for m in chunk.messages}
    return stored is not None and any(source not in held for source in stored.record.get("sources", []))


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

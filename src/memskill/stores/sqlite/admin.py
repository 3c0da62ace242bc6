"""The SQLite store's operator queries: API keys, and the overviews the dashboard shows.

Kept apart from `sqlite/store.py` (the data path) as a mixin of `SQLiteStore`; everything here is either a
rare write (keys) or a read over many users that the API itself never needs.
"""

from __future__ import annotations

from typing import Any

from memskill.models import Job, Message
from memskill.stores.base import ApiKeyRow, UserOverview, overviews
from memskill.stores.rows import JOB_COLUMNS, MESSAGE_COLUMNS, job_from_row, message_from_row
from memskill.stores.sqlite.host import Host

API_KEY_COLUMNS = "id, key_hash, prefix, app_id, note, create_time, revoke_time"


class AdminQueries(Host):
    """API keys and overviews; needs the host class's `_db()` and `transaction()`."""

    # -- API keys ---------------------------------------------------------------------------------

    def save_api_key(self, key: ApiKeyRow) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT INTO api_keys (id, key_hash, prefix, app_id, note, create_time, revoke_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key.id, key.key_hash, key.prefix, key.app_id, key.note, key.create_time, key.revoke_time),
            )

    def api_key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        row = (
            self._db()
            .execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (key_hash,))
            .fetchone()
        )
        return ApiKeyRow(*row) if row else None

    def list_api_keys(self) -> list[ApiKeyRow]:
        rows = self._db().execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY create_time, id")
        return [ApiKeyRow(*row) for row in rows]

    def revoke_api_key(self, key_id: str, when: int) -> bool:
        with self.transaction():
            cursor = self._db().execute(
                "UPDATE api_keys SET revoke_time = ? WHERE (id = ? OR prefix = ?) AND revoke_time IS NULL",
                (when, key_id, key_id),
            )
        return cursor.rowcount > 0

    def api_key_by_id(self, key_id: str) -> ApiKeyRow | None:
        row = self._db().execute(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return ApiKeyRow(*row) if row else None

    # -- overviews ----------------------------------------------------------------------------------

    def user_overview(self) -> list[UserOverview]:
        """Every user with messages, with counts of what is stored for them, most recently active first."""
        db = self._db()
        counts: dict[str, dict[str, Any]] = {}
        for user_id, conversations, messages in db.execute(
            "SELECT user_id, COUNT(DISTINCT conversation_id), COUNT(*) FROM messages GROUP BY user_id"
        ):
            counts[user_id] = {"conversations": conversations, "messages": messages}
        for user_id, kind, count in db.execute(
            "SELECT user_id, kind, COUNT(*) FROM items WHERE status = 'activated' GROUP BY user_id, kind"
        ):
            counts.setdefault(user_id, {})[kind] = count
        for user_id, count in db.execute(
            "SELECT user_id, COUNT(*) FROM skills WHERE status = 'activated' GROUP BY user_id"
        ):
            counts.setdefault(user_id, {})["skills"] = count
        for user_id, last_time, prompt, completion, failed in db.execute(
            "SELECT user_id, MAX(update_time), SUM(prompt_tokens), SUM(completion_tokens), "
            "SUM(status = 'failed') FROM jobs GROUP BY user_id"
        ):
            row = counts.setdefault(user_id, {})
            row.update(last_time=last_time or 0, tokens=(prompt or 0) + (completion or 0), failed=failed or 0)
        return overviews(counts)

    def list_jobs(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first, optionally of one user and/or one status."""
        rows = self._db().execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE (? IS NULL OR user_id = ?) AND (? IS NULL OR status = ?) "
            "ORDER BY create_time DESC, id LIMIT ? OFFSET ?",
            (user_id, user_id, status, status, limit, offset),
        )
        return [job_from_row(row) for row in rows]

    def conversation_messages(self, user_id: str, conversation_id: str, limit: int = 500) -> list[Message]:
        """A conversation's messages in the order they were stored (the first `limit`)."""
        rows = self._db().execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = ? AND conversation_id = ? "
            "ORDER BY seq LIMIT ?",
            (user_id, conversation_id, limit),
        )
        return [message_from_row(row) for row in rows]

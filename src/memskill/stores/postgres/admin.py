"""The PostgreSQL store's operator queries: API keys, and the overviews the dashboard shows.

Kept apart from `postgres/store.py` (the data path) as a mixin of `PostgresStore`, like `sqlite/admin.py` for
SQLite: rare writes (keys) and reads over many users that the API itself never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from memskill.models import Job, Message
from memskill.stores.base import ApiKeyRow, UserOverview, overviews
from memskill.stores.postgres.host import Host
from memskill.stores.rows import JOB_COLUMNS, MESSAGE_COLUMNS, job_from_row, message_from_row

if TYPE_CHECKING:
    pass

T = TypeVar("T")
API_KEY_COLUMNS = "id, key_hash, prefix, app_id, note, create_time, revoke_time"


class AdminQueries(Host):
    """API keys and overviews; needs the host class's `_rows`, `_row` and `_write`."""

    # -- API keys ---------------------------------------------------------------------------------

    def save_api_key(self, key: ApiKeyRow) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO api_keys (id, key_hash, prefix, app_id, note, create_time, revoke_time) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (key.id, key.key_hash, key.prefix, key.app_id, key.note, key.create_time, key.revoke_time),
            )
        )

    def api_key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        row = self._row(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = %s", (key_hash,))
        return ApiKeyRow(*row) if row else None

    def list_api_keys(self) -> list[ApiKeyRow]:
        rows = self._rows(f"SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY create_time, id")
        return [ApiKeyRow(*row) for row in rows]

    def revoke_api_key(self, key_id: str, when: int) -> bool:
        return self._write(
            lambda db: (
                db.execute(
                    "UPDATE api_keys SET revoke_time = %s WHERE (id = %s OR prefix = %s) "
                    "AND revoke_time IS NULL",
                    (when, key_id, key_id),
                ).rowcount
                > 0
            )
        )

    def api_key_by_id(self, key_id: str) -> ApiKeyRow | None:
        row = self._row(f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
        return ApiKeyRow(*row) if row else None

    # -- overviews ----------------------------------------------------------------------------------

    def user_overview(self) -> list[UserOverview]:
        """Every user with messages, with counts of what is stored for them, most recently active first."""
        counts: dict[str, dict[str, Any]] = {}
        for user_id, conversations, messages in self._rows(
            "SELECT user_id, COUNT(DISTINCT conversation_id), COUNT(*) FROM messages GROUP BY user_id"
        ):
            counts[user_id] = {"conversations": conversations, "messages": messages}
        for user_id, kind, count in self._rows(
            "SELECT user_id, kind, COUNT(*) FROM items WHERE status = 'activated' GROUP BY user_id, kind"
        ):
            counts.setdefault(user_id, {})[kind] = count
        for user_id, count in self._rows(
            "SELECT user_id, COUNT(*) FROM skills WHERE status = 'activated' GROUP BY user_id"
        ):
            counts.setdefault(user_id, {})["skills"] = count
        for user_id, last_time, tokens, failed in self._rows(
            "SELECT user_id, MAX(update_time), SUM(prompt_tokens + completion_tokens)::bigint, "
            "COUNT(*) FILTER (WHERE status = 'failed') FROM jobs GROUP BY user_id"
        ):
            row = counts.setdefault(user_id, {})
            row.update(last_time=last_time or 0, tokens=tokens or 0, failed=failed or 0)
        return overviews(counts)

    def list_jobs(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first, optionally of one user and/or one status."""
        rows = self._rows(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE (%(user)s::text IS NULL OR user_id = %(user)s) "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "ORDER BY create_time DESC, id LIMIT %(limit)s OFFSET %(offset)s",
            {
                "user": user_id,
                "status": status,
                "limit": None if limit < 0 else limit,
                "offset": max(offset, 0),
            },
        )
        return [job_from_row(row) for row in rows]

    def conversation_messages(self, user_id: str, conversation_id: str, limit: int = 500) -> list[Message]:
        """A conversation's messages in the order they were stored (the first `limit`)."""
        rows = self._rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id = %s AND conversation_id = %s "
            "ORDER BY seq LIMIT %s",
            (user_id, conversation_id, None if limit < 0 else limit),
        )
        return [message_from_row(row) for row in rows]

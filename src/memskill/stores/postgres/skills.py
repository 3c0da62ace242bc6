"""The PostgresStore's task clusters, task records and skills with their versions and history (a mixin)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from memskill.models import (
    Scope,
    Skill,
    SkillEvent,
    SkillVersion,
)
from memskill.stores.base import ClusterRow, TaskRecordRow
from memskill.stores.dumps import CLUSTER_DUMP, cluster_row
from memskill.stores.postgres.dump import read_vector
from memskill.stores.postgres.host import Host
from memskill.stores.postgres.search import (
    as_vector,
    scope_params,
)
from memskill.stores.postgres.text import tsvector
from memskill.stores.rows import (
    SKILL_CHANGES,
    SKILL_COLUMNS,
    SKILL_KEYS,
    VERSION_COLUMNS,
    json_text,
    lifecycle_values,
    owner_token,
    skill_changes,
    skill_from_row,
    skill_keys,
    version_from_row,
    version_values,
)

if TYPE_CHECKING:
    from psycopg import Connection

    Db = Connection[tuple[Any, ...]]

T = TypeVar("T")


UPSERT = ", ".join(f"{column} = excluded.{column}" for column in [*SKILL_CHANGES.split(", "), "tokens"])
"""What saving a skill that exists rewrites."""


class SkillQueries(Host):
    """Clusters, task records and skills; needs the host class's
    `_read`, `_rows`, `_row`, `_write` and `_touch`."""

    # -- clusters and task records ----------------------------------------------------------------

    def list_clusters(self, scope: Scope) -> list[ClusterRow]:
        rows = self._rows(
            f"SELECT {CLUSTER_DUMP} FROM clusters WHERE user_id = %(user)s "
            "AND (%(agent)s::text IS NULL OR agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR app_id = %(app)s) ORDER BY create_time, seq",
            scope_params(scope),
            binary=True,
        )
        return [cluster_row(r, read_vector) for r in rows]

    def save_cluster(self, cluster: ClusterRow) -> None:
        self._write(
            lambda db: db.execute(
                "INSERT INTO clusters (id, user_id, agent_id, app_id, title, centroid, size, skill_id, "
                "create_time, update_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, centroid = excluded.centroid, "
                "size = excluded.size, skill_id = excluded.skill_id, update_time = excluded.update_time",
                (
                    cluster.id,
                    cluster.user_id,
                    cluster.agent_id,
                    cluster.app_id,
                    cluster.title,
                    as_vector(cluster.centroid),
                    cluster.size,
                    cluster.skill_id,
                    cluster.create_time,
                    cluster.update_time,
                ),
            )
        )

    def add_task_record(self, row: TaskRecordRow) -> None:
        """Store a task record; one stored again replaces the first and counts as stored last."""
        self._write(
            lambda db: db.execute(
                "INSERT INTO task_records (id, user_id, cluster_id, conversation_id, record, create_time) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
                "cluster_id = excluded.cluster_id, conversation_id = excluded.conversation_id, "
                "record = excluded.record, create_time = excluded.create_time, seq = DEFAULT",
                (
                    row.id,
                    row.user_id,
                    row.cluster_id,
                    row.conversation_id,
                    json_text(row.record),
                    row.create_time,
                ),
            )
        )

    def delete_task_record(self, record_id: str) -> None:
        def work(db: Db) -> None:
            gone = "DELETE FROM task_records WHERE id = %s RETURNING cluster_id"
            row = db.execute(gone, (record_id,)).fetchone()
            if row is not None:
                db.execute(
                    "DELETE FROM clusters WHERE id = %s AND NOT EXISTS "
                    "(SELECT 1 FROM task_records WHERE cluster_id = %s)",
                    (row[0], row[0]),
                )

        self._write(work)

    def get_task_record(self, record_id: str) -> TaskRecordRow | None:
        row = self._row(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE id = %s",
            (record_id,),
        )
        return None if row is None else _record(row)

    def conversation_records(self, user_id: str, conversation_id: str) -> list[TaskRecordRow]:
        rows = self._rows(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE user_id = %s AND conversation_id = %s ORDER BY create_time, seq",
            (user_id, conversation_id),
        )
        return [_record(row) for row in rows]

    def latest_task_record(self, user_id: str, conversation_id: str) -> TaskRecordRow | None:
        row = self._row(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE user_id = %s AND conversation_id = %s ORDER BY create_time DESC, seq DESC LIMIT 1",
            (user_id, conversation_id),
        )
        return None if row is None else _record(row)

    def task_records(self, cluster_id: str) -> list[TaskRecordRow]:
        rows = self._rows(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE cluster_id = %s ORDER BY create_time, seq",
            (cluster_id,),
        )
        return [_record(row) for row in rows]

    # -- skills -----------------------------------------------------------------------------------

    def save_skill(
        self, skill: Skill, search_text: str, vector: np.ndarray | None, embedder_id: str | None
    ) -> None:
        """Insert or update a skill row and append its current version (versions are never rewritten)."""
        version = skill.current
        tokens = tsvector(search_text, owner_token(skill.user_id))

        def work(db: Db) -> None:
            db.execute(
                f"INSERT INTO skills ({SKILL_CHANGES}, {SKILL_KEYS}, tokens) VALUES "
                f"({', '.join(['%s'] * 20)}, %s::tsvector) ON CONFLICT (id) DO UPDATE SET {UPSERT}",
                (
                    *skill_changes(skill, search_text, as_vector(vector), embedder_id),
                    *skill_keys(skill),
                    tokens,
                ),
            )
            db.execute(
                "INSERT INTO skill_versions (skill_id, version, name, description, items, markdown, note, "
                "create_time, author, held_out) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (skill_id, version) DO NOTHING",
                version_values(version),
            )
            self._touch(skill.user_id)

        self._write(work)

    def set_skill_state(self, skill: Skill) -> None:
        """Write a skill's state, status, served version and feedback counts (nothing else changes)."""

        def work(db: Db) -> None:
            db.execute(
                "UPDATE skills SET state = %s, status = %s, live_version = %s, helpful = %s, unhelpful = %s, "
                "update_time = %s WHERE id = %s",
                (*lifecycle_values(skill), skill.id),
            )
            self._touch(skill.user_id)

        self._write(work)

    def add_skill_event(self, event: SkillEvent) -> None:
        def work(db: Db) -> None:
            db.execute(
                "INSERT INTO skill_events (skill_id, time, actor, action, version, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (event.skill_id, event.time, event.actor, event.action, event.version, event.detail),
            )

        self._write(work)

    def skill_events(self, skill_id: str) -> list[SkillEvent]:
        rows = self._rows(
            "SELECT skill_id, time, actor, action, version, detail FROM skill_events WHERE skill_id = %s "
            "ORDER BY seq",
            (skill_id,),
        )
        return [SkillEvent(*row) for row in rows]

    def skill_versions(self, skill_id: str) -> list[SkillVersion]:
        rows = self._rows(
            f"SELECT {VERSION_COLUMNS} FROM skill_versions WHERE skill_id = %s ORDER BY version", (skill_id,)
        )
        return [version_from_row(row) for row in rows]

    def get_skill(self, skill_id: str) -> Skill | None:
        row = self._row(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = %s",
            (skill_id,),
        )
        return None if row is None else skill_from_row(row)

    def get_skills(self, skill_ids: Sequence[str]) -> dict[str, Skill]:
        if not skill_ids:
            return {}
        rows = self._rows(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = ANY(%s::text[])",
            (list(skill_ids),),
        )
        return {skill.id: skill for skill in map(skill_from_row, rows)}

    def list_skills(self, scope: Scope, statuses: Sequence[str] = ("activated",)) -> list[Skill]:
        rows = self._rows(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.user_id = %(user)s "
            "AND s.status = ANY(%(statuses)s::text[]) "
            "AND (%(agent)s::text IS NULL OR s.agent_id = %(agent)s) "
            "AND (%(app)s::text IS NULL OR s.app_id = %(app)s) ORDER BY s.seq",
            {**scope_params(scope), "statuses": list(statuses)},
        )
        return [skill_from_row(row) for row in rows]

    def delete_skill(self, skill_id: str) -> bool:
        def work(db: Db) -> bool:
            row = db.execute(
                "DELETE FROM skills WHERE id = %s RETURNING user_id, cluster_id", (skill_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM skill_versions WHERE skill_id = %s", (skill_id,))
            db.execute("DELETE FROM skill_events WHERE skill_id = %s", (skill_id,))
            db.execute("UPDATE clusters SET skill_id = NULL WHERE id = %s", (row[1],))
            self._touch(row[0])
            return True

        return self._write(work)

    def user_ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT DISTINCT user_id FROM messages ORDER BY user_id")]


def _record(row: Sequence[Any]) -> TaskRecordRow:
    return TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])

"""The SQLiteStore's task clusters, task records and skills with their versions and history (a mixin)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from memskill.models import (
    Scope,
    Skill,
    SkillEvent,
    SkillVersion,
)
from memskill.stores.base import ClusterRow, TaskRecordRow
from memskill.stores.dumps import CLUSTER_DUMP, cluster_row
from memskill.stores.rows import (
    SKILL_CHANGES,
    SKILL_COLUMNS,
    SKILL_KEYS,
    VERSION_COLUMNS,
    blob,
    lifecycle_values,
    skill_changes,
    skill_from_row,
    skill_keys,
    version_from_row,
    version_values,
)
from memskill.stores.sqlite.dump import read_vector
from memskill.stores.sqlite.host import Host


class SkillQueries(Host):
    """Clusters, task records and skills; needs the host class's
    `_db()`, `transaction()`, `_index()`, `_unindex()` and `_touch()`."""

    # -- clusters and task records ----------------------------------------------------------------

    def list_clusters(self, scope: Scope) -> list[ClusterRow]:
        rows = self._db().execute(
            f"SELECT {CLUSTER_DUMP} FROM clusters WHERE user_id = ? AND (? IS NULL OR agent_id IS ?) "
            "AND (? IS NULL OR app_id IS ?) ORDER BY create_time",
            (scope.user_id, scope.agent_id, scope.agent_id, scope.app_id, scope.app_id),
        )
        return [cluster_row(r, read_vector) for r in rows]

    def save_cluster(self, cluster: ClusterRow) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT INTO clusters (id, user_id, agent_id, app_id, title, centroid, size, skill_id, "
                "create_time, "
                "update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "title = excluded.title, centroid = excluded.centroid, size = excluded.size, "
                "skill_id = excluded.skill_id, update_time = excluded.update_time",
                (
                    cluster.id,
                    cluster.user_id,
                    cluster.agent_id,
                    cluster.app_id,
                    cluster.title,
                    blob(cluster.centroid),
                    cluster.size,
                    cluster.skill_id,
                    cluster.create_time,
                    cluster.update_time,
                ),
            )

    def add_task_record(self, row: TaskRecordRow) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT OR REPLACE INTO task_records (id, user_id, cluster_id, conversation_id, record, "
                "create_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.user_id,
                    row.cluster_id,
                    row.conversation_id,
                    json.dumps(row.record, ensure_ascii=False),
                    row.create_time,
                ),
            )

    def delete_task_record(self, record_id: str) -> None:
        db = self._db()
        with self.transaction():
            row = db.execute("SELECT cluster_id FROM task_records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM task_records WHERE id = ?", (record_id,))
            db.execute(
                "DELETE FROM clusters WHERE id = ? AND NOT EXISTS "
                "(SELECT 1 FROM task_records WHERE cluster_id = ?)",
                (row[0], row[0]),
            )

    def get_task_record(self, record_id: str) -> TaskRecordRow | None:
        row = (
            self._db()
            .execute(
                "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
                "WHERE id = ?",
                (record_id,),
            )
            .fetchone()
        )
        return (
            None if row is None else TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])
        )

    def conversation_records(self, user_id: str, conversation_id: str) -> list[TaskRecordRow]:
        rows = self._db().execute(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE user_id = ? AND conversation_id = ? ORDER BY create_time, rowid",
            (user_id, conversation_id),
        )
        return [TaskRecordRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def latest_task_record(self, user_id: str, conversation_id: str) -> TaskRecordRow | None:
        row = (
            self._db()
            .execute(
                "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
                "WHERE user_id = ? AND conversation_id = ? ORDER BY create_time DESC, rowid DESC LIMIT 1",
                (user_id, conversation_id),
            )
            .fetchone()
        )
        return (
            None if row is None else TaskRecordRow(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])
        )

    def task_records(self, cluster_id: str) -> list[TaskRecordRow]:
        rows = self._db().execute(
            "SELECT id, user_id, cluster_id, conversation_id, record, create_time FROM task_records "
            "WHERE cluster_id = ? ORDER BY create_time, rowid",
            (cluster_id,),
        )
        return [TaskRecordRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    # -- skills -----------------------------------------------------------------------------------

    def save_skill(
        self, skill: Skill, search_text: str, vector: np.ndarray | None, embedder_id: str | None
    ) -> None:
        """Insert or update a skill row and append its current version (versions are never rewritten)."""
        db = self._db()
        version = skill.current
        with self.transaction():
            row = db.execute("SELECT seq FROM skills WHERE id = ?", (skill.id,)).fetchone()
            values = skill_changes(skill, search_text, blob(vector), embedder_id)
            if row is None:
                cursor = db.execute(
                    f"INSERT INTO skills ({SKILL_CHANGES}, {SKILL_KEYS}) VALUES ({', '.join('?' * 20)})",
                    (*values, *skill_keys(skill)),
                )
                seq = int(cursor.lastrowid or 0)
            else:
                seq = int(row[0])
                changes = ", ".join(f"{column} = ?" for column in SKILL_CHANGES.split(", "))
                db.execute(f"UPDATE skills SET {changes} WHERE id = ?", (*values, skill.id))
                self._unindex("skills", seq)
            self._index("skills", seq, skill.user_id, search_text)
            exists = db.execute(
                "SELECT 1 FROM skill_versions WHERE skill_id = ? AND version = ?", (skill.id, version.version)
            ).fetchone()
            if exists is None:
                db.execute(
                    "INSERT INTO skill_versions (skill_id, version, name, description, items, markdown, "
                    "note, create_time, author, held_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    version_values(version),
                )
            self._touch(skill.user_id)

    def set_skill_state(self, skill: Skill) -> None:
        """Write a skill's state, status, served version and feedback counts (nothing else changes)."""
        with self.transaction():
            self._db().execute(
                "UPDATE skills SET state = ?, status = ?, live_version = ?, helpful = ?, unhelpful = ?, "
                "update_time = ? WHERE id = ?",
                (*lifecycle_values(skill), skill.id),
            )
            self._touch(skill.user_id)

    def add_skill_event(self, event: SkillEvent) -> None:
        with self.transaction():
            self._db().execute(
                "INSERT INTO skill_events (skill_id, time, actor, action, version, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.skill_id, event.time, event.actor, event.action, event.version, event.detail),
            )

    def skill_events(self, skill_id: str) -> list[SkillEvent]:
        rows = self._db().execute(
            "SELECT skill_id, time, actor, action, version, detail FROM skill_events WHERE skill_id = ? "
            "ORDER BY seq",
            (skill_id,),
        )
        return [SkillEvent(*row) for row in rows]

    def skill_versions(self, skill_id: str) -> list[SkillVersion]:
        rows = self._db().execute(
            f"SELECT {VERSION_COLUMNS} FROM skill_versions WHERE skill_id = ? ORDER BY version",
            (skill_id,),
        )
        return [version_from_row(row) for row in rows]

    def get_skill(self, skill_id: str) -> Skill | None:
        row = (
            self._db()
            .execute(
                f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
                "ON v.skill_id = s.id AND v.version = s.version WHERE s.id = ?",
                (skill_id,),
            )
            .fetchone()
        )
        return None if row is None else skill_from_row(row)

    def get_skills(self, skill_ids: Sequence[str]) -> dict[str, Skill]:
        if not skill_ids:
            return {}
        marks = ",".join("?" * len(skill_ids))
        rows = self._db().execute(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            f"ON v.skill_id = s.id AND v.version = s.version WHERE s.id IN ({marks})",
            list(skill_ids),
        )
        return {skill.id: skill for skill in map(skill_from_row, rows)}

    def list_skills(self, scope: Scope, statuses: Sequence[str] = ("activated",)) -> list[Skill]:
        marks = ",".join("?" * len(statuses))
        rows = self._db().execute(
            f"SELECT {SKILL_COLUMNS} FROM skills s JOIN skill_versions v "
            "ON v.skill_id = s.id AND v.version = s.version WHERE s.user_id = ? "
            f"AND s.status IN ({marks}) AND (? IS NULL OR s.agent_id = ?) AND (? IS NULL OR s.app_id = ?) "
            "ORDER BY s.seq",
            [scope.user_id, *statuses, scope.agent_id, scope.agent_id, scope.app_id, scope.app_id],
        )
        return [skill_from_row(row) for row in rows]

    def delete_skill(self, skill_id: str) -> bool:
        db = self._db()
        with self.transaction():
            row = db.execute(
                "SELECT seq, user_id, cluster_id FROM skills WHERE id = ?", (skill_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM skills WHERE seq = ?", (row[0],))
            db.execute("DELETE FROM skill_versions WHERE skill_id = ?", (skill_id,))
            db.execute("DELETE FROM skill_events WHERE skill_id = ?", (skill_id,))
            db.execute("UPDATE clusters SET skill_id = NULL WHERE id = ?", (row[2],))
            self._unindex("skills", row[0])
            self._touch(row[1])
        return True

    def user_ids(self) -> list[str]:
        rows = self._db().execute("SELECT DISTINCT user_id FROM messages ORDER BY user_id")
        return [row[0] for row in rows]

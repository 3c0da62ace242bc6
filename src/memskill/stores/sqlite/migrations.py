"""Named schema migrations for the SQLite store, applied in order, each in its own transaction.

A migration is never edited once released; a schema change is a new function appended to `MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated statements inside the caller's transaction (`executescript` would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            agent_id TEXT,
            app_id TEXT,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            chat_time INTEGER,
            tool_calls TEXT NOT NULL DEFAULT '[]',
            tool_call_id TEXT,
            job_id TEXT NOT NULL,
            create_time INTEGER NOT NULL
        );
        CREATE INDEX messages_by_conversation ON messages (user_id, conversation_id, seq);
        CREATE INDEX messages_by_job ON messages (job_id);
        CREATE VIRTUAL TABLE messages_fts USING fts5 (tokens);

        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            agent_id TEXT,
            app_id TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            result TEXT NOT NULL DEFAULT '{}',
            create_time INTEGER NOT NULL,
            update_time INTEGER NOT NULL
        );
        CREATE INDEX jobs_runnable ON jobs (status, lease_until, create_time);
        CREATE INDEX jobs_by_user ON jobs (user_id, status, create_time);

        CREATE TABLE items (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            text TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            agent_id TEXT,
            app_id TEXT,
            status TEXT NOT NULL,
            confidence REAL NOT NULL,
            tags TEXT NOT NULL,
            sources TEXT NOT NULL,
            payload TEXT NOT NULL,
            vector BLOB,
            embedder TEXT,
            create_time INTEGER NOT NULL,
            update_time INTEGER NOT NULL
        );
        CREATE INDEX items_by_user ON items (user_id, kind, status, seq);
        CREATE VIRTUAL TABLE items_fts USING fts5 (tokens);

        CREATE TABLE clusters (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            agent_id TEXT,
            app_id TEXT,
            title TEXT NOT NULL,
            centroid BLOB NOT NULL,
            size INTEGER NOT NULL,
            skill_id TEXT,
            create_time INTEGER NOT NULL,
            update_time INTEGER NOT NULL
        );
        CREATE INDEX clusters_by_user ON clusters (user_id);

        CREATE TABLE task_records (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            cluster_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            record TEXT NOT NULL,
            create_time INTEGER NOT NULL
        );
        CREATE INDEX task_records_by_cluster ON task_records (cluster_id, create_time);

        CREATE TABLE skills (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            cluster_id TEXT NOT NULL,
            agent_id TEXT,
            app_id TEXT,
            status TEXT NOT NULL,
            skill_type TEXT NOT NULL,
            version INTEGER NOT NULL,
            confidence REAL NOT NULL,
            tags TEXT NOT NULL,
            conversation_ids TEXT NOT NULL,
            search_text TEXT NOT NULL,
            vector BLOB,
            embedder TEXT,
            create_time INTEGER NOT NULL,
            update_time INTEGER NOT NULL
        );
        CREATE INDEX skills_by_user ON skills (user_id, status);
        CREATE VIRTUAL TABLE skills_fts USING fts5 (tokens);

        CREATE TABLE skill_versions (
            skill_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            items TEXT NOT NULL,
            markdown TEXT NOT NULL,
            note TEXT NOT NULL,
            create_time INTEGER NOT NULL,
            PRIMARY KEY (skill_id, version)
        );

        CREATE TABLE revisions (
            user_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL
        );
        """,
    )


def m002_api_keys(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            app_id TEXT,
            note TEXT NOT NULL DEFAULT '',
            create_time INTEGER NOT NULL,
            revoke_time INTEGER
        )
        """,
    )


def m003_job_usage(db: sqlite3.Connection) -> None:
    """Tokens each job's model calls used, summed per user for accounting."""
    run_script(
        db,
        """
        ALTER TABLE jobs ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0
        """,
    )


def m004_items_by_cluster(db: sqlite3.Connection) -> None:
    """Find a user's preferences linked to given task clusters without decoding every payload."""
    run_script(
        db,
        "CREATE INDEX items_by_cluster "
        "ON items (user_id, kind, json_extract(payload, '$.cluster_id'), status)",
    )


def m005_vector_log(db: sqlite3.Connection) -> None:
    """Which searchable rows changed, in order, so a process's in-memory vector index can be patched
    after a write instead of reloaded. Triggers write it, so no write path can forget to;
    `revisions.log_floor` is the last entry pruned for the user (an index older than that reloads)."""
    statements = [
        "CREATE TABLE vector_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, "
        "tbl TEXT NOT NULL, id TEXT NOT NULL)",
        "CREATE INDEX vector_log_by_user ON vector_log (user_id, seq)",
        "ALTER TABLE revisions ADD COLUMN log_floor INTEGER NOT NULL DEFAULT 0",
    ]
    for table in ("items", "skills"):
        changed = "vector, embedder, status, agent_id, app_id, user_id" + (
            ", kind" if table == "items" else ""
        )
        for event, row in ((f"INSERT ON {table}", "NEW"), (f"UPDATE OF {changed} ON {table}", "NEW")):
            name = f"{table}_logged_{event.split()[0].lower()}"
            statements.append(
                f"CREATE TRIGGER {name} AFTER {event} BEGIN INSERT INTO vector_log (user_id, tbl, id) "
                f"VALUES ({row}.user_id, '{table}', {row}.id); END"
            )
        statements.append(
            f"CREATE TRIGGER {table}_logged_delete AFTER DELETE ON {table} BEGIN INSERT INTO vector_log "
            f"(user_id, tbl, id) VALUES (OLD.user_id, '{table}', OLD.id); END"
        )
    for statement in statements:
        db.execute(statement)


def m006_items_vocabulary(db: sqlite3.Connection) -> None:
    """How many memories hold each indexed term: a keyword query keeps the rarest terms of a long request."""
    db.execute("CREATE VIRTUAL TABLE items_vocabulary USING fts5vocab(items_fts, 'row')")


SKILL_LIFECYCLE = """
    ALTER TABLE skills ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
    ALTER TABLE skills ADD COLUMN live_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE skills ADD COLUMN helpful INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE skills ADD COLUMN unhelpful INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE skill_versions ADD COLUMN author TEXT NOT NULL DEFAULT 'memskill';
    ALTER TABLE skill_versions ADD COLUMN held_out TEXT NOT NULL DEFAULT '[]'
"""
"""A skill's state, the version served while a newer one waits for review, its feedback counts; who
made each version and what it kept out (the same statements in both stores' dialects)."""


def m007_skill_lifecycle(db: sqlite3.Connection) -> None:
    """Skill states, review and feedback (`memskill.lifecycle`); skills written before are active."""
    run_script(db, SKILL_LIFECYCLE)
    run_script(
        db,
        """
        CREATE TABLE skill_events (
            seq INTEGER PRIMARY KEY,
            skill_id TEXT NOT NULL,
            time INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            version INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX skill_events_by_skill ON skill_events (skill_id, seq)
        """,
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", m001_initial),
    ("002_api_keys", m002_api_keys),
    ("003_job_usage", m003_job_usage),
    ("004_items_by_cluster", m004_items_by_cluster),
    ("005_vector_log", m005_vector_log),
    ("006_items_vocabulary", m006_items_vocabulary),
    ("007_skill_lifecycle", m007_skill_lifecycle),
]


def apply_migrations(
    db: sqlite3.Connection, migrations: list[tuple[str, Migration]] | None = None
) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_time INTEGER NOT NULL)"
    )
    applied_now: list[str] = []
    for name, migration in migrations if migrations is not None else MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            done = db.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone()
            if done is None:
                migration(db)
                db.execute(
                    "INSERT INTO schema_migrations (name, applied_time) VALUES (?, ?)",
                    (name, int(time.time() * 1000)),
                )
                applied_now.append(name)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return applied_now

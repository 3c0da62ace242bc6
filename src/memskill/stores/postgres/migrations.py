"""Named schema migrations for the PostgreSQL store, applied in order, each in its own transaction.

The tables mirror the SQLite store's (`migrations.py`), so `rows.py` reads both: lists and payloads are
JSON text, times are millisecond epochs. The differences:

- Ids and user ids are `COLLATE "C"`, so they sort and compare byte-wise, as SQLite's BINARY does
  (`stale_vectors` pages by `id >`, listings order by id).
- Vectors are pgvector `vector` columns without a fixed dimension, next to the id of the embedder that
  made them; HNSW indexes are partial, one per dimension, made when first needed (`postgres/store.py`).
- Keyword search reads a `tokens` tsvector column (written by the store from `postgres/text.py`), under a GIN
  index, instead of FTS5 tables.
- `jobs`, `clusters` and `task_records` have a `seq` column, so rows stored in the same millisecond keep
  the order they were stored in (SQLite has its rowid).

Processes that start at once take turns through an advisory lock. A migration is never edited once
released; a schema change is a new function appended to `MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memskill.errors import InternalError
from memskill.models import now_ms
from memskill.stores.sqlite.migrations import SKILL_LIFECYCLE

if TYPE_CHECKING:
    from psycopg import Connection

Migration = Callable[["Connection[tuple[Any, ...]]"], None]

MIGRATION_LOCK = 0x6D656D736B696C6C
"""pg_advisory_lock key held while migrating (the bytes of "memskill")."""


def m001_initial(db: Connection[tuple[Any, ...]]) -> None:
    db.execute(
        """
        CREATE TABLE messages (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL UNIQUE,
            user_id TEXT COLLATE "C" NOT NULL,
            conversation_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C",
            app_id TEXT COLLATE "C",
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            chat_time BIGINT,
            tool_calls TEXT NOT NULL DEFAULT '[]',
            tool_call_id TEXT,
            job_id TEXT COLLATE "C" NOT NULL,
            create_time BIGINT NOT NULL,
            tokens TSVECTOR
        );
        CREATE INDEX messages_by_conversation ON messages (user_id, conversation_id, seq);
        CREATE INDEX messages_by_job ON messages (job_id);
        CREATE INDEX messages_tokens ON messages USING gin (tokens);

        CREATE TABLE jobs (
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            id TEXT COLLATE "C" PRIMARY KEY,
            user_id TEXT COLLATE "C" NOT NULL,
            conversation_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C",
            app_id TEXT COLLATE "C",
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until BIGINT NOT NULL DEFAULT 0,
            error TEXT,
            result TEXT NOT NULL DEFAULT '{}',
            create_time BIGINT NOT NULL,
            update_time BIGINT NOT NULL,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            llm_calls BIGINT NOT NULL DEFAULT 0
        );
        CREATE INDEX jobs_runnable ON jobs (create_time, seq) WHERE status = 'running';
        CREATE INDEX jobs_by_user ON jobs (user_id, status, create_time, seq);
        CREATE INDEX jobs_by_status ON jobs (status);
        CREATE INDEX jobs_by_time ON jobs (create_time DESC, id);

        CREATE TABLE items (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL UNIQUE,
            user_id TEXT COLLATE "C" NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            text TEXT NOT NULL,
            conversation_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C",
            app_id TEXT COLLATE "C",
            status TEXT NOT NULL,
            confidence DOUBLE PRECISION NOT NULL,
            tags TEXT NOT NULL,
            sources TEXT NOT NULL,
            payload TEXT NOT NULL,
            vector VECTOR,
            embedder TEXT,
            create_time BIGINT NOT NULL,
            update_time BIGINT NOT NULL,
            tokens TSVECTOR
        );
        CREATE INDEX items_by_user ON items (user_id, kind, status, seq);
        CREATE INDEX items_tokens ON items USING gin (tokens);

        CREATE TABLE clusters (
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            id TEXT COLLATE "C" PRIMARY KEY,
            user_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C",
            app_id TEXT COLLATE "C",
            title TEXT NOT NULL,
            centroid VECTOR NOT NULL,
            size INTEGER NOT NULL,
            skill_id TEXT COLLATE "C",
            create_time BIGINT NOT NULL,
            update_time BIGINT NOT NULL
        );
        CREATE INDEX clusters_by_user ON clusters (user_id, create_time);

        CREATE TABLE task_records (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
            id TEXT COLLATE "C" PRIMARY KEY,
            user_id TEXT COLLATE "C" NOT NULL,
            cluster_id TEXT COLLATE "C" NOT NULL,
            conversation_id TEXT COLLATE "C" NOT NULL,
            record TEXT NOT NULL,
            create_time BIGINT NOT NULL
        );
        CREATE INDEX task_records_by_cluster ON task_records (cluster_id, create_time, seq);
        CREATE INDEX task_records_by_conversation ON task_records (user_id, conversation_id, create_time);

        CREATE TABLE skills (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL UNIQUE,
            user_id TEXT COLLATE "C" NOT NULL,
            cluster_id TEXT COLLATE "C" NOT NULL,
            agent_id TEXT COLLATE "C",
            app_id TEXT COLLATE "C",
            status TEXT NOT NULL,
            skill_type TEXT NOT NULL,
            version INTEGER NOT NULL,
            confidence DOUBLE PRECISION NOT NULL,
            tags TEXT NOT NULL,
            conversation_ids TEXT NOT NULL,
            search_text TEXT NOT NULL,
            vector VECTOR,
            embedder TEXT,
            create_time BIGINT NOT NULL,
            update_time BIGINT NOT NULL,
            tokens TSVECTOR
        );
        CREATE INDEX skills_by_user ON skills (user_id, status, seq);
        CREATE INDEX skills_tokens ON skills USING gin (tokens);

        CREATE TABLE skill_versions (
            skill_id TEXT COLLATE "C" NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            items TEXT NOT NULL,
            markdown TEXT NOT NULL,
            note TEXT NOT NULL,
            create_time BIGINT NOT NULL,
            PRIMARY KEY (skill_id, version)
        );

        CREATE TABLE revisions (
            user_id TEXT COLLATE "C" PRIMARY KEY,
            revision BIGINT NOT NULL
        );

        CREATE TABLE api_keys (
            id TEXT COLLATE "C" PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            app_id TEXT COLLATE "C",
            note TEXT NOT NULL DEFAULT '',
            create_time BIGINT NOT NULL,
            revoke_time BIGINT
        );
        CREATE INDEX api_keys_by_prefix ON api_keys (prefix);
        """
    )


def m002_items_by_cluster(db: Connection[tuple[Any, ...]]) -> None:
    """Find a user's preferences linked to given task clusters without decoding every payload."""
    db.execute(
        "CREATE INDEX items_by_cluster ON items (user_id, kind, ((payload::jsonb ->> 'cluster_id')), status)"
    )


def m003_vector_log(db: Connection[tuple[Any, ...]]) -> None:
    """Which searchable rows changed, so a process's in-memory vector index can be patched after a
    write instead of read again. Triggers write an entry per changed row with the transaction's id;
    the commit stamps the transaction's entries with the user's new revision, taken under the revision
    row's lock, so revisions order entries as their transactions committed (a sequence would not: a
    transaction that took a lower number may commit later). `revisions.log_floor` is the newest
    revision pruned for the user: an index older than that reads everything again."""
    db.execute(
        """
        CREATE TABLE vector_log (
            seq BIGSERIAL PRIMARY KEY,
            user_id TEXT COLLATE "C" NOT NULL,
            tbl TEXT NOT NULL,
            id TEXT COLLATE "C" NOT NULL,
            xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
            revision BIGINT
        );
        CREATE INDEX vector_log_by_user ON vector_log (user_id, tbl, revision);
        CREATE INDEX vector_log_unstamped ON vector_log (xact) WHERE revision IS NULL;
        ALTER TABLE revisions ADD COLUMN log_floor BIGINT NOT NULL DEFAULT 0;

        CREATE FUNCTION memskill_log_vector() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                INSERT INTO vector_log (user_id, tbl, id) VALUES (OLD.user_id, TG_TABLE_NAME, OLD.id);
                RETURN OLD;
            END IF;
            INSERT INTO vector_log (user_id, tbl, id) VALUES (NEW.user_id, TG_TABLE_NAME, NEW.id);
            IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
                INSERT INTO vector_log (user_id, tbl, id) VALUES (OLD.user_id, TG_TABLE_NAME, OLD.id);
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER items_logged AFTER INSERT OR DELETE OR UPDATE OF
            vector, embedder, status, agent_id, app_id, user_id, kind ON items
            FOR EACH ROW EXECUTE FUNCTION memskill_log_vector();
        CREATE TRIGGER skills_logged AFTER INSERT OR DELETE OR UPDATE OF
            vector, embedder, status, agent_id, app_id, user_id ON skills
            FOR EACH ROW EXECUTE FUNCTION memskill_log_vector();
        """
    )


def m004_items_indexed(db: Connection[tuple[Any, ...]]) -> None:
    """Each item's tokens as written (the tsvector keeps folded lexemes only), so a search scores a
    candidate's words without segmenting its text again; rows written before stay NULL and are read
    the old way."""
    db.execute("ALTER TABLE items ADD COLUMN indexed TEXT")


def m005_skill_lifecycle(db: Connection[tuple[Any, ...]]) -> None:
    """Skill states, review and feedback (`memskill.lifecycle`); skills written before are active."""
    for statement in filter(str.strip, SKILL_LIFECYCLE.split(";")):
        db.execute(statement)
    db.execute(
        """
        CREATE TABLE skill_events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            skill_id TEXT COLLATE "C" NOT NULL,
            time BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            version INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX skill_events_by_skill ON skill_events (skill_id, seq)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", m001_initial),
    ("002_items_by_cluster", m002_items_by_cluster),
    ("003_vector_log", m003_vector_log),
    ("004_items_indexed", m004_items_indexed),
    ("005_skill_lifecycle", m005_skill_lifecycle),
]


def _ensure_pgvector(db: Connection[tuple[Any, ...]]) -> None:
    import psycopg

    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as error:
        raise InternalError(
            f"the pgvector extension is not installed in this database and could not be created ({error}). "
            "Install pgvector on the server and run `CREATE EXTENSION vector` as a superuser."
        ) from None


def apply_migrations(
    db: Connection[tuple[Any, ...]], migrations: list[tuple[str, Migration]] | None = None
) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now.

    `db` is an autocommit connection; the advisory lock makes concurrent callers wait for each other.
    """
    db.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        _ensure_pgvector(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_time BIGINT NOT NULL)"
        )
        applied_now: list[str] = []
        for name, migration in migrations if migrations is not None else MIGRATIONS:
            with db.transaction():
                if db.execute("SELECT 1 FROM schema_migrations WHERE name = %s", (name,)).fetchone():
                    continue
                migration(db)
                db.execute(
                    "INSERT INTO schema_migrations (name, applied_time) VALUES (%s, %s)", (name, now_ms())
                )
                applied_now.append(name)
        return applied_now
    finally:
        if not db.closed and not db.broken:
            db.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

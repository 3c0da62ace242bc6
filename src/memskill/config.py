"""Settings, read once from the environment at the edge (CLI, server start-up).

The library itself takes explicit `Settings` objects; nothing else in the package reads `os.environ`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from memskill.errors import InvalidRequest


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    """`$MEMSKILL_HOME`, else `~/.memskill`."""
    env = os.environ if environ is None else environ
    home = env.get("MEMSKILL_HOME")
    return Path(home).expanduser() if home else Path.home() / ".memskill"


def _int(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"{name}={value!r} is not a whole number; fix or unset it.") from None
    if number < 0:
        raise InvalidRequest(f"{name}={value!r} is negative; use 0 or more.")
    return number


@dataclass(frozen=True)
class Limits:
    """Input limits; over them a call fails with 413 instead of storing part of it."""

    max_messages_per_call: int = 200
    max_message_chars: int = 32_000
    max_id_chars: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest HTTP request body the server reads."""
    rate_per_minute: int = 3000
    """Requests per minute per API key (bursts up to the same number); 0 = no limit."""


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible HTTP endpoint: chat completions for the LLM, `/embeddings` for an embedder.

    `base_url` is what the vendor documents as the API base, usually ending in `/v1`
    (`https://api.openai.com/v1`, `http://localhost:11434/v1` for Ollama); paths are appended to it.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 30.0
    """Per request; a slower answer counts as a failure (retried, then the algorithmic stage takes over)."""


def _endpoint(env: dict[str, str], prefix: str, timeout_s: float) -> Endpoint | None:
    """`<prefix>_BASE_URL`, `<prefix>_MODEL`, `<prefix>_API_KEY` as an `Endpoint`, or None when unset."""
    base_url = env.get(f"{prefix}_BASE_URL", "").strip().rstrip("/")
    if not base_url:
        return None
    if not base_url.startswith(("http://", "https://")):
        raise InvalidRequest(f"{prefix}_BASE_URL={base_url!r} must start with http:// or https://.")
    model = env.get(f"{prefix}_MODEL", "").strip()
    if not model:
        raise InvalidRequest(f"{prefix}_BASE_URL is set but {prefix}_MODEL is not: set the model to use.")
    return Endpoint(base_url, model, env.get(f"{prefix}_API_KEY") or None, timeout_s)


def _database_url(env: dict[str, str]) -> str | None:
    url = env.get("MEMSKILL_DATABASE_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidRequest(
            f"MEMSKILL_DATABASE_URL must be a postgresql:// URL (got {url.split(':', 1)[0]}://…); "
            "unset it to use SQLite in the data directory."
        )
    return url


LLM_PROFILES = ("full", "small")


def _llm_profile(env: dict[str, str]) -> str:
    profile = (env.get("MEMSKILL_LLM_PROFILE") or "full").strip().lower()
    if profile not in LLM_PROFILES:
        raise InvalidRequest(
            f"MEMSKILL_LLM_PROFILE={profile!r} is not a profile: use one of {', '.join(LLM_PROFILES)}"
        )
    return profile


SKILL_REVIEW = ("off", "required")


def _skill_review(env: dict[str, str]) -> str:
    review = (env.get("MEMSKILL_SKILL_REVIEW") or "off").strip().lower()
    if review not in SKILL_REVIEW:
        raise InvalidRequest(
            f"MEMSKILL_SKILL_REVIEW={review!r} is not a mode: use one of {', '.join(SKILL_REVIEW)}"
        )
    return review


def _lease_ms(env: dict[str, str]) -> int:
    lease_ms = _int(env, "MEMSKILL_LEASE_MS", 120_000)
    if lease_ms < 1000:
        raise InvalidRequest(
            f"MEMSKILL_LEASE_MS={lease_ms} is under a second: workers would take over jobs that are still "
            "running. Use 1000 or more (default 120000)."
        )
    return lease_ms


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know that is not passed per call."""

    data_dir: Path = field(default_factory=default_data_dir)
    embedder: str = "offline"
    """`offline` (multilingual USE, the default), `hashing` (fast, crude; for tests) or `endpoint`
    (`embed_endpoint`, chosen automatically when `MEMSKILL_EMBED_BASE_URL` is set)."""
    workers: int = 1
    """In-process worker threads that run the pipeline; 0 = none (jobs wait for a worker)."""
    lease_ms: int = 120_000
    """How long a job stays with its worker without a renewal (`MEMSKILL_LEASE_MS`). A live worker renews
    it every third of this time; a job whose worker died is taken over this long after the last renewal."""
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    """A key the server accepts besides the stored ones (`MEMSKILL_API_KEY`)."""
    public_url: str | None = None
    """The base URL clients reach the server at, for `skill_url` (`MEMSKILL_PUBLIC_URL`)."""
    link_ttl_s: int = 7 * 24 * 3600
    """How long a signed skill download link stays valid."""
    signing_key: str | None = None
    """The secret for download links and console sessions (`MEMSKILL_SIGNING_KEY`); every API process
    behind one load balancer needs the same. None = `<data_dir>/signing.key`, created on first use."""
    llm: Endpoint | None = None
    """An OpenAI-compatible chat endpoint for the pipeline stages (`MEMSKILL_LLM_*`); None = algorithmic."""
    llm_profile: str = "full"
    """Which stages ask the model (`MEMSKILL_LLM_PROFILE`): `full` every stage; `small` (for 7–14B
    models) only each task's record and its skill update — segmentation, facts, preferences and tool
    lessons stay algorithmic — about two calls per task instead of four to five."""
    database_url: str | None = None
    """`postgresql://…` selects the PostgreSQL + pgvector store (`MEMSKILL_DATABASE_URL`); None = SQLite in
    `data_dir`."""
    embed_endpoint: Endpoint | None = None
    """An OpenAI-compatible `/embeddings` endpoint (`MEMSKILL_EMBED_*`) for the `endpoint` embedder."""
    skill_min_tasks: int = 1
    """Substantive tasks a skill needs before it is served (`MEMSKILL_SKILL_MIN_TASKS`); under it a skill is
    a candidate. 1 serves a skill from its first task, as the compatible service does."""
    skill_review: str = "off"
    """`required` (`MEMSKILL_SKILL_REVIEW`): every new skill and every version memskill makes waits for an
    operator's approval before it is served; `off`: a skill whose evidence holds is served at once."""
    mcp_user: str | None = None
    """The user an MCP client's calls are about when they name none (`MEMSKILL_MCP_USER`), so that one
    developer's agent needs no ids; its skills are the MCP resources and prompts listed. None = every
    call names its `user_id`."""

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        timeout_s = float(_int(env, "MEMSKILL_LLM_TIMEOUT", 30))
        embed_endpoint = _endpoint(env, "MEMSKILL_EMBED", timeout_s)
        return cls(
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(env),
            embedder=env.get("MEMSKILL_EMBEDDER") or ("endpoint" if embed_endpoint else "offline"),
            workers=_int(env, "MEMSKILL_WORKERS", 1),
            lease_ms=_lease_ms(env),
            limits=Limits(
                max_messages_per_call=_int(env, "MEMSKILL_MAX_MESSAGES", 200),
                max_message_chars=_int(env, "MEMSKILL_MAX_MESSAGE_CHARS", 32_000),
                max_body_bytes=_int(env, "MEMSKILL_MAX_BODY_BYTES", 16 * 1024 * 1024),
                rate_per_minute=_int(env, "MEMSKILL_RATE_LIMIT", 3000),
            ),
            api_key=env.get("MEMSKILL_API_KEY") or None,
            public_url=env.get("MEMSKILL_PUBLIC_URL") or None,
            link_ttl_s=_int(env, "MEMSKILL_LINK_TTL", 7 * 24 * 3600),
            signing_key=env.get("MEMSKILL_SIGNING_KEY") or None,
            llm=_endpoint(env, "MEMSKILL_LLM", timeout_s),
            llm_profile=_llm_profile(env),
            database_url=_database_url(env),
            embed_endpoint=embed_endpoint,
            mcp_user=env.get("MEMSKILL_MCP_USER", "").strip() or None,
            skill_min_tasks=max(1, _int(env, "MEMSKILL_SKILL_MIN_TASKS", 1)),
            skill_review=_skill_review(env),
        )

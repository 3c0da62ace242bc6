"""`Memory`: the in-process engine with the semantics of the MemOS Cloud v1 API (DESIGN §2).

Each public method takes the request fields of one endpoint as keyword arguments and returns the `data`
object of its reply, so the HTTP server is a thin translation layer and `memskill.Client` has the same
method names. Bad input raises a `MemskillError` subclass carrying the API error code.

    memory = Memory("~/.memskill")
    memory.add_message(user_id="u1", conversation_id="c1", messages=[...], async_mode=False)
    memory.search_memory(query="…", user_id="u1", include_skill=True)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from memskill import wire
from memskill.config import Limits, Settings
from memskill.engine_data import StoredData, _flag, _limit
from memskill.errors import InvalidRequest, MissingField, NotFound
from memskill.filters import compile_filter
from memskill.ingest import check_id, normalise_messages
from memskill.jobs import Workers, run_job
from memskill.lifecycle import Review, candidate_hits, served
from memskill.llm import StructuredLLM
from memskill.models import Job, Message, Scope, Skill
from memskill.pipeline import Pipeline
from memskill.providers import make_chat, make_embedder
from memskill.providers.chat import ChatModel
from memskill.providers.embedders import Embedder
from memskill.reembed import Reembedding, ReembedState
from memskill.retrieve import (
    DEFAULT_RELATIVITY,
    Query,
    Wanted,
    item_words,
    preference_note,
    search,
)
from memskill.stores import open_store
from memskill.stores.base import Store

SkillLink = Callable[[Skill], str]


class Memory(StoredData):
    """The memory engine over one store, with in-process workers.

    `Memory(data_dir)` opens (or creates) `data_dir/memskill.db` with the offline embedder and one worker
    thread; pass `settings`, `store` or `embedder` to change any of them. With `settings.llm` (or a
    `chat` model) every stage asks the model first and falls back to its algorithm per item.
    `start_workers=False` leaves jobs for another process (or for `async_mode=False` calls, which run
    inline).

    Vectors that another embedder made are rebuilt in a background thread (`reembedding` tells how far it
    is) before the workers start, so no job mixes two embedders' vectors; search skips them meanwhile.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        store: Store | None = None,
        embedder: Embedder | None = None,
        skill_link: SkillLink | None = None,
        chat: ChatModel | None = None,
        start_workers: bool = True,
    ) -> None:
        settings = settings or Settings()
        if data_dir is not None:
            settings = replace(settings, data_dir=Path(data_dir).expanduser())
        self.settings = settings
        self.limits: Limits = settings.limits
        self.store: Store = store or open_store(settings)
        self.embedder = embedder or make_embedder(settings.embedder, settings.embed_endpoint)
        if chat is None:
            chat = make_chat(settings.llm)
        self.chat = chat
        """The chat model the stages try first; None = the algorithmic stages only."""
        self.pipeline = Pipeline(
            self.store,
            self.embedder,
            StructuredLLM(chat) if chat is not None else None,
            settings.llm_profile,
            settings.skill_min_tasks,
            settings.skill_review == "required",
        )
        self.skill_link = skill_link
        self.review = Review(self.store, self.embedder)
        """The operator's actions on skills: approve, reject, retire, edit, rollback, history."""
        self.workers = Workers(self.store, self.pipeline, settings.workers, lease_ms=settings.lease_ms)
        self._closed = threading.Event()
        self._reembedding = Reembedding(self.store, self.embedder, then=self.workers.start)
        if start_workers and settings.workers > 0:
            self._reembedding.start()

    @property
    def reembedding(self) -> ReembedState | None:
        """How far the background rebuild of another embedder's vectors is (or why it failed); None when
        none runs (nothing to rebuild, or no workers: then `memskill reembed` does it)."""
        return self._reembedding.state

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._reembedding.stop()
            self.workers.stop()
            self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------

    def _scope(self, user_id: object, agent_id: object = None, app_id: object = None) -> Scope:
        user = check_id("user_id", user_id, self.limits)
        assert user is not None
        return Scope(
            user,
            check_id("agent_id", agent_id, self.limits, required=False),
            check_id("app_id", app_id, self.limits, required=False),
        )

    def add_message(
        self,
        *,
        user_id: str,
        conversation_id: str,
        messages: list[dict[str, Any]],
        agent_id: str | None = None,
        app_id: str | None = None,
        tags: list[str] | None = None,
        info: dict[str, Any] | None = None,
        async_mode: bool = True,
    ) -> dict[str, Any]:
        """Store messages durably and extract memories from them (now, or in the background)."""
        scope = self._scope(user_id, agent_id, app_id)
        conversation = check_id("conversation_id", conversation_id, self.limits)
        assert conversation is not None
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise InvalidRequest("`tags` must be a list of strings.")
        if info is not None and not isinstance(info, dict):
            raise InvalidRequest("`info` must be an object.")
        run_now = not _flag("async_mode", async_mode, True)
        normalised = normalise_messages(messages, conversation, scope.user_id, self.limits)
        job_id = (
            "task_"
            + hashlib.sha256(
                "\x1f".join([scope.user_id, conversation, *(m.id for m in normalised)]).encode()
            ).hexdigest()[:24]
        )
        job = Job(
            id=job_id, user_id=scope.user_id, conversation_id=conversation, kind="ingest", status="running"
        )
        payload = {"tags": tags or [], "info": info or {}}
        return self._submit(scope, conversation, normalised, job, payload, run_now)

    def _submit(
        self,
        scope: Scope,
        conversation: str,
        messages: Sequence[Message],
        job: Job,
        payload: dict[str, Any],
        run_now: bool,
    ) -> dict[str, Any]:
        lease = ("inline", self.settings.lease_ms) if run_now else None
        result = self.store.ingest(scope, conversation, messages, job, payload, lease=lease)
        stored = result.job
        if run_now and not result.duplicate and stored.status == "running":
            self._reembedding.wait()  # the job must not mix vectors of two embedders
            run_job(
                self.store, self.pipeline, stored, lease_ms=self.settings.lease_ms, leases=self.workers.leases
            )
            stored = self.store.get_job(stored.id) or stored
        elif run_now and stored.status == "running":
            self.wait(stored.id)
            stored = self.store.get_job(stored.id) or stored
        else:
            self.workers.wake()
        return {"success": True, "task_id": stored.id, "status": stored.status}

    def add_feedback(
        self,
        *,
        user_id: str,
        conversation_id: str,
        feedback_content: str,
        agent_id: str | None = None,
        app_id: str | None = None,
        async_mode: bool = True,
        skill_id: str | None = None,
    ) -> dict[str, Any]:
        """A correction from the user: updates preferences and the matching skill, and counts as helpful
        or unhelpful feedback on it (`memskill.lifecycle`). `skill_id` names the skill; without it, the
        skill of the conversation's latest task, else the one nearest the feedback."""
        scope = self._scope(user_id, agent_id, app_id)
        if skill_id is not None:
            named = self.store.get_skill(str(skill_id))
            if named is None or named.user_id != scope.user_id:
                raise NotFound(f"skill {skill_id!r} not found for user {scope.user_id!r}")
        conversation = check_id("conversation_id", conversation_id, self.limits)
        assert conversation is not None
        if not isinstance(feedback_content, str) or not feedback_content.strip():
            raise MissingField("`feedback_content` is required: the user's correction as text.")
        message = normalise_messages(
            [{"role": "user", "content": feedback_content}],
            conversation,
            scope.user_id + "\x1ffeedback",
            self.limits,
        )
        job_id = (
            "task_"
            + hashlib.sha256(f"feedback\x1f{scope.user_id}\x1f{message[0].id}".encode()).hexdigest()[:24]
        )
        job = Job(
            id=job_id, user_id=scope.user_id, conversation_id=conversation, kind="feedback", status="running"
        )
        payload: dict[str, Any] = {"feedback": True, **({"skill_id": skill_id} if skill_id else {})}
        return self._submit(
            scope, conversation, message, job, payload, not _flag("async_mode", async_mode, True)
        )

    def wait(self, task_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until a task is no longer running (or `timeout` passes); returns its status.

        Without worker threads in this process, the wait runs queued jobs itself (claimed like a worker
        would, oldest first): a synchronous call that finds its job queued by an earlier asynchronous
        one would otherwise wait for a worker that may not exist."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(task_id=task_id)
            if status["status"] != "running" or time.monotonic() > deadline:
                return status
            if self.workers.count == 0:
                claimed = self.store.claim_job("inline", self.settings.lease_ms)
                if claimed is not None:
                    self._reembedding.wait()
                    run_job(
                        self.store,
                        self.pipeline,
                        claimed,
                        lease_ms=self.settings.lease_ms,
                        leases=self.workers.leases,
                    )
                    continue
            self.workers.wake()
            time.sleep(0.02)

    def get_status(self, *, task_id: str, app_id: str | None = None) -> dict[str, Any]:
        """A task's state; with `app_id`, only a task of that app is found."""
        task = check_id("task_id", task_id, self.limits)
        job = self.store.get_job(task or "")
        if job is not None and app_id is not None and self.store.job_payload(job.id).get("app_id") != app_id:
            job = None
        if job is None:
            raise NotFound(f"no task {task_id!r}: use the task_id returned by add/message or add/feedback.")
        out: dict[str, Any] = {
            "task_id": job.id,
            "status": job.status,
            "memory_views": {
                "added": list(job.added),
                "updated": list(job.updated),
                "deleted": list(job.deleted),
            },
        }
        if job.error:
            out["error"] = job.error
        if job.report:
            out["llm"] = {**job.report, "usage": job.usage.as_dict()}
        return out

    def token_usage(self, user_id: str | None = None) -> dict[str, int]:
        """Tokens the model calls of one user's jobs used (of everyone's without `user_id`)."""
        user = check_id("user_id", user_id, self.limits, required=False)
        return self.store.token_usage(user).as_dict()

    # -- reading ----------------------------------------------------------------------------------

    def search_memory(
        self,
        *,
        query: str,
        user_id: str,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        filter: dict[str, Any] | None = None,
        memory_limit_number: int | None = None,
        include_preference: bool | None = None,
        preference_limit_number: int | None = None,
        include_tool_memory: bool | None = None,
        tool_memory_limit_number: int | None = None,
        include_skill: bool | None = None,
        skill_limit_number: int | None = None,
        relativity: float | None = None,
        include_candidates: bool | None = None,
    ) -> dict[str, Any]:
        """The user's memories, preferences, tool lessons and skills relevant to `query`; with
        `include_candidates` (an extension), candidate skills too, after the active ones, each marked
        by its `state` (`memskill.lifecycle`)."""
        if not isinstance(query, str) or not query.strip():
            raise MissingField("`query` is required: the text to find memories for.")
        scope = self._scope(user_id, agent_id, app_id)
        check_id("conversation_id", conversation_id, self.limits, required=False)
        memory_limit = _limit("memory_limit_number", memory_limit_number, 9, 25)
        preference_limit = _limit("preference_limit_number", preference_limit_number, 9, 25)
        tool_limit = _limit("tool_memory_limit_number", tool_memory_limit_number, 6, 25)
        skill_limit = _limit("skill_limit_number", skill_limit_number, 6, 25)
        want_preferences = _flag("include_preference", include_preference, True)
        want_tools = _flag("include_tool_memory", include_tool_memory, False)
        want_skills = _flag("include_skill", include_skill, False)
        floor = DEFAULT_RELATIVITY if relativity is None else relativity
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1:
            raise InvalidRequest("`relativity` must be a number between 0 and 1 (0 = no floor).")
        accept = compile_filter(filter)
        prepared = Query.build(query[:4000], self.embedder.embed, self.embedder.id, self.store.term_counts)
        wanted = Wanted(
            memories=memory_limit,
            preferences=preference_limit if want_preferences else 0,
            tools=tool_limit if want_tools else 0,
            skills=skill_limit,
        )
        found = search(self.store, scope, prepared, wanted, floor, accept)
        memories = [wire.memory(item, rel) for item, rel in found.memories]
        memories += [wire.pending_message(m, conversation, rel) for m, conversation, rel in found.pending]
        data: dict[str, Any] = {
            "memory_detail_list": memories[:memory_limit],
            "preference_detail_list": [wire.preference(i, r) for i, r in found.preferences],
            "tool_memory_detail_list": [wire.tool_memory(i, r) for i, r in found.tools],
            "preference_note": preference_note([i.text for i, _ in found.preferences], query),
            "skill_detail_list": [],
        }
        if want_skills and skill_limit:
            data["skill_detail_list"] = [
                wire.skill(self._served(skill), rel, self._link(skill)) for skill, rel in found.skills
            ]
        if want_skills and skill_limit and _flag("include_candidates", include_candidates, False):
            candidates = candidate_hits(self.store, self.embedder.embed, scope, prepared.vector)
            room = skill_limit - len(data["skill_detail_list"])
            data["skill_detail_list"] += [wire.skill(s, rel, self._link(s)) for s, rel in candidates[:room]]
        return data

    def item_words(self, ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """The content words of each item's searchable text, as search compares them with a query."""
        return item_words(self.store, ids)

    def _served(self, skill: Skill) -> Skill:
        """The skill as served: its approved version while a newer one waits for review."""
        return served(self.store, skill)

    def _link(self, skill: Skill) -> str:
        return self.skill_link(skill) if self.skill_link else ""

    def users(self) -> list[str]:
        return self.store.user_ids()

    def drain(self, timeout: float = 120.0) -> bool:
        """Wait until a background re-embedding and every stored job have finished (workers must run)."""
        import time

        started = time.monotonic()
        self._reembedding.wait(timeout)
        return self.workers.drain(max(0.0, timeout - (time.monotonic() - started)))

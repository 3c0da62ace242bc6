"""What `Memory` answers about data already stored: messages, memories and skills read, changed and
deleted (a mixin of `Memory`), and the argument checks every engine method shares."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from memskill import wire
from memskill.config import Limits
from memskill.errors import InvalidRequest, MissingField, NotFound
from memskill.export import Exported, export
from memskill.filters import compile_filter
from memskill.ingest import check_id
from memskill.models import MemoryItem, Scope, Skill
from memskill.pipeline import now_ms
from memskill.providers.embedders import Embedder
from memskill.skillfile import SkillDocument, package_zip, parse
from memskill.stores.base import Store

SkillLink = Callable[[Skill], str]


def _limit(name: str, value: object, default: int, maximum: int, minimum: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"`{name}` must be an integer between {minimum} and {maximum}.")
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"`{name}` is {value}; it must be between {minimum} and {maximum}.")
    return value


def _flag(name: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"`{name}` must be true or false.")
    return value


class StoredData(ABC):
    """get/message, get/memory, update/memory, delete/memory, get/skill, delete/skill and skill files;
    needs the host's `store`, `limits`, `embedder`, `_scope`, `_served` and `_link`."""

    store: Store
    limits: Limits
    embedder: Embedder

    @abstractmethod
    def _scope(self, user_id: object, agent_id: object = None, app_id: object = None) -> Scope:
        """The checked scope of a request's ids."""

    @abstractmethod
    def _served(self, skill: Skill) -> Skill:
        """The skill as served (its approved version while a newer one waits for review)."""

    @abstractmethod
    def _link(self, skill: Skill) -> str:
        """The skill's download link ("" when the engine has no link maker)."""

    def get_message(
        self,
        *,
        user_id: str,
        conversation_id: str,
        message_limit_number: int | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        scope = self._scope(user_id, agent_id, app_id)
        conversation = check_id("conversation_id", conversation_id, self.limits)
        assert conversation is not None
        limit = _limit("message_limit_number", message_limit_number, 6, 50, 1)
        messages = self.store.recent_messages(scope.user_id, conversation, limit, app_id=scope.app_id)
        return {"message_detail_list": [wire.message(m, conversation) for m in messages]}

    def get_memory(
        self,
        *,
        user_id: str,
        page: int | None = None,
        size: int | None = None,
        filter: dict[str, Any] | None = None,
        include_preference: bool | None = None,
        include_tool_memory: bool | None = None,
        include_skill: bool | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        """A page of everything stored for a user; `total`/`pages` count the memory list."""
        scope = self._scope(user_id, agent_id, app_id)
        current = _limit("page", page, 1, 1_000_000, 1)
        per_page = _limit("size", size, 10, 50, 1)
        accept = compile_filter(filter)
        start = (current - 1) * per_page

        def page_of(kind: str) -> tuple[list[MemoryItem], int]:
            items = [i for i in self.store.list_items(scope, [kind], ("activated", "archived")) if accept(i)]
            return items[start : start + per_page], len(items)

        facts, total = page_of("fact")
        data: dict[str, Any] = {
            "memory_detail_list": [wire.memory(i) for i in facts],
            "preference_detail_list": [],
            "tool_memory_detail_list": [],
            "skill_detail_list": [],
            "total": total,
            "size": per_page,
            "current": current,
            "pages": max(1, math.ceil(total / per_page)),
        }
        if _flag("include_preference", include_preference, True):
            data["preference_detail_list"] = [wire.preference(i) for i in page_of("preference")[0]]
        if _flag("include_tool_memory", include_tool_memory, True):
            data["tool_memory_detail_list"] = [wire.tool_memory(i) for i in page_of("tool")[0]]
        if _flag("include_skill", include_skill, True):
            skills = self.store.list_skills(scope)[start : start + per_page]
            data["skill_detail_list"] = [wire.skill(self._served(s), None, self._link(s)) for s in skills]
        return data

    def get_memory_by_id(
        self, memory_id: str, *, user_id: str | None = None, app_id: str | None = None
    ) -> dict[str, Any]:
        """One memory, preference, tool memory or skill by id, if it belongs to `user_id` / `app_id`."""
        item_id = check_id("memory_id", memory_id, self.limits) or ""
        item = self.store.get_item(item_id)
        if item is not None and _owned(item.user_id, item.app_id, user_id, app_id):
            return wire.item(item)
        skill = self.store.get_skill(item_id)
        if skill is not None and _owned(skill.user_id, skill.app_id, user_id, app_id):
            return {**wire.skill(self._served(skill), None, self._link(skill)), "kind": "skill"}
        raise NotFound(f"no memory {memory_id!r} for this user: check the id (ids come from search/get).")

    def update_memory(
        self,
        *,
        memory_id: str,
        content: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        item_id = check_id("memory_id", memory_id, self.limits)
        item = self.store.get_item(item_id or "")
        if item is None or not _owned(item.user_id, item.app_id, user_id, app_id):
            raise NotFound(f"no memory {memory_id!r} for this user: check the id (ids come from search/get).")
        if content is None and status is None:
            raise MissingField("pass `content` and/or `status` to update.")
        if status is not None and status not in ("activated", "archived"):
            raise InvalidRequest("`status` must be `activated` or `archived`.")
        if content is not None and (not isinstance(content, str) or not content.strip()):
            raise InvalidRequest("`content` must be a non-empty string.")
        if content is not None and len(content) > self.limits.max_message_chars:
            raise InvalidRequest(f"`content` is longer than {self.limits.max_message_chars} characters.")
        updated = replace(
            item,
            text=content if content is not None else item.text,
            status=status or item.status,  # type: ignore[arg-type]
            update_time=now_ms(),
        )
        vector = self.embedder.embed([updated.text])[0] if content is not None else None
        self.store.update_item(updated, vector, self.embedder.id if vector is not None else None)
        return wire.item(updated)

    def delete_memory(
        self,
        *,
        memory_ids: list[str] | None = None,
        user_id: str | None = None,
        filter: dict[str, Any] | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        """Delete by ids, by a filter (which names a `user_id`), or everything of one user.

        With `memory_ids` or `filter`, a `user_id` limits the delete to that user's data; alone it deletes
        the whole user. `app_id` limits every form to that app's data.
        """
        if memory_ids is not None and filter is not None:
            raise InvalidRequest("pass either `memory_ids` or `filter`, not both.")
        if memory_ids is not None:
            if not isinstance(memory_ids, list) or not all(isinstance(i, str) for i in memory_ids):
                raise InvalidRequest("`memory_ids` must be a list of strings.")
            if not memory_ids:
                raise InvalidRequest("`memory_ids` is empty: list the ids to delete.")
            for memory_id in memory_ids:
                check_id("memory_ids[]", memory_id, self.limits)
            owner = check_id("user_id", user_id, self.limits, required=False)
            owned = [
                i.id for i in self.store.get_items(memory_ids) if _owned(i.user_id, i.app_id, owner, app_id)
            ]
            deleted = self.store.delete_items(owned)
            for skill_id in set(memory_ids) - set(owned):
                skill = self.store.get_skill(skill_id)
                if skill is not None and _owned(skill.user_id, skill.app_id, owner, app_id):
                    deleted += int(self.store.delete_skill(skill_id))
            return {"success": True, "deleted": deleted}
        if filter is not None:
            if not isinstance(filter, dict):
                raise InvalidRequest('`filter` must be an object, e.g. {"user_id": "u1", "tags": "trip"}.')
            named = filter.get("user_id", user_id)
            if not isinstance(named, str) or (user_id is not None and named != user_id):
                raise InvalidRequest("a delete `filter` must name one `user_id` whose memories it deletes.")
            scope = self._scope(named, None, app_id)
            accept = compile_filter(filter)
            kinds: list[str] = ["fact", "preference", "tool"]
            items = [i for i in self.store.list_items(scope, kinds, ("activated", "archived")) if accept(i)]
            return {"success": True, "deleted": self.store.delete_items([i.id for i in items])}
        if user_id is None:
            raise MissingField("pass `memory_ids`, `filter` or `user_id` to say what to delete.")
        scope = self._scope(user_id, None, app_id)
        if app_id is None:
            return {"success": True, "deleted": self.store.delete_user(scope.user_id)}
        kinds = ["fact", "preference", "tool"]
        items = self.store.list_items(scope, kinds, ("activated", "archived"))
        deleted = self.store.delete_items([i.id for i in items])
        for skill in self.store.list_skills(scope, ("activated", "archived")):
            deleted += int(self.store.delete_skill(skill.id))
        return {"success": True, "deleted": deleted}

    # -- skills -----------------------------------------------------------------------------------

    def get_skill(
        self,
        *,
        user_id: str,
        skill_id: str | None = None,
        include_versions: bool | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        scope = self._scope(user_id, agent_id, app_id)
        with_versions = _flag("include_versions", include_versions, False)
        if skill_id is not None:
            skill = self.store.get_skill(check_id("skill_id", skill_id, self.limits) or "")
            if skill is None or not _owned(skill.user_id, skill.app_id, scope.user_id, scope.app_id):
                raise NotFound(f"no skill {skill_id!r} for this user: list the user's skills with get/skill.")
            skills = [skill]
        else:
            skills = self.store.list_skills(scope)
        return {
            "skill_detail_list": [
                wire.skill(
                    self._served(s),
                    None,
                    self._link(s),
                    self.store.skill_versions(s.id) if with_versions else None,
                )
                for s in skills
            ]
        }

    def delete_skill(
        self, *, skill_id: str, user_id: str | None = None, app_id: str | None = None
    ) -> dict[str, Any]:
        skill = self.store.get_skill(check_id("skill_id", skill_id, self.limits) or "")
        if skill is None or not _owned(skill.user_id, skill.app_id, user_id, app_id):
            raise NotFound(f"no skill {skill_id!r} for this user: list the user's skills with get/skill.")
        return {"success": self.store.delete_skill(skill.id)}

    def skill_document(self, skill_id: str, version: int | None = None) -> SkillDocument:
        """The parsed SKILL.md of a skill (its latest version unless `version` is given)."""
        skill = self.store.get_skill(skill_id)
        if skill is None:
            raise NotFound(f"no skill {skill_id!r}.")
        markdown = self._served(skill).current.markdown
        if version is not None:
            match = [v for v in self.store.skill_versions(skill_id) if v.version == version]
            if not match:
                raise NotFound(f"skill {skill_id!r} has no version {version}.")
            markdown = match[0].markdown
        return parse(markdown)

    def skill_zip(self, skill_id: str, version: int | None = None) -> bytes:
        """A zip holding `<name>/SKILL.md`, ready for an agent's skills folder."""
        return package_zip(self.skill_document(skill_id, version))

    def export_skills(
        self, user_id: str, directory: str | Path, prefix: str = "", force: bool = False, sync: bool = False
    ) -> list[Exported]:
        """Write each of a user's skills as `<directory>/<name>/SKILL.md`, keeping a manifest of what was
        written there (`memskill.export`): folders memskill did not write are left alone unless `force`;
        `prefix` names folders per user; `sync` also removes the folders of this user's deleted skills."""
        scope = self._scope(user_id)
        skills = [self._served(skill) for skill in self.store.list_skills(scope)]
        return export(skills, scope.user_id, Path(directory), prefix, force, sync)


def _owned(owner_user: str, owner_app: str | None, user_id: str | None, app_id: str | None) -> bool:
    """Whether data of (`owner_user`, `owner_app`) is visible to a caller limited to `user_id` / `app_id`."""
    return user_id in (None, owner_user) and app_id in (None, owner_app)

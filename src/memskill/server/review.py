"""Skill review over HTTP: an extension beside the compatible API, under its own OpenAPI tag.

    POST /skill/review   {user_id, skill_id, action: approve|reject|retire|rollback|edit, version?,
                          skill_markdown?, reason?, actor?} → the skill as `get/skill` returns it
    POST /skill/history  {user_id, skill_id} → the skill with every version (author, what it held out)
                          and its history of events (who, what, when)

Each action is `Memory.review`'s (`memskill.lifecycle`). Who acts is the caller's key (`key:<id>`),
with the `actor` the client names in front of it ("lin via key:k_12ab"), so the history says both.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from memskill import wire
from memskill.engine import Memory
from memskill.errors import NotFound
from memskill.models import Skill
from memskill.server import schemas
from memskill.server.routes import ERRORS, app_scope, ok

TAG = "Skill review (extension)"


class SkillReview(schemas.Request):
    user_id: str = Field(min_length=1, max_length=100)
    skill_id: str = Field(min_length=1, max_length=100)
    action: Literal["approve", "reject", "retire", "rollback", "edit"]
    version: int | None = Field(default=None, ge=1, description="rollback: the version to return to")
    skill_markdown: str | None = Field(default=None, description="edit: the edited SKILL.md")
    reason: str = Field(default="", max_length=500)
    actor: str | None = Field(default=None, max_length=100, description="who acts (kept with the key)")
    app_id: str | None = schemas.Id


class SkillHistory(schemas.Request):
    user_id: str = Field(min_length=1, max_length=100)
    skill_id: str = Field(min_length=1, max_length=100)
    app_id: str | None = schemas.Id


def build_review(memory: Memory) -> APIRouter:
    router = APIRouter(responses=ERRORS, tags=[TAG])

    def owned(request: Request, user_id: str, skill_id: str, app_id: str | None) -> Skill:
        skill = memory.store.get_skill(skill_id)
        app = app_scope(request, app_id)
        if skill is None or skill.user_id != user_id or app not in (None, skill.app_id):
            raise NotFound(f"no skill {skill_id!r} for this user: list the user's skills with get/skill.")
        return skill

    def actor(request: Request, named: str | None) -> str:
        caller = getattr(request.state, "principal", None)
        key = f"key:{caller.key_id}" if caller is not None else "local"
        return f"{named} via {key}" if named else key

    @router.post("/skill/review", summary="Approve, reject, retire, roll back or edit a skill")
    def review(body: SkillReview, request: Request) -> JSONResponse:
        owned(request, body.user_id, body.skill_id, body.app_id)
        who = actor(request, body.actor)
        skill = memory.review.act(
            body.action, body.skill_id, who, body.reason, body.version, body.skill_markdown
        )
        return ok(wire.skill(skill))

    @router.post("/skill/history", summary="A skill's versions (who made each, what it held out) and events")
    def history(body: SkillHistory, request: Request) -> JSONResponse:
        owned(request, body.user_id, body.skill_id, body.app_id)
        skill, versions, events = memory.review.history(body.skill_id)
        data: dict[str, Any] = wire.skill(skill, versions=versions)
        data["events"] = [
            {"time": e.time, "actor": e.actor, "action": e.action, "version": e.version, "detail": e.detail}
            for e in events
        ]
        return ok(data)

    return router

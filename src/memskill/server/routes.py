"""The API routes: each translates one request body into one engine call and wraps its `data`.

Mounted twice by `create_app`, at `/api/openmem/v1` and at `/v1`. Authentication and rate limiting
happen before a route runs (`server.app.Gate`); the caller's `Principal` is in `request.state`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from memskill.engine import Memory
from memskill.errors import Forbidden
from memskill.server import schemas
from memskill.server.keys import Principal
from memskill.server.links import Signer
from memskill.skillfile import package_zip, render

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Reply, "description": text}
    for status, text in (
        (400, "bad parameter (40000), missing field (40002), id too long (40010)"),
        (401, "missing or unknown API key (40100)"),
        (403, "the key is bound to another app (40100)"),
        (404, "not found for this user (40400)"),
        (413, "payload too large (41300)"),
        (429, "rate limit (40300)"),
    )
}


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "ok", "data": data})


def principal(request: Request) -> Principal:
    found: Principal = request.state.principal
    return found


def app_for(caller: Principal | None, requested: str | None) -> str | None:
    """The app a call may touch: the key's own app when it is bound to one (None: no key, a local
    caller, which reaches every app)."""
    bound = caller.app_id if caller is not None else None
    if bound is None:
        return requested
    if requested not in (None, bound):
        raise Forbidden(f"this API key works only for app_id {bound!r}; drop `app_id` or use another key.")
    return bound


def app_scope(request: Request, requested: str | None) -> str | None:
    return app_for(principal(request), requested)


def with_links(signer: Signer, base: str, data: dict[str, Any]) -> dict[str, Any]:
    """Fill `skill_url` of every skill in `data` with a signed link (under `base`) to the version shown."""
    skills = data.get("skill_detail_list", [data] if "skill_value" in data else [])
    for skill in skills:
        skill["skill_url"] = signer.url(base, skill["id"], skill["version"])
    return data


def scoped(body: Any, request: Request) -> dict[str, Any]:
    """The body's fields as engine arguments, with the app the caller's key may touch."""
    args: dict[str, Any] = body.arguments()
    args["app_id"] = app_scope(request, body.app_id)
    return args


def build_router(memory: Memory, signer: Signer, public_url: str | None) -> APIRouter:
    router = APIRouter(responses=ERRORS)

    def linked(request: Request, data: dict[str, Any]) -> dict[str, Any]:
        return with_links(signer, public_url or str(request.base_url), data)

    @router.post("/add/message", summary="Store a conversation turn and extract memories from it")
    def add_message(body: schemas.AddMessage, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(memory.add_message(**args))

    @router.post("/search/memory", summary="Memories, preferences, tool lessons and skills for a query")
    def search_memory(body: schemas.SearchMemory, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(linked(request, memory.search_memory(**args)))

    @router.post("/get/status", summary="State of a background task")
    def get_status(body: schemas.GetStatus, request: Request) -> JSONResponse:
        return ok(memory.get_status(task_id=body.task_id, app_id=app_scope(request, None)))

    @router.post("/get/message", summary="The latest raw messages of a conversation")
    def get_message(body: schemas.GetMessage, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(memory.get_message(**args))

    @router.post("/get/memory", summary="A page of everything stored for a user")
    def get_memory(body: schemas.GetMemory, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(linked(request, memory.get_memory(**args)))

    @router.get("/get/memory/{memory_id}", summary="One memory, preference, tool memory or skill")
    def get_memory_by_id(
        memory_id: str, request: Request, user_id: str | None = Query(default=None, max_length=100)
    ) -> JSONResponse:
        item = memory.get_memory_by_id(memory_id, user_id=user_id, app_id=app_scope(request, None))
        return ok(linked(request, item))

    @router.post("/update/memory", summary="Change a memory's text or status")
    def update_memory(body: schemas.UpdateMemory, request: Request) -> JSONResponse:
        return ok(memory.update_memory(**body.arguments(), app_id=app_scope(request, None)))

    @router.post("/delete/memory", summary="Delete memories by ids, by filter, or a whole user")
    def delete_memory(body: schemas.DeleteMemory, request: Request) -> JSONResponse:
        return ok(memory.delete_memory(**body.arguments(), app_id=app_scope(request, None)))

    @router.post("/add/feedback", summary="Apply a user's correction to preferences and skills")
    def add_feedback(body: schemas.AddFeedback, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(memory.add_feedback(**args))

    @router.post("/get/skill", summary="A user's skills, optionally with every version")
    def get_skill(body: schemas.GetSkill, request: Request) -> JSONResponse:
        args = scoped(body, request)
        return ok(linked(request, memory.get_skill(**args)))

    @router.post("/delete/skill", summary="Delete a skill and its versions")
    def delete_skill(body: schemas.DeleteSkill, request: Request) -> JSONResponse:
        return ok(memory.delete_skill(**body.arguments(), app_id=app_scope(request, None)))

    return router


def build_downloads(memory: Memory, signer: Signer) -> APIRouter:
    """Signed skill downloads: no header needed, the link itself is the credential."""
    refused = {"model": schemas.Reply, "description": "the link is altered or expired (40100)"}
    router = APIRouter(responses={400: ERRORS[400], 403: refused, 404: ERRORS[404]})

    @router.get(
        "/skills/{skill_id}/download",
        summary="Download a skill (zip, or SKILL.md with format=md)",
        response_class=Response,
        responses={
            200: {
                "description": "The skill folder as a zip, or its SKILL.md",
                "content": {"application/zip": {}, "text/markdown": {}},
            }
        },
    )
    def download(
        skill_id: str,
        v: int = Query(ge=1),
        exp: int = Query(),
        sig: str = Query(max_length=64),
        format: str = Query(default="zip", pattern="^(zip|md)$"),
    ) -> Response:
        if not signer.valid(skill_id, v, exp, sig):
            raise Forbidden(
                "this download link is altered or expired: get a fresh `skill_url` from search/memory."
            )
        document = memory.skill_document(skill_id, v)
        if format == "md":
            return Response(
                render(document),
                media_type="text/markdown; charset=utf-8",
                headers={"Content-Disposition": f'inline; filename="{document.name}-SKILL.md"'},
            )
        return Response(
            package_zip(document),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{document.name}.zip"'},
        )

    return router

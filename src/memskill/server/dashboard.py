"""The operator console at `/` and `/ui/…`: users, memories, skills with versions, jobs, a search playground.

Server-rendered HTML (Jinja2 with autoescaping: every piece of conversation content is escaped) and one
stylesheet, all inside the package: no CDN, no script, no build step. Pages are sent with a strict
Content-Security-Policy (no inline or foreign scripts), so even a missed escape could not run code.

Sign-in takes an API key without an app; the session is a signed HttpOnly SameSite=Strict cookie
(`sessions.py`); state-changing forms carry a CSRF token bound to the session.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from memskill.engine import Memory
from memskill.errors import InvalidRequest, MemskillError, NotFound
from memskill.lifecycle import missing
from memskill.models import MemoryItem, Scope, Skill
from memskill.server import i18n
from memskill.server.keys import KeyRing
from memskill.server.links import Signer
from memskill.server.sessions import COOKIE, Session, Sessions
from memskill.skillfile import parse
from memskill.topics import public_topic
from memskill.version import __version__

LANG_COOKIE = "msk_lang"
PAGE_SIZE = 200
KINDS = ("fact", "preference", "tool")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _ticks(text: str) -> Markup:
    """Text with its `backticked` parts as <code> (the rest escaped): the console's words name commands."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("memskill.server", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["pretty"] = lambda value: json.dumps(value, ensure_ascii=False, indent=2)
    env.filters["ticks"] = _ticks
    env.globals["quote"] = lambda value: quote(str(value), safe="")
    return env


def _when(ms: int | None) -> str:
    if not ms:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


class Console:
    """Renders pages for one engine; the router below maps URLs onto its methods."""

    def __init__(self, memory: Memory, keys: KeyRing, signer: Signer, public_url: str | None) -> None:
        self.memory = memory
        self.store = memory.store
        self.keys = keys
        self.signer = signer
        self.public_url = public_url
        self.sessions = Sessions(signer.secret)
        self.env = _environment()

    # -- plumbing ---------------------------------------------------------------------------------

    def language(self, request: Request) -> str:
        return i18n.choose(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )

    def session(self, request: Request) -> Session | None:
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        principal = self.keys.active(session.key_id)
        return session if principal is not None and principal.app_id is None else None

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        session: Session | None = None,
        **values: Any,
    ) -> HTMLResponse:
        language = self.language(request)
        here = request.url.path + (("?" + request.url.query) if request.url.query else "")
        other = "zh" if language == "en" else "en"
        params = dict(request.query_params)
        params["lang"] = other
        html = self.env.get_template(template).render(
            t=i18n.words(language),
            lang=language,
            switch_url=request.url.path + "?" + urlencode(params),
            here=here,
            csrf=self.sessions.csrf(session) if session else "",
            signed_in=session is not None,
            version=__version__,
            **values,
        )
        response = HTMLResponse(html, status, headers=SECURITY_HEADERS)
        if request.query_params.get("lang") in i18n.LANGUAGES:
            response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="strict", path="/")
        return response

    def link(self, request: Request, skill: Skill, version: int | None = None, markdown: bool = False) -> str:
        base = self.public_url or str(request.base_url)
        url = self.signer.url(base, skill.id, version or skill.current.version)
        return url + ("&format=md" if markdown else "")

    # -- pages ------------------------------------------------------------------------------------

    def users(self, request: Request, session: Session) -> HTMLResponse:
        return self.page(request, "users.html", session=session, users=self.store.user_overview())

    def user(self, request: Request, session: Session, user_id: str, kind: str, query: str) -> HTMLResponse:
        scope = Scope(user_id)
        kinds = [kind] if kind in KINDS else list(KINDS)
        rows: list[dict[str, Any]]
        if query.strip():
            found = self.memory.search_memory(
                query=query[:4000],
                user_id=user_id,
                include_preference="preference" in kinds,
                include_tool_memory="tool" in kinds,
                include_skill=False,
                memory_limit_number=25 if "fact" in kinds else 0,
                preference_limit_number=25,
                tool_memory_limit_number=25,
                relativity=0.0,
            )
            rows = _search_rows(found)
        else:
            items = self.store.list_items(scope, kinds, ("activated", "archived"))
            rows = [_item_row(item) for item in items[:PAGE_SIZE]]
        skills = self.store.list_skills(scope, ("activated", "archived"))  # candidates and retired too
        conversations = self.store.conversation_ids(user_id)
        if not conversations and not rows and not skills:
            raise NotFound(f"no user {user_id!r}: pick one on the users page.")
        return self.page(
            request,
            "user.html",
            session=session,
            user_id=user_id,
            rows=rows,
            kind=kind if kind in KINDS else "all",
            query=query,
            skills=skills,
            conversations=conversations,
            truncated=not query.strip() and len(rows) >= PAGE_SIZE,
        )

    def skill(self, request: Request, session: Session, skill_id: str) -> HTMLResponse:
        skill = self._skill(skill_id)
        versions = self.store.skill_versions(skill.id)
        tasks = len({r.conversation_id for r in self.store.task_records(skill.cluster_id)})
        return self.page(
            request,
            "skill.html",
            session=session,
            skill=skill,
            lacks=missing(skill, tasks, self.memory.settings.skill_min_tasks),
            events=list(reversed(self.store.skill_events(skill.id))),
            document=parse(skill.current.markdown),
            versions=list(reversed(versions)),
            zip_url=self.link(request, skill),
            md_url=self.link(request, skill, markdown=True),
        )

    def diff(self, request: Request, session: Session, skill_id: str, old: int, new: int) -> HTMLResponse:
        skill = self._skill(skill_id)
        versions = {v.version: v for v in self.store.skill_versions(skill.id)}
        if old not in versions or new not in versions:
            raise NotFound(f"skill {skill_id!r} has versions {sorted(versions)}; pick two of them.")
        before, after = versions[old], versions[new]
        lines = difflib.unified_diff(
            before.markdown.splitlines(),
            after.markdown.splitlines(),
            f"v{old}",
            f"v{new}",
            lineterm="",
        )
        rows = [(_line_class(line), line) for line in lines]
        return self.page(
            request,
            "diff.html",
            session=session,
            skill=skill,
            old=before,
            new=after,
            rows=rows,
            numbers=sorted(versions),
        )

    def conversation(
        self, request: Request, session: Session, user_id: str, conversation_id: str
    ) -> HTMLResponse:
        messages = self.store.conversation_messages(user_id, conversation_id)
        if not messages:
            raise NotFound(f"user {user_id!r} has no conversation {conversation_id!r}.")
        return self.page(
            request,
            "conversation.html",
            session=session,
            user_id=user_id,
            conversation_id=conversation_id,
            messages=messages,
        )

    def jobs(self, request: Request, session: Session, user_id: str, status: str) -> HTMLResponse:
        jobs = self.store.list_jobs(user_id or None, status or None, limit=PAGE_SIZE)
        return self.page(
            request,
            "jobs.html",
            session=session,
            jobs=jobs,
            user_id=user_id,
            status_filter=status,
            truncated=len(jobs) >= PAGE_SIZE,
        )

    def playground(
        self,
        request: Request,
        session: Session,
        user_id: str,
        query: str,
        flags: dict[str, bool],
    ) -> HTMLResponse:
        reply: dict[str, Any] | None = None
        error = ""
        if user_id and query:
            try:
                reply = self.memory.search_memory(
                    query=query,
                    user_id=user_id,
                    include_skill=flags["include_skill"],
                    include_tool_memory=flags["include_tool_memory"],
                    include_preference=flags["include_preference"],
                )
            except MemskillError as problem:
                error = str(problem)
            else:
                for item in reply.get("skill_detail_list", []):
                    skill = self.store.get_skill(item["id"])
                    if skill is not None:
                        item["skill_url"] = self.link(request, skill, item["version"])
        return self.page(
            request,
            "playground.html",
            session=session,
            users=self.store.user_ids(),
            user_id=user_id,
            query=query,
            flags=flags,
            reply=reply,
            error=error,
        )

    def _skill(self, skill_id: str) -> Skill:
        skill = self.store.get_skill(skill_id)
        if skill is None:
            raise NotFound(f"no skill {skill_id!r}: it may have been deleted.")
        return skill


def _item_row(item: MemoryItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "key": public_topic(item.key) if item.kind == "preference" else item.key,
        "text": item.text,
        "status": item.status,
        "conversation_id": item.conversation_id,
        "update_time": item.update_time,
        "relativity": None,
    }


def _search_rows(found: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for item in found.get("memory_detail_list", []):
        rows.append(_wire_row("fact", item, item.get("memory_key", ""), item.get("memory_value", "")))
    for item in found.get("preference_detail_list", []):
        rows.append(
            _wire_row("preference", item, item.get("preference_type", ""), item.get("preference", ""))
        )
    for item in found.get("tool_memory_detail_list", []):
        rows.append(_wire_row("tool", item, item.get("tool_type", ""), item.get("tool_value", "")))
    return sorted(rows, key=lambda row: -(row["relativity"] or 0))


def _wire_row(kind: str, item: dict[str, Any], key: str, text: str) -> dict[str, Any]:
    return {
        "id": item.get("id", ""),
        "kind": kind,
        "key": key,
        "text": text,
        "status": item.get("status", "activated"),
        "conversation_id": item.get("conversation_id", ""),
        "update_time": item.get("update_time", 0),
        "relativity": item.get("relativity"),
    }


def _line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "same"


def build_console(memory: Memory, keys: KeyRing, signer: Signer, public_url: str | None) -> APIRouter:
    console = Console(memory, keys, signer, public_url)
    router = APIRouter(include_in_schema=False)

    def guarded(render: Callable[[Session], Response]) -> Callable[[Request], Response]:
        """Run `render` for a signed-in operator; otherwise send the browser to the sign-in page."""

        def handler(request: Request) -> Response:
            session = console.session(request)
            if session is None:
                target = "/ui/login?" + urlencode({"next": console_path(request)})
                return RedirectResponse(target, 303)
            try:
                return render(session)
            except MemskillError as error:
                return console.page(
                    request, "error.html", error.http_status, session=session, message=str(error)
                )

        return handler

    def console_path(request: Request) -> str:
        return request.url.path + (("?" + request.url.query) if request.url.query else "")

    @router.get("/")
    def root(request: Request) -> Response:
        return RedirectResponse("/ui/users" if console.session(request) else "/ui/login", 303)

    @router.get("/ui/login")
    def login_form(request: Request, next: str = "/ui/users") -> Response:
        return console.page(request, "login.html", next=_safe_next(next), message="")

    @router.post("/ui/login")
    def login(request: Request, key: str = Form(""), next: str = Form("/ui/users")) -> Response:
        principal = console.keys.verify(key.strip())
        words = i18n.words(console.language(request))
        if principal is None:
            return console.page(request, "login.html", 401, next=_safe_next(next), message=words["bad_key"])
        if principal.app_id is not None:
            message = words["app_key"].format(app=principal.app_id)
            return console.page(request, "login.html", 403, next=_safe_next(next), message=message)
        response = RedirectResponse(_safe_next(next), 303)
        response.set_cookie(
            COOKIE,
            console.sessions.issue(principal.key_id),
            max_age=console.sessions.ttl_s,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @router.post("/ui/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        session = console.session(request)
        response = RedirectResponse("/ui/login", 303)
        if session is not None and console.sessions.csrf_ok(session, csrf):
            response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/ui/users")
    def users(request: Request) -> Response:
        return guarded(lambda s: console.users(request, s))(request)

    # User and conversation ids may hold any character (even "/"), so they travel as query parameters.
    @router.get("/ui/user")
    def user(request: Request, id: str = "", kind: str = "all", q: str = "") -> Response:
        return guarded(lambda s: console.user(request, s, id, kind, q))(request)

    @router.get("/ui/conversation")
    def conversation(request: Request, user: str = "", id: str = "") -> Response:
        return guarded(lambda s: console.conversation(request, s, user, id))(request)

    @router.get("/ui/skills/{skill_id}")
    def skill(request: Request, skill_id: str) -> Response:
        return guarded(lambda s: console.skill(request, s, skill_id))(request)

    @router.get("/ui/skills/{skill_id}/diff")
    def diff(
        request: Request, skill_id: str, old: int = Query(1, alias="from"), new: int = Query(1, alias="to")
    ) -> Response:
        return guarded(lambda s: console.diff(request, s, skill_id, old, new))(request)

    @router.post("/ui/skills/{skill_id}/delete")
    def delete(request: Request, skill_id: str, csrf: str = Form("")) -> Response:
        def render(session: Session) -> Response:
            if not console.sessions.csrf_ok(session, csrf):
                return console.page(request, "error.html", 403, session=session, message="CSRF token missing")
            skill = console._skill(skill_id)
            console.store.delete_skill(skill.id)
            return RedirectResponse(f"/ui/user?id={quote(skill.user_id, safe='')}", 303)

        return guarded(render)(request)

    @router.post("/ui/skills/{skill_id}/review")
    def review(request: Request, skill_id: str, action: str = Form(""), csrf: str = Form("")) -> Response:
        def render(session: Session) -> Response:
            if not console.sessions.csrf_ok(session, csrf):
                return console.page(request, "error.html", 403, session=session, message="CSRF token missing")
            if action not in ("approve", "reject", "retire"):
                raise InvalidRequest(f"unknown review action {action!r}: use approve, reject or retire")
            console.memory.review.act(action, skill_id, f"console:{session.key_id}")
            return RedirectResponse(f"/ui/skills/{quote(skill_id, safe='')}", 303)

        return guarded(render)(request)

    @router.get("/ui/jobs")
    def jobs(request: Request, user: str = "", status: str = "") -> Response:
        return guarded(lambda s: console.jobs(request, s, user, status))(request)

    @router.get("/ui/playground")
    def playground(
        request: Request,
        user: str = "",
        q: str = "",
        run: str = "",
        skills: str = "",
        tools: str = "",
        preferences: str = "",
    ) -> Response:
        # Unticked boxes are not sent: before the first run every list is included.
        flags = {
            "include_skill": not run or skills == "1",
            "include_tool_memory": not run or tools == "1",
            "include_preference": not run or preferences == "1",
        }
        return guarded(lambda s: console.playground(request, s, user, q, flags))(request)

    return router


def _safe_next(target: str) -> str:
    """Only paths inside the console: never another site (an open redirect)."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/users"

"""The FastAPI application: the routes of DESIGN §2 under `/api/openmem/v1` and `/v1`, behind a gate.

    app = create_app(Memory(data_dir), Settings.from_env())

Every error leaves as the envelope `{"code": <5-digit>, "message": "<what to fix>", "data": null}`:
request validation becomes 400 (40000 / 40002 / 40010), never a 500. The same gate guards the MCP
endpoint at `/mcp` (`server.mcp.endpoint`), whose refusals are JSON-RPC errors with those codes and
messages.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import Route

from memskill.config import Settings
from memskill.engine import Memory
from memskill.errors import MemskillError, Unauthorized, unexpected
from memskill.server.dashboard import build_console
from memskill.server.keys import KeyRing
from memskill.server.limits import MCP_PATH, ASGIApp, BodyLimit, RateLimiter, Receive, Scope, Send, refusal
from memskill.server.links import Signer, load_secret
from memskill.server.mcp.endpoint import HttpEndpoint
from memskill.server.review import build_review
from memskill.server.routes import build_downloads, build_router
from memskill.server.schemas import describe_validation
from memskill.version import __version__

log = logging.getLogger("memskill.server")
PREFIXES = ("/api/openmem/v1", "/v1")
SWAGGER_UI = "/ui/static/swagger-ui"
"""Where the vendored Swagger UI (swagger-ui-dist 5, Apache-2.0, see its VERSION file) is served."""
OPEN_PATHS = ("/", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/healthz", "/favicon.ico")


def error_reply(error: MemskillError) -> JSONResponse:
    return JSONResponse({"code": error.code, "message": str(error), "data": None}, error.http_status)


class Gate:
    """ASGI middleware: every API path (and `/mcp`) needs `Authorization: Token <key>` (or `Bearer`) and
    is rate limited per key; the index, the docs and signed skill downloads are open."""

    def __init__(self, app: ASGIApp, keys: KeyRing, limiter: RateLimiter) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, key = header.strip().partition(" ")
        found = self.keys.verify(key.strip()) if scheme.lower() in ("token", "bearer") else None
        try:
            if found is None:
                raise Unauthorized(
                    "missing or unknown API key: send `Authorization: Token <key>` "
                    "(create one with `memskill keys create`)."
                    if not header
                    else "unknown API key or header form: send `Authorization: Token <key>`."
                )
            self.limiter.check(found.key_id)
        except MemskillError as error:
            payload = refusal(scope["path"], error)
            await send(
                {
                    "type": "http.response.start",
                    "status": error.http_status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        scope.setdefault("state", {})["principal"] = found
        if scope["method"] == "POST":
            # Bodies are JSON whatever the client declared (curl -d sends a form content type).
            headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
            scope["headers"] = [*headers, (b"content-type", b"application/json")]
        await self.app(scope, receive, send)


def _is_open(path: str) -> bool:
    """Paths the gate lets through: docs, health, signed downloads, and the console (it signs in itself)."""
    if path in OPEN_PATHS or path == "/ui" or path.startswith("/ui/"):
        return True
    return any(path.startswith(prefix + "/skills/") and path.endswith("/download") for prefix in PREFIXES)


def describe_api(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema as the API behaves: invalid input is a 400 envelope (FastAPI would document 422),
    and every route but the signed downloads needs the key."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        components["securitySchemes"] = {
            "key": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: `Authorization: Token <key>` or `Authorization: Bearer <key>`.",
            }
        }
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                operation["responses"].pop("422", None)
                if not _is_open(path):
                    operation["security"] = [{"key": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(memory: Memory, settings: Settings | None = None, keys: KeyRing | None = None) -> FastAPI:
    settings = settings or memory.settings
    keys = keys or KeyRing(memory.store, settings.api_key)
    signer = Signer(load_secret(settings.data_dir, settings.signing_key), settings.link_ttl_s)
    mcp = HttpEndpoint(memory, settings.mcp_user, signer, settings.public_url, settings.limits.max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.running():  # the MCP endpoint runs while the application does
            yield

    app = FastAPI(
        title="memskill",
        version=__version__,
        description="MemOS Cloud v1 compatible memory API. Authenticate with `Authorization: Token <key>`.",
        redoc_url=None,
        docs_url=None,  # served below from the package's own copy of Swagger UI: no CDN, works offline
        lifespan=lifespan,
    )
    api = build_router(memory, signer, settings.public_url)
    downloads = build_downloads(memory, signer)
    review = build_review(memory)
    for prefix in PREFIXES:
        app.include_router(api, prefix=prefix, include_in_schema=prefix == PREFIXES[0])
        app.include_router(downloads, prefix=prefix, include_in_schema=prefix == PREFIXES[0])
        app.include_router(review, prefix=prefix, include_in_schema=prefix == PREFIXES[0])
    app.include_router(build_console(memory, keys, signer, settings.public_url))
    app.mount("/ui/static", StaticFiles(packages=[("memskill.server", "static")]), name="static")
    app.router.routes.append(Route(MCP_PATH, mcp, include_in_schema=False))  # an ASGI app: any method

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=SWAGGER_UI + "/swagger-ui-bundle.js",
            swagger_css_url=SWAGGER_UI + "/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # browsers ask for it on every page; there is none

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.exception_handler(MemskillError)
    def on_error(request: Request, error: MemskillError) -> JSONResponse:
        return error_reply(error)

    @app.exception_handler(RequestValidationError)
    def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_reply(describe_validation(error.errors()))

    @app.exception_handler(HTTPException)
    def on_http(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"no endpoint {request.url.path}: the API lives under /api/openmem/v1 (see /docs)."
            return JSONResponse({"code": 40400, "message": message, "data": None}, 404)
        code = 40000 if 400 <= error.status_code < 500 else 50000
        return JSONResponse(
            {"code": code, "message": str(error.detail), "data": None},
            error.status_code,
            headers=error.headers,  # e.g. the `Allow` list of a 405
        )

    @app.exception_handler(Exception)
    def on_crash(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error on %s", request.url.path, exc_info=error)
        return error_reply(unexpected(error))

    app.openapi = lambda: describe_api(app)  # type: ignore[method-assign]
    # The last added runs first: the gate refuses strangers before any body is read.
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(Gate, keys=keys, limiter=RateLimiter(settings.limits.rate_per_minute))
    app.state.memory = memory
    app.state.signer = signer
    return app

"""The control-plane HTTP API (FastAPI): routes under /api/cli/v1, OpenAPI at /api/openapi.json.

Handlers are thin: they authenticate, validate the body, call a service and shape JSON.
FluxError → `{"error", "hint"}` with its status, in one place. A database that is down (the
platform supervisor is restarting it) or a pool with no free connection answers 503 with
`Retry-After`, like every other 503 and 429, never a 500. Every route under /api/cli/v1 is a
`CheckedRoute` (input PostgreSQL cannot store is refused with 422 before anything runs) and
takes a slot of the per-user call limiter when it mutates (429 beyond the bound).
"""

from __future__ import annotations

from typing import Literal

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from flux.availability import is_disconnect
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.backups import register_backup_routes, require_verified_backup
from flux.control.context import ControlContext
from flux.control.db_access import install as install_db_access
from flux.control.db_access import register_db_routes, revoke_all
from flux.control.doctor import register_doctor_routes
from flux.control.domains import register_domain_routes
from flux.control.inputs import CheckedRoute
from flux.control.lifecycle import register_lifecycle_routes
from flux.control.limits import bounded_call
from flux.control.migrations import register_migration_routes
from flux.control.plans import register_plan_routes
from flux.control.tokens import register_token_routes
from flux.errors import FluxError

Mode = Literal["v2_shared", "v1_dedicated"]


class CreateBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    mode: Mode | None = None
    plan: str | None = None


class InitBody(BaseModel):
    slug: str = Field(min_length=1, max_length=200)
    hash: str | None = None
    mode: Mode | None = None


RETRY_AFTER_SECONDS = 2  # the platform database restarts in a few seconds


def _error_body(message: str, hint: str | None = None) -> dict:
    return {"error": message, **({"hint": hint} if hint else {})}


def _error_response(status: int, message: str, hint: str | None = None) -> JSONResponse:
    """The API's error JSON; 429 and 503 tell the client when to retry."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in (429, 503) else None
    return JSONResponse(_error_body(message, hint), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FluxError)
    async def flux_error(_: Request, exc: FluxError) -> JSONResponse:
        return _error_response(exc.status, exc.message, exc.hint)

    @app.exception_handler(psycopg.OperationalError)
    async def database_error(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        if is_disconnect(exc):
            return _error_response(503, "a database is unavailable", "retry in a few seconds")
        return _error_response(503, "a database could not answer in time", "retry later")

    @app.exception_handler(PoolTimeout)
    async def pool_timeout(_: Request, exc: PoolTimeout) -> JSONResponse:
        return _error_response(503, "no database connection is free", "retry in a few seconds")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse(_error_body("invalid request: " + "; ".join(parts)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_error_body(str(exc.detail)), status_code=exc.status_code)


def _project_routes(router: APIRouter) -> None:
    @router.get("/auth/verify")
    def verify(request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return {
            "ok": True,
            "user": {"id": user.id, "email": user.email},
            "plan": "free",
            "defaultMode": ctx.default_mode,
        }

    @router.get("/list")
    def list_projects(request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return {"projects": [svc.summarize(ctx, p) for p in svc.list_projects(ctx, user)]}

    @router.post("/create", status_code=201)
    def create(body: CreateBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project, secrets_ = svc.create_project(
            ctx, user, body.name, mode=body.mode, plan_name=body.plan
        )
        return {"project": svc.summarize(ctx, project), "secrets": _one_time(secrets_)}

    @router.post("/init")
    def init(body: InitBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        action, project, secrets_ = svc.init_project(ctx, user, body.slug, body.hash, body.mode)
        summary = svc.summarize(ctx, project)
        answer = {
            "action": action,
            **{k: summary[k] for k in ("slug", "hash", "mode", "apiUrl", "apiSchema")},
        }
        if secrets_:
            answer["secrets"] = _one_time(secrets_)
        return answer

    @router.get("/projects/{hash_}")
    def describe(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return {"project": svc.summarize(ctx, svc.get_owned(ctx, user, hash_))}

    @router.delete("/projects/{hash_}")
    def destroy(
        hash_: str,
        request: Request,
        skipBackupCheck: bool = False,  # noqa: N803 (the API's query parameter)
        user: User = Depends(authenticate),
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        require_verified_backup(ctx, user, project, skip=skipBackupCheck, action="delete")
        revoke_all(ctx, project)
        svc.delete_project(ctx, user, project)
        return {"deleted": True, "slug": project.slug, "hash": project.hash}

    @router.get("/projects/{hash_}/credentials")
    def credentials(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return svc.credentials(ctx, svc.get_owned(ctx, user, hash_))

    @router.post("/projects/{hash_}/secrets/rotate")
    def rotate(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        secret = svc.rotate_secret(ctx, user, project)
        return {"jwtSecret": secret}


def _one_time(engine_credentials: dict) -> dict:
    return {k: v for k, v in engine_credentials.items() if k not in ("mode", "apiSchema")}


def build_control_app(ctx: ControlContext) -> FastAPI:
    app = FastAPI(
        title="Flux control plane",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    _install_error_handlers(app)
    router = APIRouter(
        prefix="/api/cli/v1", route_class=CheckedRoute, dependencies=[Depends(bounded_call)]
    )
    _project_routes(router)
    register_lifecycle_routes(router)
    register_migration_routes(router)
    register_domain_routes(router)
    register_doctor_routes(router)
    register_token_routes(router)
    register_plan_routes(router)
    # binary bodies (archive uploads): not JSON, so not a CheckedRoute
    raw_router = APIRouter(prefix="/api/cli/v1", dependencies=[Depends(bounded_call)])
    register_backup_routes(router, raw_router)
    register_db_routes(router)
    install_db_access(ctx)
    app.include_router(router)
    app.include_router(raw_router)
    return app

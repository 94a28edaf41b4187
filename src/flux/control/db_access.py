"""Direct database access (`flux db`, issue 13): the service and its routes.

v1 projects hand out their owner's credentials (a non-superuser login of the project's own
cluster). v2 projects get a temporary login per request (`flux.engines.access_roles`):
read-only by default (TTL 1 h), read-write only when the operator runs the platform with
`FLUX_DB_ACCESS_ALLOW_READWRITE=1` (TTL 30 min), at most 8 h. The catalog lists them
(never their passwords); `sweep` — run by `flux up` every few seconds — drops expired ones and
ends their sessions, whatever the catalog says (roles past `VALID UNTIL` on the cluster too).
Every grant and revoke is audited. `GET projects/{hash}/db/dump` streams a fresh `pg_dump` of
the project's schema (v2) or database (v1), taken by the platform: tenant roles cannot run
pg_dump themselves (the shared catalog hides definitions).
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from flux.backups import artefacts
from flux.backups.dump import dump
from flux.catalog import audit
from flux.catalog import db_access as catalog_access
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput, Forbidden, NotFound

log = logging.getLogger(__name__)

READ_ONLY_TTL = timedelta(hours=1)
READ_WRITE_TTL = timedelta(minutes=30)
MAX_TTL = timedelta(hours=8)
_TTL = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class AccessBody(BaseModel):
    readWrite: bool = False  # noqa: N815 (the API's field)
    ttl: str | None = Field(default=None, max_length=20)


def parse_ttl(text: str | None, read_write: bool) -> timedelta:
    if not text:
        return READ_WRITE_TTL if read_write else READ_ONLY_TTL
    found = _TTL.match(text.strip().lower())
    if not found:
        raise BadInput(f"invalid ttl {text!r}", hint="use e.g. 90s, 30m, 1h, 8h")
    ttl = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if ttl <= timedelta(0) or ttl > MAX_TTL:
        raise BadInput(f"ttl {text!r} is out of range", hint="between 1s and 8h")
    return ttl


def _shared(ctx: ControlContext, project: Project):
    engine = ctx.engine_for(project.mode)
    return engine if hasattr(engine, "open_access") else None


def _url(fields: dict) -> str:
    from urllib.parse import quote

    return (
        f"postgresql://{quote(str(fields['user']), safe='')}:"
        f"{quote(str(fields['password']), safe='')}@{fields['host']}:{fields['port']}/"
        f"{quote(str(fields['database']), safe='')}?sslmode=disable"
    )


def grant(
    ctx: ControlContext, user: User, project: Project, *, read_write: bool, ttl: str | None
) -> dict:
    """Connection fields for the project's database (the password shown once, on purpose)."""
    engine = _shared(ctx, project)
    if engine is None:
        postgres = ctx.engine_for(project.mode).credentials(project)["postgres"]
        fields = {k: postgres[k] for k in ("user", "password", "host", "port", "database")}
        answer = {**fields, "access": "owner", "expiresAt": None}
        action_details = {"access": "owner"}
    else:
        if read_write and not ctx.db_access_readwrite:
            raise Forbidden(
                "read-write database access is off on this platform",
                hint="the operator allows it with FLUX_DB_ACCESS_ALLOW_READWRITE=1; "
                "schema changes always go through `flux push`",
            )
        expires = datetime.now(UTC) + parse_ttl(ttl, read_write)
        access = "read-write" if read_write else "read-only"
        fields = engine.open_access(project, read_write=read_write, valid_until=expires)
        try:
            with ctx.catalog.transaction() as conn:
                catalog_access.insert(
                    conn,
                    role_name=str(fields["user"]),
                    tenant_id=project.tenant_id,
                    cluster_id=project.cluster_id,
                    access=access,
                    user_id=user.id,
                    expires_at=expires,
                )
        except BaseException:
            engine.close_access(str(fields["user"]))
            raise
        answer = {**fields, "access": access, "expiresAt": expires.isoformat()}
        action_details = {
            "access": access,
            "role": fields["user"],
            "expiresAt": answer["expiresAt"],
        }
    with ctx.catalog.transaction() as conn:
        audit.record(
            conn,
            user_id=user.id,
            action="db.access.grant",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
            details=action_details,
        )
    return {"mode": project.mode, **answer, "sslmode": "disable", "url": _url(answer)}


def list_access(ctx: ControlContext, project: Project) -> list[dict]:
    if _shared(ctx, project) is None:
        return []
    with ctx.catalog.connection() as conn:
        roles = catalog_access.for_tenant(conn, project.tenant_id)
    now = datetime.now(UTC)
    return [
        {
            "role": r.role_name,
            "access": r.access,
            "createdAt": r.created_at.isoformat(),
            "expiresAt": r.expires_at.isoformat(),
            "status": "revoked"
            if r.revoked_at and r.revoked_at < r.expires_at
            else ("expired" if r.revoked_at or r.expires_at <= now else "active"),
        }
        for r in roles
    ]


def revoke(ctx: ControlContext, user: User | None, project: Project, role: str) -> None:
    engine = _shared(ctx, project)
    with ctx.catalog.connection() as conn:
        mine = {r.role_name for r in catalog_access.live_for_tenant(conn, project.tenant_id)}
    if engine is None or role not in mine:
        raise NotFound(
            f"no active database login {role!r} on {project.slug}",
            hint="see `flux db access list`",
        )
    engine.close_access(role)
    with ctx.catalog.transaction() as conn:
        catalog_access.mark_revoked(conn, role)
        audit.record(
            conn,
            user_id=user.id if user else None,
            action="db.access.revoke",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
            details={"role": role},
        )


def revoke_all(ctx: ControlContext, project: Project) -> None:
    """Drop every live login of a project (it is being deleted)."""
    engine = _shared(ctx, project)
    if engine is None:
        return
    with ctx.catalog.connection() as conn:
        live = catalog_access.live_for_tenant(conn, project.tenant_id)
    for role in live:
        revoke(ctx, None, project, role.role_name)


def refresh(ctx: ControlContext, project: Project) -> None:
    """Live logins get their privileges on objects a push or a restore created."""
    engine = _shared(ctx, project)
    if engine is None:
        return
    with ctx.catalog.connection() as conn:
        live = catalog_access.live_for_tenant(conn, project.tenant_id)
    for role in live:
        try:
            engine.refresh_access(project, role.role_name, read_write=role.read_write)
        except psycopg.Error as exc:  # never fail the push or restore that called us
            log.warning("could not refresh database login %s: %s", role.role_name, exc)


def sweep(ctx: ControlContext) -> list[str]:
    """Drop expired logins (catalog rows past expiry, and cluster roles past VALID UNTIL)."""
    engine = ctx.engines.get("v2_shared")
    if engine is None or not hasattr(engine, "expired_access"):
        return []
    with ctx.catalog.connection() as conn:
        due = {r.role_name: r for r in catalog_access.due(conn)}
    doomed = sorted(set(due) | set(engine.expired_access()))
    for role in doomed:
        engine.close_access(role)
        with ctx.catalog.transaction() as conn:
            catalog_access.mark_revoked(conn, role)
            if role in due:
                audit.record(
                    conn,
                    user_id=None,
                    action="db.access.expire",
                    tenant_id=due[role].tenant_id,
                    details={"role": role},
                )
    return doomed


def _dump_file(ctx: ControlContext, user: User, project: Project) -> Path:
    spec = ctx.engine_for(project.mode).backup_spec(project)
    folder = artefacts.private_folder(ctx.backups_root / ".tmp")
    path = Path(tempfile.mkdtemp(dir=folder)) / f"{uuid.uuid4()}.dump"
    artefacts.new_private_file(path)
    try:
        dump(spec, path)
    except BaseException:
        _remove(path)
        raise
    with ctx.catalog.transaction() as conn:
        audit.record(
            conn,
            user_id=user.id,
            action="db.dump",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
        )
    return path


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


def register_db_routes(router: APIRouter) -> None:
    @router.post("/projects/{hash_}/db/access", status_code=201)
    def grant_route(
        hash_: str, body: AccessBody, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        return grant(ctx, user, project, read_write=body.readWrite, ttl=body.ttl)

    @router.get("/projects/{hash_}/db/access")
    def list_route(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        return {"mode": project.mode, "roles": list_access(ctx, project)}

    @router.delete("/projects/{hash_}/db/access/{role}")
    def revoke_route(
        hash_: str, role: str, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        revoke(ctx, user, project, role)
        return {"revoked": role}

    @router.get("/projects/{hash_}/db/dump")
    def dump_route(hash_: str, request: Request, user: User = Depends(authenticate)):
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        path = _dump_file(ctx, user, project)
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=f"{project.slug}-{project.hash}.dump",
            background=BackgroundTask(_remove, path),
        )


def install(ctx: ControlContext) -> None:
    """Keep live logins' privileges in step with the schema (pushes, restores)."""
    ctx.on_schema_changed.append(lambda project: refresh(ctx, project))

"""Custom domains: services and routes under projects/{hash}/domains (SPEC §4, §8).

A hostname is stored lower-case without port or trailing dot, must be a valid DNS name and
must not fall under the platform's base domain (those names belong to Service URLs).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from flux.catalog import audit
from flux.catalog import domains as catalog_domains
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput, Conflict, NotFound

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")


def normalise_hostname(raw: str, base_domain: str) -> str:
    host = raw.strip().lower().rstrip(".")
    if not _HOSTNAME.match(host) or len(host) > 253:
        raise BadInput(f"{raw!r} is not a valid hostname", hint="e.g. api.example.com")
    base = base_domain.lower().rstrip(".")
    if host == base or host.endswith("." + base):
        raise BadInput(
            f"{host} is under the platform's base domain {base}",
            hint="custom domains must be your own names",
        )
    return host


class DomainBody(BaseModel):
    hostname: str = Field(min_length=1, max_length=260)


def register_domain_routes(router: APIRouter) -> None:
    @router.get("/projects/{hash_}/domains")
    def list_domains(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        with ctx.catalog.connection() as conn:
            rows = catalog_domains.list_domains(conn, project.tenant_id)
        return {
            "domains": [
                {"hostname": r["hostname"], "createdAt": r["created_at"].isoformat()} for r in rows
            ]
        }

    @router.post("/projects/{hash_}/domains", status_code=201)
    def add(
        hash_: str, body: DomainBody, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        host = normalise_hostname(body.hostname, ctx.base_domain)
        with ctx.catalog.transaction() as conn:
            if catalog_domains.owner_of(conn, host) is not None:
                raise Conflict(f"{host} is already attached to a project")
            catalog_domains.add_domain(conn, host, project.tenant_id)
            audit.record(
                conn,
                user_id=user.id,
                action="project.domain.add",
                tenant_id=project.tenant_id,
                target=host,
            )
        ctx.domain_changed(host)
        return {"hostname": host, "slug": project.slug, "hash": project.hash}

    @router.delete("/projects/{hash_}/domains/{hostname}")
    def remove(
        hash_: str, hostname: str, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        host = hostname.strip().lower().rstrip(".")
        with ctx.catalog.transaction() as conn:
            if not catalog_domains.remove_domain(conn, host, project.tenant_id):
                raise NotFound(f"{host} is not attached to {project.slug}")
            audit.record(
                conn,
                user_id=user.id,
                action="project.domain.remove",
                tenant_id=project.tenant_id,
                target=host,
            )
        ctx.domain_changed(host)
        return {"deleted": True, "hostname": host}

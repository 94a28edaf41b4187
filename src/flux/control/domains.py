"""Custom domains: services and routes under projects/{hash}/domains (SPEC §4, §8).

A hostname is stored lower-case without trailing dot and must be a public DNS name: not an IP
address in any spelling (`127.1`, `0x7f.1`, `[::1]` ...), not `localhost` or another
special-use name, at least two labels of [a-z0-9-] (1-63 chars, no leading or trailing '-'),
at most 253 chars, under an alphabetic (or IDNA `xn--`) top-level domain, and not the
platform's base domain or a name under it (those names belong to Service URLs).
"""

from __future__ import annotations

import ipaddress
import re
import socket

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from flux.catalog import audit
from flux.catalog import domains as catalog_domains
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput, Conflict, NotFound

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
# special-use and private top-level names (RFC 2606, 6761, 6762, 7686, 9476; ICANN .internal)
_SPECIAL_TLDS = frozenset(
    [
        "localhost",
        "localdomain",
        "local",
        "test",
        "invalid",
        "example",
        "onion",
        "arpa",
        "alt",
        "internal",
    ]
)
_EXAMPLE_HINT = "use a public DNS name you own, e.g. api.example.com"


def _is_ip_address(host: str) -> bool:
    """IPv4/IPv6 in any form a resolver or socket API accepts (inet_aton takes `127.1`,
    `0x7f.1`, `2130706433`, octal parts ...), bracketed or not."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(bare)
        return True
    except OSError:
        return False


def normalise_hostname(raw: str, base_domain: str) -> str:
    """The stored form of a custom domain, or BadInput (422) saying what is wrong with it."""
    host = raw.strip().lower().rstrip(".")
    if _is_ip_address(host) or ":" in host:
        raise BadInput(f"{raw!r} is an IP address, not a domain name", hint=_EXAMPLE_HINT)
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise BadInput(
            f"{raw!r} is not a valid hostname (labels of 1-63 letters, digits or '-', "
            "not starting or ending with '-'; at most 253 characters)",
            hint=_EXAMPLE_HINT,
        )
    tld = labels[-1]
    if tld in _SPECIAL_TLDS:
        raise BadInput(f"{raw!r} is a local or special-use name (.{tld})", hint=_EXAMPLE_HINT)
    if len(labels) < 2:
        raise BadInput(f"{raw!r} is a single-label name, not a public domain", hint=_EXAMPLE_HINT)
    if not _TLD.match(tld):
        raise BadInput(f"{raw!r} does not end in a public top-level domain", hint=_EXAMPLE_HINT)
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

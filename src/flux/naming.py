"""Identifiers and names of SPEC §2: tenant ids, shortids, hashes, slugs, schema/role names,
resource names and Service URL forms. Pure functions; the single source of these rules."""

from __future__ import annotations

import re
import secrets
import uuid

from flux.errors import BadInput

HASH_RE = re.compile(r"^[0-9a-f]{7}$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SHORTID_RE = re.compile(r"^[0-9a-f]{12}$")
SLUG_MAX = 40
PLACEHOLDER_HASH = "REPLACE_AFTER_FLUX_INIT"


def slugify(name: str) -> str:
    """Lower-case; each run of chars outside [a-z0-9] becomes one '-'; trim '-'; ≤ 40 chars."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    slug = slug[:SLUG_MAX].strip("-")
    if not slug:
        raise BadInput(
            f"project name {name!r} has no letters or digits", hint="use a name like 'my-app'"
        )
    return slug


def is_valid_slug(slug: str) -> bool:
    return len(slug) <= SLUG_MAX and bool(SLUG_RE.match(slug))


def is_valid_hash(value: str) -> bool:
    return bool(HASH_RE.match(value))


def new_tenant_id() -> uuid.UUID:
    return uuid.uuid4()


def new_hash() -> str:
    return secrets.token_hex(4)[:7]


def shortid(tenant_id: uuid.UUID | str) -> str:
    return str(tenant_id).replace("-", "").lower()[:12]


def tenant_schema(short: str) -> str:
    return f"t_{short}_api"


def tenant_role(short: str) -> str:
    return f"t_{short}_role"


def tenant_ddl_role(short: str) -> str:
    return f"t_{short}_ddl"


def resource_name(hash_: str, slug: str) -> str:
    return f"flux-{hash_}-{slug}"


def _port_suffix(scheme: str, port: int | None) -> str:
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return ""
    return f":{port}"


def service_url(
    slug: str, hash_: str, base_domain: str, *, scheme: str = "http", port: int | None = None
) -> str:
    """Canonical Service URL: <scheme>://api--<slug>--<hash>.<base_domain>[:port]."""
    return f"{scheme}://api--{slug}--{hash_}.{base_domain}{_port_suffix(scheme, port)}"


def legacy_service_url(
    slug: str, hash_: str, base_domain: str, *, scheme: str = "http", port: int | None = None
) -> str:
    return f"{scheme}://api.{slug}.{hash_}.{base_domain}{_port_suffix(scheme, port)}"


def path_service_url(
    slug: str, hash_: str, gateway_host: str, *, scheme: str = "http", port: int | None = None
) -> str:
    """Path form for machines without wildcard DNS: <scheme>://<host>:<port>/api--<slug>--<hash>."""
    return f"{scheme}://{gateway_host}{_port_suffix(scheme, port)}/api--{slug}--{hash_}"

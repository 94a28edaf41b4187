"""Per-tenant database logins for pool mode: who a tenant's connections log in as.

In pool mode every tenant's requests run on connections that logged in as the tenant's own
runtime role (`t_<shortid>_role`), a role that is a member of nothing. PostgreSQL itself then
refuses any role change a tenant's SQL attempts (`SET ROLE`, `set_config('role', …)`,
`SET SESSION AUTHORIZATION`), from any function, trigger or dynamic statement, at any
nesting depth: the session user can only become roles it is a member of. The password of
each tenant login is derived from the pool secret, so the pool needs no per-tenant state and
the control plane (which sets it, as a SCRAM verifier) and the pool always agree.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from psycopg.conninfo import make_conninfo

TENANT_LOGIN = re.compile(r"^t_([0-9a-f]{12})_role$")
_LABEL = b"flux-tenant-login\x00"


def login_password(pool_secret: str, role: str) -> str:
    """The password of tenant login `role` (HMAC-SHA256 of its name under the pool secret)."""
    return hmac.new(pool_secret.encode(), _LABEL + role.encode(), hashlib.sha256).hexdigest()


def tenant_conninfo(base: str, pool_secret: str, role: str) -> str:
    """`base` (the pool's conninfo) logging in as tenant `role` instead."""
    if TENANT_LOGIN.match(role) is None:
        raise ValueError(f"not a tenant login role: {role!r}")
    return make_conninfo(base, user=role, password=login_password(pool_secret, role))

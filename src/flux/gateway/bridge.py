"""The bridge JWT: minted per request by the gateway for the REST pool (SPEC §8).

All verified inbound claims except `role`, plus `role = t_<s>_role`, `tenant_id`,
`exp = now + 60 s`, `aud = "flux-pool"`; HS256 with the pool secret, never the project secret.
The token only ever travels gateway → pool; it is not logged and never sent to a client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from flux.naming import shortid, tenant_role

BRIDGE_AUDIENCE = "flux-pool"
BRIDGE_TTL_SECONDS = 60


def bridge_claims(claims: Mapping[str, Any], *, tenant_id: str, now: int) -> dict[str, Any]:
    out = {key: value for key, value in claims.items() if key != "role"}
    out.update(
        role=tenant_role(shortid(tenant_id)),
        tenant_id=tenant_id,
        exp=now + BRIDGE_TTL_SECONDS,
        aud=BRIDGE_AUDIENCE,
    )
    return out


def mint_bridge_token(claims: Mapping[str, Any], *, tenant_id: str, pool_secret: str) -> str:
    """Sign the bridge claims for `tenant_id` with the pool secret."""
    payload = bridge_claims(claims, tenant_id=tenant_id, now=int(time.time()))
    return jwt.encode(payload, pool_secret, algorithm="HS256")

"""The bridge JWT: minted per request by the gateway for the REST pool (SPEC §8).

All verified inbound claims except `role`, plus `role = t_<s>_role`, `tenant_id`,
`exp = now + 60 s`, `aud = "flux-pool"` and the plan's limits (`flux_limits`, never taken
from the inbound token); HS256 with the pool secret, never the project secret.
The token only ever travels gateway → pool; it is not logged and never sent to a client.
Signing is a direct HMAC over a constant header: this runs on every request, and a generic
JWT library spends most of its time on options this token never uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from flux.naming import shortid, tenant_role
from flux.rest.limits import LIMITS_CLAIM, RequestLimits

BRIDGE_AUDIENCE = "flux-pool"
BRIDGE_TTL_SECONDS = 60
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign_hs256(payload: Mapping[str, Any], secret: str) -> str:
    """A compact HS256 JWT of `payload` (RFC 7519), byte-for-byte what PyJWT would verify."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = _HEADER + b"." + body
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode()


def bridge_claims(
    claims: Mapping[str, Any],
    *,
    tenant_id: str,
    now: int,
    limits: RequestLimits = RequestLimits(),
) -> dict[str, Any]:
    out = {key: value for key, value in claims.items() if key not in ("role", LIMITS_CLAIM)}
    out.update(
        role=tenant_role(shortid(tenant_id)),
        tenant_id=tenant_id,
        exp=now + BRIDGE_TTL_SECONDS,
        aud=BRIDGE_AUDIENCE,
    )
    if limits.claim():
        out[LIMITS_CLAIM] = limits.claim()
    return out


def mint_bridge_token(
    claims: Mapping[str, Any],
    *,
    tenant_id: str,
    pool_secret: str,
    limits: RequestLimits = RequestLimits(),
) -> str:
    """Sign the bridge claims for `tenant_id` with the pool secret."""
    payload = bridge_claims(claims, tenant_id=tenant_id, now=int(time.time()), limits=limits)
    return sign_hs256(payload, pool_secret)


class BridgeMinter:
    """Mints bridge tokens, reusing one within the second it was minted for the same inbound
    token and tenant: within a second the claims and `exp` are identical, so the bytes are too."""

    def __init__(self, pool_secret: str) -> None:
        self._secret = pool_secret
        self._second = 0
        self._minted: dict[tuple[str, str], str] = {}

    def mint(
        self,
        inbound: str,
        claims: Mapping[str, Any],
        *,
        tenant_id: str,
        limits: RequestLimits = RequestLimits(),
    ) -> str:
        """The bridge token for verified `claims` (`inbound`: the Authorization they came from)."""
        now = int(time.time())
        if now != self._second:
            self._second, self._minted = now, {}
        key = (inbound, tenant_id, limits)
        token = self._minted.get(key)
        if token is None:
            payload = bridge_claims(claims, tenant_id=tenant_id, now=now, limits=limits)
            token = sign_hs256(payload, self._secret)
            self._minted[key] = token
        return token

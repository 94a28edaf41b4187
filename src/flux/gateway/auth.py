"""v2 project-JWT verification (SPEC §8): HS256 only, signed with the project's jwt_secret.

`exp` is required and must be in the future (30 s leeway); `nbf`/`iat` are honoured with the
same leeway. The `role` claim may be absent, `authenticated`, or the tenant's own runtime role;
anything else is refused. Every failure is a 401 `Reject` whose reason names the cause and
whose code and message are PostgREST's for it (PGRST302 no token, PGRST301 undecodable or
bad signature, PGRST303 refused claims).

Only the signature check is left to PyJWT. The claims are parsed by the REST engine's strict
`parse_claims` (no NaN/Infinity, bounded nesting, encodable strings) and `exp`/`nbf`/`iat` must
be JSON numbers of any size (a string `"exp": "1796000000"` is refused, not coerced the way
PyJWT would), so a token accepted once compares the same way, and never crashes, on reuse.

`TokenVerifier` remembers tokens whose signature already checked out against a given secret
(clients reuse one token for many requests), so the hot path re-checks only the time claims
and the role; a rotated secret is a different cache key, so old tokens miss and fail.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from flux.gateway.rejections import Reject, unauthorized
from flux.rest.auth import is_numeric_date, parse_claims

LEEWAY_SECONDS = 30
MISSING_TOKEN = unauthorized("missing_token", "PGRST302", "Anonymous access is disabled")
_TIME_CLAIMS = ("exp", "nbf", "iat")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def verify_project_jwt(
    authorization: str | None, *, secret: str, tenant_role: str
) -> dict[str, Any] | Reject:
    """The verified claims of the request's project JWT, or a 401 Reject."""
    token = bearer_token(authorization)
    if token is None:
        return MISSING_TOKEN
    try:
        payload = jwt.api_jws.decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        return unauthorized("bad_signature", "PGRST301", "JWT cryptographic operation failed")
    except jwt.PyJWTError:
        return unauthorized("invalid_token", "PGRST301", "JWT couldn't be decoded")
    claims = parse_claims(payload)
    if claims is None:
        return unauthorized("invalid_token", "PGRST303", "Parsing claims failed")
    for name in _TIME_CLAIMS:
        if name in claims and not is_numeric_date(claims[name]):
            message = f"The JWT '{name}' claim must be a number"
            return unauthorized("invalid_token", "PGRST303", message)
    if "exp" not in claims:
        return unauthorized("invalid_token", "PGRST303", "The JWT must have an 'exp' claim")
    now = time.time()
    if "nbf" in claims and claims["nbf"] > now + LEEWAY_SECONDS:
        return unauthorized("token_not_yet_valid", "PGRST303", "JWT not yet valid")
    if "iat" in claims and claims["iat"] > now + LEEWAY_SECONDS:
        return unauthorized("token_not_yet_valid", "PGRST303", "JWT issued at future")
    return _check_expiry(claims, now) or _check_role(claims, tenant_role)


def _check_expiry(claims: dict[str, Any], now: float) -> Reject | None:
    """`exp` (a number, checked on first sight) against `now` with the leeway. The only time
    claim re-checked on reuse: `nbf`/`iat` passed once and time only moves forward."""
    if claims["exp"] <= now - LEEWAY_SECONDS:
        return unauthorized("token_expired", "PGRST303", "JWT expired")
    return None


def _check_role(claims: dict[str, Any], tenant_role: str) -> dict[str, Any] | Reject:
    role = claims.get("role")
    if role is not None and role not in ("authenticated", tenant_role):
        message = "The JWT 'role' claim is not a role of this project"
        return unauthorized("foreign_role", "PGRST303", message)
    return claims


class TokenVerifier:
    """`verify_project_jwt` with a bounded memory of (secret, token) pairs already verified."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._verified: dict[tuple[str, str], dict[str, Any]] = {}

    def verify(
        self, authorization: str | None, *, secret: str, tenant_role: str
    ) -> dict[str, Any] | Reject:
        token = bearer_token(authorization)
        if token is None:
            return MISSING_TOKEN
        key = (secret, token)
        claims = self._verified.get(key)
        if claims is None:
            result = verify_project_jwt(authorization, secret=secret, tenant_role=tenant_role)
            if not isinstance(result, Reject):
                self._remember(key, result)
            return result
        expired = _check_expiry(claims, time.time())
        if expired is not None:
            self._verified.pop(key, None)
            return expired
        return _check_role(claims, tenant_role)

    def _remember(self, key: tuple[str, str], claims: dict[str, Any]) -> None:
        if len(self._verified) >= self._max:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key] = claims

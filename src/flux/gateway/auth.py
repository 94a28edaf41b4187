"""v2 project-JWT verification (SPEC §8): HS256 only, signed with the project's jwt_secret.

`exp` is required and must be in the future (30 s leeway); `nbf`/`iat` are honoured with the
same leeway. The `role` claim may be absent, `authenticated`, or the tenant's own runtime role;
anything else is refused. Every failure is a 401 `Reject` whose reason names the cause.

`TokenVerifier` remembers tokens whose signature already checked out against a given secret
(clients reuse one token for many requests), so the hot path re-checks only the time claims
and the role; a rotated secret is a different cache key, so old tokens miss and fail.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from flux.gateway.rejections import Reject, unauthorized

LEEWAY_SECONDS = 30
_OPTIONS = {"require": ["exp"], "verify_aud": False}


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
        return unauthorized("missing_token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options=_OPTIONS,  # type: ignore[arg-type]
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        return unauthorized("token_expired")
    except jwt.ImmatureSignatureError:
        return unauthorized("token_not_yet_valid")
    except jwt.InvalidSignatureError:
        return unauthorized("bad_signature")
    except jwt.PyJWTError:
        return unauthorized("invalid_token")
    return _check_role(claims, tenant_role)


def _check_role(claims: dict[str, Any], tenant_role: str) -> dict[str, Any] | Reject:
    role = claims.get("role")
    if role is not None and role not in ("authenticated", tenant_role):
        return unauthorized("foreign_role")
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
        claims = self._verified.get((secret, token)) if token else None
        if claims is None:
            result = verify_project_jwt(authorization, secret=secret, tenant_role=tenant_role)
            if not isinstance(result, Reject):
                self._remember((secret, token), result)  # type: ignore[arg-type]
            return result
        if claims["exp"] <= time.time() - LEEWAY_SECONDS:
            self._verified.pop((secret, token), None)  # type: ignore[arg-type]
            return unauthorized("token_expired")
        return _check_role(claims, tenant_role)

    def _remember(self, key: tuple[str, str], claims: dict[str, Any]) -> None:
        if len(self._verified) >= self._max:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key] = claims

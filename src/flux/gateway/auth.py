"""v2 project-JWT verification (SPEC §8): HS256 only, signed with the project's jwt_secret.

`exp` is required and must be in the future (30 s leeway); `nbf`/`iat` are honoured with the
same leeway. The `role` claim may be absent, `authenticated`, or the tenant's own runtime role;
anything else is refused. Every failure is a 401 `Reject` whose reason names the cause.
"""

from __future__ import annotations

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
    role = claims.get("role")
    if role is not None and role not in ("authenticated", tenant_role):
        return unauthorized("foreign_role")
    return claims

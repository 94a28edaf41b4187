"""Static API keys of dedicated (v1) projects: `anon` and `service_role` JWTs (SPEC §6).

A key is an HS256 JWT signed with the project's JWT secret:
`{"role": ..., "iss": "flux", "iat": <issued>, "exp": <issued + 10 years>}`. Keys are a pure
function of (secret, issued-at), so they need no storage and change when the secret rotates.
"""

from __future__ import annotations

from datetime import datetime

import jwt

KEY_ROLES = ("anon", "service_role")
KEY_ISSUER = "flux"
KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


def role_key(secret: str, role: str, issued_at: int) -> str:
    """One static key for `role` (HS256, signed with `secret`)."""
    claims = {
        "role": role,
        "iss": KEY_ISSUER,
        "iat": issued_at,
        "exp": issued_at + KEY_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def project_keys(secret: str, issued: datetime) -> dict[str, str]:
    """`{"anonKey", "serviceRoleKey"}` for a project whose keys were issued at `issued`."""
    issued_at = int(issued.timestamp())
    return {
        "anonKey": role_key(secret, "anon", issued_at),
        "serviceRoleKey": role_key(secret, "service_role", issued_at),
    }

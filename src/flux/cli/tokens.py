"""Local minting of project JWTs (`flux token mint`): TTL and claim parsing, HS256 signing.

Tokens carry `sub`, `role: "authenticated"`, `iat` and `exp`; extra `--claim k=v` pairs are
added last (values parsed as JSON when they are valid JSON, else kept as strings).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from typing import Any

import jwt

from flux.errors import FluxError

_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_SUB = "flux-cli"
DEFAULT_ROLE = "authenticated"


def parse_ttl(value: str) -> int:
    """'30s', '5m', '2h', '1d' (or plain seconds) → seconds; must be positive."""
    match = _TTL.match(value.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise FluxError(
            f"invalid --ttl {value!r}",
            code="bad_ttl",
            hint="use a positive duration like 30s, 5m, 2h or 1d",
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_claims(pairs: Iterable[str]) -> dict[str, Any]:
    """['k=v', ...] → {k: json(v) or v}; the first '=' separates key and value."""
    claims: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FluxError(
                f"invalid --claim {pair!r}",
                code="bad_claim",
                hint="use --claim key=value (value may be JSON, e.g. n=5 or tags='[\"a\"]')",
            )
        try:
            claims[key] = json.loads(raw)
        except ValueError:
            claims[key] = raw
    return claims


def mint_project_token(
    secret: str,
    *,
    sub: str = DEFAULT_SUB,
    ttl_seconds: int = 300,
    extra_claims: dict[str, Any] | None = None,
    now: int | None = None,
) -> str:
    """An HS256 project JWT signed with `secret`."""
    if not secret:
        raise FluxError("no project JWT secret to sign with", code="no_secret")
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": sub,
        "role": DEFAULT_ROLE,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    claims.update(extra_claims or {})
    return jwt.encode(claims, secret, algorithm="HS256")

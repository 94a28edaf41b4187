"""Every way the gateway refuses a request, as a value: status, PostgREST-shaped error, log reason.

Checks return a `Reject` (or None); `app.py` turns it into the JSON response in one place:

    {"error": "<public message>", "code": "...", "message": "...", "details": ..., "hint": ...}

`error` is Flux's original contract and stays; `code`/`message`/`details`/`hint` are the body
PostgREST clients (supabase-js, postgrest-js, postgrest-py) read, so they show the cause
instead of "Empty error". The response also carries `Proxy-Status: flux-gateway; error=<code>`
(RFC 9209, as PostgREST names its codes there), which tells a gateway refusal apart from an
error the REST engine answered (`PostgREST; error=<code>`).

Codes: PostgREST's own where the meaning is PostgREST's —

    401  PGRST302  no bearer token (the gateway has no anonymous role)
    401  PGRST301  a token that cannot be decoded or whose signature does not verify
    401  PGRST303  a verified token whose claims are refused (expired, not yet valid, no
                   `exp`, a role that is not this project's, claims that do not parse)
    413  PGRST102  declared or streamed body over the gateway limit ("Payload Too Large",
                   as the REST engine answers its own limit); 400 PGRST102 for a malformed
                   Content-Length
    500  PGRSTX00  an unexpected gateway failure

— and, for what only the gateway does, a group of its own, `PGRSTG..` (PostgREST's groups
are digits plus `X`, so these cannot collide with a future PostgREST code):

    404  PGRSTG00  no project for this host or path
    429  PGRSTG01  the project's per-minute rate limit
    429  PGRSTG02  this client address sent too many unauthorized requests
    503  PGRSTG03  the project is not serving (stopped, suspended, archived, starting)
    503  PGRSTG04  the project is in maintenance: writes are refused
    503  PGRSTG05  too many concurrent requests for this project
    503  PGRSTG06  the platform catalog is unreachable
    504  PGRSTG07  the project's REST process did not answer in time
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    error: str  # the public message, sent as {"error": ...}
    reason: str  # short machine code for the access log
    code: str  # PostgREST-style error code (see the module docstring)
    message: str
    hint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(
            {
                "error": self.error,
                "code": self.code,
                "message": self.message,
                "details": None,
                "hint": self.hint,
            }
        ).encode()

    def proxy_status(self) -> str:
        return f"flux-gateway; error={self.code}"


NOT_FOUND = Reject(
    404,
    "project not found",
    "not_found",
    "PGRSTG00",
    "No project answers at this address",
    "Check the Service URL (flux list prints it).",
)
CATALOG_DOWN = Reject(
    503,
    "service unavailable",
    "catalog_unavailable",
    "PGRSTG06",
    "The platform catalog is unreachable",
    None,
    {"Retry-After": "5"},
)
INTERNAL = Reject(500, "internal error", "internal_error", "PGRSTX00", "Internal gateway error")
BODY_TOO_LARGE = Reject(
    413, "request body too large", "body_too_large", "PGRST102", "Payload Too Large"
)
BAD_CONTENT_LENGTH = Reject(
    400, "invalid content-length", "bad_content_length", "PGRST102", "Invalid Content-Length header"
)
UPSTREAM_TIMEOUT = Reject(
    504,
    "upstream timeout",
    "upstream_timeout",
    "PGRSTG07",
    "The project's REST server did not answer in time",
)
_BEARER = "Send the project JWT as 'Authorization: Bearer <token>'."


def unauthorized(reason: str, code: str, message: str) -> Reject:
    """401 for the v2 project JWT: PGRST302 (no token), PGRST301 (undecodable or bad
    signature) or PGRST303 (claims refused), with PostgREST's message for the cause."""
    return Reject(
        401,
        "authorization required",
        reason,
        code,
        message,
        _BEARER,
        {"WWW-Authenticate": "Bearer"},
    )


def unavailable(error: str, reason: str, retry_after: int, code: str = "PGRSTG03") -> Reject:
    """503 with Retry-After; `error` doubles as the message (a sentence for people)."""
    message = error[:1].upper() + error[1:]
    return Reject(503, error, reason, code, message, None, {"Retry-After": str(retry_after)})


def too_many(retry_after: int) -> Reject:
    return Reject(
        429,
        "rate limit exceeded",
        "rate_limited",
        "PGRSTG01",
        "Rate limit exceeded",
        "The project's plan limits requests per minute; retry after Retry-After seconds.",
        {"Retry-After": str(retry_after)},
    )


def too_many_unauthorized(limited: Reject) -> Reject:
    """The client address's failed-authentication budget is spent (keeps its Retry-After)."""
    return replace(
        limited,
        error="too many unauthorized requests",
        reason="failed_auth_limited",
        code="PGRSTG02",
        message="Too many unauthorized requests",
        hint="Requests without a valid project JWT are limited per client address.",
    )

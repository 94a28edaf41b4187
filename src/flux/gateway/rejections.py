"""Every way the gateway refuses a request, as a value: status, public message, log reason.

Checks return a `Reject` (or None); `app.py` turns it into the JSON response in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    error: str  # the public message, sent as {"error": ...}
    reason: str  # short machine code for the access log
    headers: dict[str, str] = field(default_factory=dict)


NOT_FOUND = Reject(404, "project not found", "not_found")
CATALOG_DOWN = Reject(503, "service unavailable", "catalog_unavailable", {"Retry-After": "5"})


def unauthorized(reason: str) -> Reject:
    return Reject(401, "authorization required", reason, {"WWW-Authenticate": "Bearer"})


def unavailable(error: str, reason: str, retry_after: int) -> Reject:
    return Reject(503, error, reason, {"Retry-After": str(retry_after)})

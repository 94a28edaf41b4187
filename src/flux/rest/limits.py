"""Per-request limits in pool mode: the tenant's plan, carried by the bridge JWT.

The gateway puts the project's plan limits into the bridge token it signs (claim
`flux_limits`); the pool applies them to that request only: the statement timeout (set
transaction-locally and enforced from outside by a watchdog, so tenant SQL cannot lift it),
the row limit (like `db-max-rows`) and how many pool connections the tenant may hold at once.
The claim never reaches `request.jwt.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIMITS_CLAIM = "flux_limits"


@dataclass(frozen=True, slots=True)
class RequestLimits:
    statement_timeout_ms: int | None = None
    max_rows: int | None = None
    connections: int | None = None

    def claim(self) -> dict[str, int]:
        """The JSON object the gateway signs into the bridge token."""
        return {
            key: value
            for key, value in (
                ("statement_timeout_ms", self.statement_timeout_ms),
                ("max_rows", self.max_rows),
                ("connections", self.connections),
            )
            if value is not None
        }

    @classmethod
    def from_claim(cls, value: Any) -> RequestLimits:
        """Read the signed claim; anything that is not a positive integer is no limit."""
        if not isinstance(value, dict):
            return cls()

        def positive(key: str) -> int | None:
            item = value.get(key)
            return (
                item if isinstance(item, int) and not isinstance(item, bool) and item > 0 else None
            )

        return cls(positive("statement_timeout_ms"), positive("max_rows"), positive("connections"))


def tighter(configured: int | None, limit: int | None) -> int | None:
    """The smaller of two optional limits (None: unlimited)."""
    if configured is None:
        return limit
    if limit is None:
        return configured
    return min(configured, limit)

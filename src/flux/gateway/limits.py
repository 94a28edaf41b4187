"""Per-project admission limits: fixed-window rate limit, in-flight cap, maintenance, status,
request body size. Each check returns a `Reject` or None; nothing here touches a database.

The rate limit counts in process, or in Redis (INCR + EXPIRE per project and minute) when a
`RedisLink` is given; when Redis errors the in-process counter takes over (fail open: a Redis
outage never rejects a request by itself).
"""

from __future__ import annotations

import math
import time

from flux.gateway.redislink import RedisLink
from flux.gateway.rejections import Reject, unavailable

WINDOW_SECONDS = 60
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BLOCKED_STATUSES = frozenset({"suspended", "stopped", "deleting", "deleted", "failed"})
BODY_TOO_LARGE = Reject(413, "request body too large", "body_too_large")


def _too_many(retry_after: int) -> Reject:
    return Reject(429, "rate limit exceeded", "rate_limited", {"Retry-After": str(retry_after)})


def _window(now: float) -> tuple[int, int]:
    """(window number, whole seconds until it ends, at least 1)."""
    number = int(now // WINDOW_SECONDS)
    return number, max(1, math.ceil((number + 1) * WINDOW_SECONDS - now))


class LocalCounter:
    """Fixed-window counters in this process; all windows align on epoch minutes."""

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}

    def incr(self, key: str, window: int) -> int:
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return count


class RateLimiter:
    def __init__(self, redis: RedisLink | None = None) -> None:
        self._redis = redis
        self._local = LocalCounter()

    async def check(self, project: str, limit: int, now: float | None = None) -> Reject | None:
        """Count one request for `project`; a 429 Reject when it is over `limit` per minute."""
        window, retry_after = _window(time.time() if now is None else now)
        count = await self._redis_incr(project, window) if self._redis else None
        if count is None:
            count = self._local.incr(project, window)
        return _too_many(retry_after) if count > limit else None

    async def _redis_incr(self, project: str, window: int) -> int | None:
        assert self._redis is not None
        key = f"flux:gw:rl:{project}:{window}"

        async def incr(client) -> int:
            async with client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS * 2)
                count, _ = await pipe.execute()
            return int(count)

        return await self._redis.run(incr)


class InFlight:
    """Bounded concurrent requests per project, so one project cannot queue without limit."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._active: dict[str, int] = {}

    def acquire(self, project: str) -> Reject | None:
        active = self._active.get(project, 0)
        if active >= self.cap:
            return unavailable("too many concurrent requests", "in_flight_cap", 1)
        self._active[project] = active + 1
        return None

    def release(self, project: str) -> None:
        active = self._active.get(project, 0) - 1
        if active > 0:
            self._active[project] = active
        else:
            self._active.pop(project, None)


def check_state(
    method: str, *, status: str, lifecycle_state: str, maintenance: bool
) -> Reject | None:
    """Suspended/stopped/archived projects serve nothing; maintenance refuses writes only."""
    if status in BLOCKED_STATUSES:
        return unavailable("project unavailable", f"project_{status}", 30)
    if lifecycle_state == "archived":
        return unavailable("project unavailable", "project_archived", 30)
    if maintenance and method in WRITE_METHODS:
        return unavailable("project in maintenance, writes are disabled", "maintenance", 30)
    return None


def check_body_size(content_length: str | None, limit: int) -> Reject | None:
    """413 when the declared body is larger than `limit` bytes (or the header is malformed)."""
    if content_length is None:
        return None
    if not content_length.isdigit():
        return Reject(400, "invalid content-length", "bad_content_length")
    if int(content_length) > limit:
        return BODY_TOO_LARGE
    return None

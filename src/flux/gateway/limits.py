"""Per-project admission limits: fixed-window rate limit, in-flight cap, maintenance, status,
request body size. Each check returns a `Reject` or None; nothing here touches a database.

The rate limit counts in process, or in Redis (INCR + EXPIRE per key and minute) when a
`RedisLink` is given; when Redis errors the in-process counter takes over (fail open: a Redis
outage never rejects a request by itself).

Requests refused at v2 JWT verification never reach the project's counter (anyone can send
them, and they would lock the project's real users out); `FailedAuthLimiter` counts them per
client address instead, with the same counters under their own Redis namespace. Its budget
only ever turns a 401 into a 429: a valid token is verified first and never meets it.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from typing import Any

from flux.gateway.redislink import RedisLink
from flux.gateway.rejections import (
    BAD_CONTENT_LENGTH,
    BODY_TOO_LARGE,
    Reject,
    too_many,
    too_many_unauthorized,
    unavailable,
)

WINDOW_SECONDS = 60
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BLOCKED_STATUSES = frozenset({"suspended", "stopped", "deleting", "deleted", "failed"})
# Refused-at-verification requests one client address may send per minute, all projects
# together: far above what a client sends while it refreshes an expired token, and a 429 costs
# a legitimate client nothing it had (the request failed authentication anyway).
FAILED_AUTH_PER_MINUTE = 120
FAILED_AUTH_CLIENTS = 65_536  # addresses counted apart per window in process; then shared
_OVERFLOW_KEY = "*"


def _window(now: float) -> tuple[int, int]:
    """(window number, whole seconds until it ends, at least 1)."""
    number = int(now // WINDOW_SECONDS)
    return number, max(1, math.ceil((number + 1) * WINDOW_SECONDS - now))


class LocalCounter:
    """Fixed-window counters in this process; all windows align on epoch minutes.

    With `max_keys`, keys beyond that many in one window share a single overflow counter, so
    a caller who invents keys (addresses) bounds the memory, not the count."""

    def __init__(self, max_keys: int | None = None) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys

    def incr(self, key: str, window: int) -> int:
        if window != self._window:
            self._window, self._counts = window, {}
        if (
            self._max_keys is not None
            and key not in self._counts
            and len(self._counts) >= self._max_keys
        ):
            key = _OVERFLOW_KEY
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return count


class RateLimiter:
    """Fixed-window request counts per key (a project hash, unless `namespace` says otherwise)."""

    def __init__(
        self,
        redis: RedisLink | None = None,
        *,
        namespace: str = "rl",
        max_local_keys: int | None = None,
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._local = LocalCounter(max_local_keys)

    async def check(self, project: str, limit: int, now: float | None = None) -> Reject | None:
        """Count one request for `project`; a 429 Reject when it is over `limit` per minute."""
        window, retry_after = _window(time.time() if now is None else now)
        count = await self._redis_incr(project, window) if self._redis else None
        if count is None:
            count = self._local.incr(project, window)
        return too_many(retry_after) if count > limit else None

    async def _redis_incr(self, project: str, window: int) -> int | None:
        assert self._redis is not None
        key = f"flux:gw:{self._namespace}:{project}:{window}"

        async def incr(client) -> int:
            async with client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS * 2)
                count, _ = await pipe.execute()
            return int(count)

        return await self._redis.run(incr)


def client_key(client: Sequence[Any] | None) -> str:
    """The ASGI `scope["client"]` as a counting key: the IPv4 address, or the /64 of an IPv6
    address (one subscriber usually holds a whole /64, so counting single addresses would let
    it rotate past the budget); anything else (no client, a Unix socket) as given."""
    host = str(client[0]) if client else ""
    if not host:
        return "-"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class FailedAuthLimiter:
    """Requests refused at JWT verification, counted per client address (`client_key`) and
    kept apart from every project's budget; over `limit` per minute they get a 429."""

    def __init__(
        self,
        redis: RedisLink | None = None,
        limit: int = FAILED_AUTH_PER_MINUTE,
        max_local_clients: int = FAILED_AUTH_CLIENTS,
    ) -> None:
        self.limit = limit
        self._counter = RateLimiter(redis, namespace="fa", max_local_keys=max_local_clients)

    async def check(self, client: Sequence[Any] | None, now: float | None = None) -> Reject | None:
        """Count one failed authentication from `client`; a 429 Reject once over budget."""
        reject = await self._counter.check(client_key(client), self.limit, now)
        if reject is None:
            return None
        return too_many_unauthorized(reject)


class InFlight:
    """Bounded concurrent requests per project, so one project cannot queue without limit."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._active: dict[str, int] = {}

    def acquire(self, project: str) -> Reject | None:
        active = self._active.get(project, 0)
        if active >= self.cap:
            return unavailable("too many concurrent requests", "in_flight_cap", 1, "PGRSTG05")
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
        return unavailable(
            "project in maintenance, writes are disabled", "maintenance", 30, "PGRSTG04"
        )
    return None


def check_body_size(content_length: str | None, limit: int) -> Reject | None:
    """413 when the declared body is larger than `limit` bytes (or the header is malformed)."""
    if content_length is None:
        return None
    if not content_length.isdigit():
        return BAD_CONTENT_LENGTH
    if int(content_length) > limit:
        return BODY_TOO_LARGE
    return None

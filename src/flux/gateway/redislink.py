"""The gateway's optional Redis connection: never authoritative, never a reason to fail.

Every call goes through `RedisLink.run`, which returns `None` on any Redis error, logs the
outage at most once per interval, and skips Redis entirely for a short back-off after an
error so a dead Redis costs no connect timeouts on the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

log = logging.getLogger("flux.gateway.redis")
T = TypeVar("T")


class RedisLink:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        backoff_seconds: float = 2.0,
        log_interval: float = 30.0,
    ) -> None:
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._backoff = backoff_seconds
        self._log_interval = log_interval
        self._down_until = 0.0
        self._last_logged = float("-inf")

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    async def run(self, call: Callable[[aioredis.Redis], Awaitable[T]]) -> T | None:
        """`await call(client)`, or None when Redis is down (or was down moments ago)."""
        if not self.available:
            return None
        try:
            return await call(self._client)
        except Exception as exc:  # RedisError, OSError, EOFError mid-read...: never fatal here
            now = time.monotonic()
            self._down_until = now + self._backoff
            if now - self._last_logged >= self._log_interval:
                self._last_logged = now
                log.warning("redis unavailable, using in-process fallback: %s", type(exc).__name__)
            return None

    async def aclose(self) -> None:
        await self._client.aclose()

"""Bounding the control plane's mutating calls, so one user cannot stall everyone else.

Pushes, creations and lifecycle calls can run for minutes, each on a worker thread of the
server's one shared pool (reads like `list` need one too). Every non-GET call therefore takes
a slot before its endpoint runs — this dependency is async, so it runs on the event loop and
a refused call never takes a worker thread for its endpoint: at most `per_user` slots per user
and `total` for everyone, the latter below the pool's size so reads always find a thread.
Beyond either bound the call is refused at once with 429 and `Retry-After`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

from fastapi import Depends, Request

from flux.catalog.users import User
from flux.control.auth import authenticate
from flux.errors import FluxError

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class TooManyCalls(FluxError):
    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            code="too_many_calls",
            hint="wait for your running calls to finish, then retry",
            status=429,
        )


class CallLimiter:
    """Counts the mutating calls in flight, per user and in all. Thread-safe."""

    def __init__(self, per_user: int = 4, total: int = 32) -> None:
        self.per_user = per_user
        self.total = total
        self._running: dict[int, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user_id: int) -> None:
        """Take a slot for `user_id` or raise TooManyCalls."""
        with self._lock:
            mine = self._running.get(user_id, 0)
            if mine >= self.per_user:
                raise TooManyCalls(
                    f"you already have {mine} calls running (at most {self.per_user} at once)"
                )
            if sum(self._running.values()) >= self.total:
                raise TooManyCalls("the control plane is busy; too many calls are running")
            self._running[user_id] = mine + 1

    def release(self, user_id: int) -> None:
        with self._lock:
            left = self._running.get(user_id, 0) - 1
            if left > 0:
                self._running[user_id] = left
            else:
                self._running.pop(user_id, None)


async def bounded_call(request: Request, user: User = Depends(authenticate)) -> AsyncIterator[None]:
    """Router-wide dependency: a slot for every mutating call, released when it finished."""
    if request.method in _READS:
        yield
        return
    limiter: CallLimiter = request.app.state.ctx.call_limiter
    limiter.acquire(user.id)
    try:
        yield
    finally:
        limiter.release(user.id)

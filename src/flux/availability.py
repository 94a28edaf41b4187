"""Failing fast while a database is down: a breaker shared by the catalog and the gateway.

When a connection to a database fails, every caller waiting for a pool's timeout would hang
for seconds. Instead the caller that saw the failure trips the breaker; while it is tripped,
callers get "unavailable" at once, except one caller at most every `interval` seconds, which
is let through to probe the server with a direct connection (and resets the breaker when that
works). Thread-safe; holds no connection itself.
"""

from __future__ import annotations

import threading
import time

import psycopg

# Connection-level failures: no SQLSTATE (the socket broke), class 08 (connection exception),
# 57P01..57P03 (admin/crash shutdown, cannot connect now: a server starting up or recovering).
_DISCONNECT_STATES = frozenset({"57P01", "57P02", "57P03"})


def is_disconnect(exc: BaseException) -> bool:
    """The error means the server (or the connection to it) is gone, not that a query failed."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _DISCONNECT_STATES


class Breaker:
    """Remembers that a database is unreachable and rations the probes that check it again."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._down = False
        self._next_probe = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def trip(self) -> None:
        with self._lock:
            self._down = True
            self._next_probe = time.monotonic() + self.interval

    def claim_probe(self) -> bool:
        """True for the one caller allowed to probe now (always True while not down)."""
        with self._lock:
            if not self._down:
                return True
            now = time.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + self.interval
            return True

    def reset(self) -> None:
        with self._lock:
            self._down = False

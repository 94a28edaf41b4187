"""A push's watchdog: enforces the platform's time limits from outside the pushed session.

Pushed SQL can `SET statement_timeout = 0` or `SET lock_timeout = 0`, so the limits set in a
file's transaction are only the first line. The watchdog holds a second connection to the
project database and, every `interval` seconds while a file runs, reads the push backend's row
in `pg_stat_activity`: a statement active for longer than `statement_timeout`, or waiting for a
lock (`wait_event_type = 'Lock'`) for longer than `lock_timeout`, is cancelled with
`pg_cancel_backend` (a grace second later than the in-band limit, which normally fires first
with PostgreSQL's own error). The `cancelled` event (set when the HTTP client went away)
cancels within one interval, with or without a running file. Once it has fired it keeps cancelling whatever the backend runs, so
nothing of the file, or of the files after it, can go on; the file's transaction is rolled
back by the executor and the push lock is released when the session closes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal

import psycopg

from flux.migrations.target import PushLimits

log = logging.getLogger(__name__)

GRACE_SECONDS = 1.0
Reason = Literal["statement_timeout", "lock_timeout", "cancelled"]

_ACTIVITY = (
    "SELECT state = 'active', query_start, wait_event_type = 'Lock',"
    " extract(epoch FROM pg_catalog.clock_timestamp() - query_start)::float8"
    " FROM pg_catalog.pg_stat_activity WHERE pid = %s"
)


class Watchdog:
    """Watches one push backend (`pid`) until `stop()`."""

    def __init__(
        self,
        conninfo: str,
        pid: int,
        limits: PushLimits,
        cancelled: threading.Event | None = None,
        *,
        interval: float = 0.25,
    ) -> None:
        self._conninfo = conninfo
        self._pid = pid
        self._limits = limits
        self._cancelled = cancelled
        self._interval = interval
        self._stopped = threading.Event()
        self._running_file = False
        self._lock_wait: tuple[object, float] | None = None  # (query_start, first seen)
        self.reason: Reason | None = None
        self._thread = threading.Thread(target=self._loop, name=f"push-watchdog-{pid}", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5.0)

    def file_started(self) -> None:
        self._running_file = True

    def file_ended(self) -> None:
        self._running_file = False
        self._lock_wait = None

    def fired(self) -> Reason | None:
        """Why the push must stop (None while it may go on)."""
        if self.reason is None and self._cancelled is not None and self._cancelled.is_set():
            self.reason = "cancelled"
        return self.reason

    def describe(self) -> str:
        """Why the watchdog fired, for the push report."""
        limits = self._limits
        return {
            "statement_timeout": f"a statement ran longer than the platform maximum of "
            f"{limits.statement_timeout:g}s and was cancelled",
            "lock_timeout": f"a statement waited for a lock longer than the platform maximum "
            f"of {limits.lock_timeout:g}s and was cancelled",
            "cancelled": "the push was cancelled (its client went away)",
        }[self.reason or "cancelled"]

    # ------------------------------------------------------------------ internals
    def _loop(self) -> None:
        try:
            with psycopg.connect(
                self._conninfo, autocommit=True, application_name="flux push watchdog"
            ) as conn:
                while not self._stopped.wait(self._interval):
                    self._tick(conn)
        except psycopg.Error as exc:  # the database went away: the push fails by itself
            log.warning("push watchdog for backend %s stopped: %s", self._pid, exc)

    def _tick(self, conn: psycopg.Connection) -> None:
        self.fired()
        row = conn.execute(_ACTIVITY, (self._pid,)).fetchone()
        if row is None:
            return
        active, query_start, waiting, running = row
        if not active:
            return
        if self.reason is None and self._running_file:
            self._check_limits(query_start, waiting, running or 0.0)
        if self.reason is not None:
            conn.execute("SELECT pg_catalog.pg_cancel_backend(%s)", (self._pid,))

    def _check_limits(self, query_start: object, waiting: bool, running: float) -> None:
        limits = self._limits
        if running > limits.statement_timeout + GRACE_SECONDS:
            self.reason = "statement_timeout"
            return
        if not waiting:
            self._lock_wait = None
            return
        now = time.monotonic()
        if self._lock_wait is None or self._lock_wait[0] != query_start:
            self._lock_wait = (query_start, now)
        elif now - self._lock_wait[1] > limits.lock_timeout + GRACE_SECONDS:
            self.reason = "lock_timeout"

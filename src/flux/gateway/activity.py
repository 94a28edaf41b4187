"""Project activity: `projects.last_accessed_at`, batched and lossy by design (SPEC §8).

The only catalog write the gateway makes. Requests call `touch(tenant_id)` (a dict update);
a background task flushes the newest timestamp per project every `interval` seconds with one
`UPDATE ... FROM unnest(...)`. A failed flush is logged and dropped — idle reaping only needs
an approximate answer, and requests never wait for the catalog here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import psycopg

log = logging.getLogger("flux.gateway.activity")

_FLUSH = """
    UPDATE projects AS p SET last_accessed_at = v.at
      FROM unnest(%s::uuid[], %s::timestamptz[]) AS v(tenant_id, at)
     WHERE p.tenant_id = v.tenant_id
       AND (p.last_accessed_at IS NULL OR p.last_accessed_at < v.at)
"""


class ActivityRecorder:
    def __init__(self, conninfo: str, *, interval: float = 5.0) -> None:
        self._conninfo = conninfo
        self._interval = interval
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, tenant_id: str) -> None:
        """Note that `tenant_id` served a request now; starts the flusher on first use."""
        self._seen[tenant_id] = datetime.now(UTC)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> int:
        """Write pending timestamps now; returns how many projects were sent."""
        if not self._seen:
            return 0
        batch, self._seen = self._seen, {}
        try:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=5
            ) as conn:
                await conn.execute(_FLUSH, (list(batch), list(batch.values())))
        except (psycopg.Error, OSError) as exc:
            log.warning("activity flush dropped %d projects: %s", len(batch), type(exc).__name__)
            return 0
        return len(batch)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

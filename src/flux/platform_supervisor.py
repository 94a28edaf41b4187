"""Supervision of the platform's own PostgreSQL under `flux up` (the catalog `flux_system` and
the shared cluster's database live in one postmaster).

The same `LocalRunner` that supervises dedicated projects' servers watches it, as a cluster
unit of a runner of its own (so stopping dedicated projects never touches it, and it is
stopped last): a postmaster that dies (`kill -9`, OOM killer) is noticed within a poll
interval and restarted through `Cluster.start()`, which runs PostgreSQL's crash recovery, so
every committed transaction survives. Restarts back off quickly but are capped low: while
this server is down the whole platform answers 503, so it is retried often. A restart can
fail while backends of the dead postmaster still hold its shared memory; the next attempt,
a moment later, succeeds once they have exited.

Crash recovery first syncs the whole data directory; with the default method (an fsync per
file) that alone took seconds of the restart, so on servers that have it (PostgreSQL 14+)
the supervised cluster uses `recovery_init_sync_method = syncfs` (one syncfs() of the file
system: the same durability, one system call).
"""

from __future__ import annotations

import re
from pathlib import Path

from flux.engines.runners.local import LocalRunner, ProcessInfo
from flux.postgres import Cluster
from flux.postgres.binaries import find_bin_dir, server_version

UNIT = "platform-postgres"


class PlatformSupervisor:
    """Keeps the platform's PostgreSQL running until `shutdown()`."""

    def __init__(self, run_dir: Path) -> None:
        self.runner = LocalRunner(
            run_dir, backoff_initial=0.2, backoff_max=2.0, stable_after=30.0, poll_interval=0.1
        )

    def supervise(self, cluster: Cluster) -> None:
        """Start watching `cluster` (started if it is not running yet); its restarts use
        the fast crash-recovery sync."""
        major = re.match(r"\d+", server_version(find_bin_dir()))
        if major and int(major.group()) >= 14:
            cluster.settings.setdefault("recovery_init_sync_method", "syncfs")
        self.runner.start_cluster(UNIT, cluster)

    def info(self) -> ProcessInfo:
        return self.runner.info(UNIT)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop watching and stop the server (fast shutdown)."""
        self.runner.shutdown(timeout)

"""Embedded PostgreSQL: binaries, clusters (template copy, start/stop as non-root), ports."""

from flux.postgres.binaries import PostgresNotFound, find_bin_dir
from flux.postgres.cluster import SUPERUSER, Cluster, ClusterError, socket_dir_for, template_dir
from flux.postgres.ports import free_port

__all__ = [
    "SUPERUSER",
    "Cluster",
    "ClusterError",
    "PostgresNotFound",
    "find_bin_dir",
    "free_port",
    "socket_dir_for",
    "template_dir",
]

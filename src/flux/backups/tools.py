"""The PostgreSQL client tools (pg_dump, pg_restore, psql), run without a password on any
command line: a conninfo's password goes into a private temporary libpq password file named
by the conninfo's `passfile`, removed when the tool has finished."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flux.postgres.binaries import find_bin_dir


def tool(name: str) -> str:
    """The path of a client tool of the server's version (pg_dump, pg_restore, psql)."""
    return str(find_bin_dir() / name)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def tool_env() -> dict[str, str]:
    """The environment for a tool: ours without any PG* variable (nothing implicit)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


@contextmanager
def secret_free(conninfo: str) -> Iterator[str]:
    """`conninfo` with its password moved into a 0600 password file (deleted afterwards)."""
    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    if password is None:
        yield make_conninfo(**params)
        return
    with tempfile.TemporaryDirectory(prefix="flux-pg-") as folder:
        path = Path(folder) / "pgpass"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:*:{_escape(password)}\n")
        yield make_conninfo(**params, passfile=str(path))


def first_error(stderr: str) -> str:
    """The line of a tool's stderr worth showing (the first ERROR/FATAL, else the last)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "ERROR" in line or "FATAL" in line or "error:" in line:
            return line[:500]
    return (lines[-1] if lines else "no output")[:500]

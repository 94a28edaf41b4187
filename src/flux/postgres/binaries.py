"""Locate the PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from flux.errors import FluxError

REQUIRED = ("initdb", "postgres", "pg_ctl")


class PostgresNotFound(FluxError):
    def __init__(self) -> None:
        super().__init__(
            "no PostgreSQL server binaries found (looked at FLUX_PG_BIN, pg_config, PATH, "
            "/usr/lib/postgresql/*/bin)",
            code="postgres_not_found",
            hint="install them: apt-get install postgresql (Debian/Ubuntu), "
            "or set FLUX_PG_BIN to the folder holding initdb",
            status=500,
        )


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in REQUIRED)


def _candidates() -> list[Path]:
    found: list[Path] = []
    explicit = os.environ.get("FLUX_PG_BIN")
    if explicit:
        found.append(Path(explicit))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            found.append(Path(out))
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        found.append(Path(os.path.realpath(initdb)).parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    found.extend(Path(p) for p in versions)
    return found


@lru_cache(maxsize=1)
def find_bin_dir() -> Path:
    """The folder with initdb/postgres/pg_ctl, or PostgresNotFound naming the package."""
    for folder in _candidates():
        if _has_all(folder):
            return folder
    raise PostgresNotFound()


@lru_cache(maxsize=4)
def server_version(bin_dir: Path) -> str:
    """e.g. "15.18" from "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"."""
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    found = re.search(r"\(PostgreSQL\)\s+(\S+)", out)
    return found.group(1) if found else out.strip().split()[-1]

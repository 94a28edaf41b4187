"""Trust states of an artefact: validated (its sha256 matches the catalog and `pg_restore
--list` reads it), then restore-verified: restored, by the same code and with the same rights
as a real restore, into a disposable database created beside the project's (on the same
cluster, so the same roles and extensions exist), where every table of the dump must be
present with the row count recorded on the dump's snapshot. The disposable database admits
only the restoring login (no PUBLIC connect) and is dropped afterwards, whatever happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flux.backups.artefacts import check_sha256
from flux.backups.dump import count_rows
from flux.backups.restore import restore_into
from flux.backups.spec import DatabaseSpec
from flux.backups.toc import Entry, project_entries, read_toc, tenant_entries
from flux.errors import FluxError


class VerificationFailed(FluxError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="verify_failed", hint="take a new backup", status=409)


def restorable_entries(spec: DatabaseSpec, path: Path) -> list[Entry]:
    """The entries a restore of this archive runs (CorruptArtefact if unreadable or empty)."""
    entries = read_toc(path)
    return tenant_entries(entries, spec.schema) if spec.shared else project_entries(entries)


def validate(spec: DatabaseSpec, path: Path, sha256: str | None) -> list[Entry]:
    check_sha256(path, sha256)
    return restorable_entries(spec, path)


def _conninfo(spec: DatabaseSpec, dbname: str, **extra: str) -> str:
    return make_conninfo(spec.platform_conninfo, dbname=dbname, **extra)


@contextmanager
def disposable_database(spec: DatabaseSpec, meta: dict[str, Any]) -> Iterator[str]:
    """A new database on the project's cluster, prepared like the project's; its name."""
    name = f"flux_verify_{secrets.token_hex(6)}"
    with psycopg.connect(spec.platform_conninfo, autocommit=True) as admin:
        owner = sql.Identifier(spec.disposable_owner) if spec.disposable_owner else None
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0{}").format(
                sql.Identifier(name), sql.SQL(" OWNER {}").format(owner) if owner else sql.SQL("")
            )
        )
        try:
            admin.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
            )
            with psycopg.connect(_conninfo(spec, name), autocommit=True) as conn:
                conn.execute("SET search_path TO pg_catalog")
                conn.execute(spec.disposable_sql)
                for ext, schema in meta.get("extensions", []):
                    conn.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {} CASCADE").format(
                            sql.Identifier(ext), sql.Identifier(schema)
                        )
                    )
            yield name
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def restore_verify(
    spec: DatabaseSpec, path: Path, entries: list[Entry], meta: dict[str, Any]
) -> dict[str, int]:
    """Restore into a disposable database and compare row counts; the counts found."""
    with disposable_database(spec, meta) as name:
        owner_login = None
        if not spec.shared:
            assert spec.owner_conninfo is not None
            params = conninfo_to_dict(spec.owner_conninfo)
            params["dbname"] = name
            owner_login = make_conninfo(**params)
        restore_into(spec, path, entries, meta, dbname=name, owner_conninfo=owner_login)
        with psycopg.connect(_conninfo(spec, name)) as conn:
            conn.execute("SET search_path TO pg_catalog")
            found = count_rows(conn, spec.schema if spec.shared else None)
    expected: dict[str, int] | None = meta.get("tables")
    if expected is None:  # an uploaded archive: no counts were recorded, these become them
        return found
    missing = sorted(set(expected) - set(found))
    if missing:
        raise VerificationFailed(f"tables missing after a test restore: {', '.join(missing[:5])}")
    wrong = [f"{t} ({found[t]} rows, dump had {n})" for t, n in expected.items() if found[t] != n]
    if wrong:
        raise VerificationFailed(f"row counts differ after a test restore: {', '.join(wrong[:5])}")
    return found

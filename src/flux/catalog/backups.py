"""Typed catalog access: backups (one row per artefact) and their trust state.

States: `validating` (being written or checked), `created` (artefact validated: checksum and
`pg_restore --list` readable), `verified` (restored into a disposable database, every table
present with the dump's row counts), `verify_failed`. Offsite replication is recorded beside the
state (`offsite_at`, `offsite_uri`). A row outlives its project (no foreign key): the artefact
of a nuked project stays listed in the catalog with the project's names.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

VALIDATING, CREATED, VERIFIED, VERIFY_FAILED = "validating", "created", "verified", "verify_failed"

_COLUMNS = (
    "id, tenant_id, kind, path, sha256, size_bytes, state, created_at, verified_at,"
    " project_slug, project_hash, trigger, meta, error, offsite_at, offsite_uri"
)


@dataclass
class Backup:
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    path: str
    sha256: str | None
    size_bytes: int | None
    state: str
    created_at: datetime
    verified_at: datetime | None
    project_slug: str | None
    project_hash: str | None
    trigger: str
    meta: dict[str, Any]
    error: str | None
    offsite_at: datetime | None
    offsite_uri: str | None


def insert(
    conn: psycopg.Connection,
    *,
    backup_id: uuid.UUID,
    tenant_id: uuid.UUID,
    kind: str,
    path: str,
    project_slug: str,
    project_hash: str,
    trigger: str,
) -> Backup:
    row = conn.execute(
        "INSERT INTO backups (id, tenant_id, kind, path, state, project_slug, project_hash,"
        f" trigger) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (backup_id, tenant_id, kind, path, VALIDATING, project_slug, project_hash, trigger),
    ).fetchone()
    return Backup(**row)


def get(conn: psycopg.Connection, backup_id: uuid.UUID) -> Backup | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM backups WHERE id = %s", (backup_id,)).fetchone()
    return Backup(**row) if row else None


def for_tenant(conn: psycopg.Connection, tenant_id: uuid.UUID, limit: int = 200) -> list[Backup]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM backups WHERE tenant_id = %s"
        " ORDER BY created_at DESC, id LIMIT %s",
        (tenant_id, limit),
    ).fetchall()
    return [Backup(**row) for row in rows]


def set_artefact(
    conn: psycopg.Connection,
    backup_id: uuid.UUID,
    *,
    sha256: str,
    size_bytes: int,
    meta: dict[str, Any],
) -> None:
    conn.execute(
        "UPDATE backups SET sha256 = %s, size_bytes = %s, meta = %s WHERE id = %s",
        (sha256, size_bytes, Jsonb(meta), backup_id),
    )


def set_state(
    conn: psycopg.Connection, backup_id: uuid.UUID, state: str, *, error: str | None = None
) -> None:
    conn.execute(
        "UPDATE backups SET state = %s, error = %s,"
        " verified_at = CASE WHEN %s = 'verified' THEN now() ELSE verified_at END WHERE id = %s",
        (state, error, state, backup_id),
    )


def set_offsite(conn: psycopg.Connection, backup_id: uuid.UUID, uri: str) -> None:
    conn.execute(
        "UPDATE backups SET offsite_at = now(), offsite_uri = %s WHERE id = %s", (uri, backup_id)
    )


def delete(conn: psycopg.Connection, backup_id: uuid.UUID) -> None:
    conn.execute("DELETE FROM backups WHERE id = %s", (backup_id,))


def newest_verified(conn: psycopg.Connection, tenant_id: uuid.UUID) -> Backup | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM backups WHERE tenant_id = %s AND state = 'verified'"
        " ORDER BY created_at DESC LIMIT 1",
        (tenant_id,),
    ).fetchone()
    return Backup(**row) if row else None

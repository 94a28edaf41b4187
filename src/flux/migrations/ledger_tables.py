"""The migration ledger in the reserved schema `flux` of the project database.

`flux.flux_migrations` records versioned files (primary key `(tenant_schema, version)`),
`flux.flux_repeatable_scripts` records repeatable scripts by id. Both are created
idempotently (serialised by a transaction-level advisory lock, so two first pushes on one
shared database cannot race), owned by the connecting superuser/owner, and revoked from
PUBLIC; nothing is granted to tenant roles, so they can neither read nor write the ledger.
Every statement here is schema-qualified and uses only pg_catalog functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

_SETUP_LOCK = 0x666C7578_6C656467  # "fluxledg": one global key for creating the ledger
_TABLES = ("flux.flux_migrations", "flux.flux_repeatable_scripts")

_DDL = """
CREATE SCHEMA IF NOT EXISTS flux;
REVOKE ALL ON SCHEMA flux FROM PUBLIC;
CREATE TABLE IF NOT EXISTS flux.flux_migrations (
  tenant_schema text NOT NULL,
  version text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  applied_by text NOT NULL,
  duration_ms integer NOT NULL,
  PRIMARY KEY (tenant_schema, version)
);
CREATE TABLE IF NOT EXISTS flux.flux_repeatable_scripts (
  tenant_schema text NOT NULL,
  script_id text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  applied_by text NOT NULL,
  duration_ms integer NOT NULL,
  PRIMARY KEY (tenant_schema, script_id)
);
REVOKE ALL ON flux.flux_migrations, flux.flux_repeatable_scripts FROM PUBLIC;
"""

LedgerKind = Literal["versioned", "repeatable"]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    kind: LedgerKind
    version: str  # file name for versioned rows, script id for repeatable ones
    checksum: str
    applied_at: str  # ISO 8601, UTC offset included
    applied_by: str
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["appliedAt"] = data.pop("applied_at")
        data["appliedBy"] = data.pop("applied_by")
        data["durationMs"] = data.pop("duration_ms")
        return data


def _exists(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT pg_catalog.to_regclass(%s) IS NOT NULL AND pg_catalog.to_regclass(%s) IS NOT NULL",
        _TABLES,
    ).fetchone()
    return bool(row and row[0])


def ensure_ledger(conn: psycopg.Connection) -> None:
    """Create the ledger schema and tables if missing (own transaction; autocommit conn)."""
    if _exists(conn):
        return
    with conn.transaction():
        conn.execute("SELECT pg_catalog.pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        conn.execute(_DDL)


def read_ledger(conn: psycopg.Connection, ledger_key: str) -> list[LedgerRow]:
    """Versioned rows by version, then repeatable rows by id; empty when no ledger exists."""
    if not _exists(conn):
        return []
    rows = conn.execute(
        """
        SELECT 'versioned', version, checksum, applied_at, applied_by, duration_ms
          FROM flux.flux_migrations WHERE tenant_schema = %(key)s
        UNION ALL
        SELECT 'repeatable', script_id, checksum, applied_at, applied_by, duration_ms
          FROM flux.flux_repeatable_scripts WHERE tenant_schema = %(key)s
        ORDER BY 1 DESC, 2
        """,
        {"key": ledger_key},
    ).fetchall()
    return [
        LedgerRow(kind, version, digest, _iso(at), by, ms)
        for kind, version, digest, at, by, ms in rows
    ]


def _iso(value: datetime) -> str:
    return value.isoformat()


def record(
    conn: psycopg.Connection,
    kind: LedgerKind,
    ledger_key: str,
    version: str,
    digest: str,
    applied_by: str,
    duration_ms: int,
) -> None:
    """Write (or, for repeatable scripts, refresh) a ledger row inside the caller's transaction."""
    if kind == "versioned":
        conn.execute(
            "INSERT INTO flux.flux_migrations"
            " (tenant_schema, version, checksum, applied_by, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            (ledger_key, version, digest, applied_by, duration_ms),
        )
    else:
        conn.execute(
            "INSERT INTO flux.flux_repeatable_scripts"
            " (tenant_schema, script_id, checksum, applied_by, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_schema, script_id) DO UPDATE SET checksum = excluded.checksum,"
            " applied_at = pg_catalog.now(), applied_by = excluded.applied_by,"
            " duration_ms = excluded.duration_ms",
            (ledger_key, version, digest, applied_by, duration_ms),
        )

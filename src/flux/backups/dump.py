"""Consistent dumps: pg_dump runs on a snapshot exported by a transaction that, on the same
snapshot, counts every table's rows and reads what the archive cannot hold (v2: the tenant's
ledger rows and its runtime role's privileges; v1: the extensions). That metadata is recorded
with the backup and is what verification compares with and restore re-applies."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from flux.backups.spec import DatabaseSpec
from flux.backups.tools import first_error, secret_free, tool, tool_env
from flux.errors import FluxError

DUMP_TIMEOUT = 6 * 3600

# Tables a restore brings back, counted on the dump's snapshot (and again after a verifying
# restore). v2: the tenant schema; v1: every user schema plus the push ledger.
TABLES_SQL = """
SELECT n.nspname::text, c.relname::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
   AND CASE WHEN %(schema)s::text IS NOT NULL THEN n.nspname = %(schema)s
            ELSE (n.nspname NOT IN ('pg_catalog', 'information_schema', 'flux', 'extensions')
                  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)')
                 OR (n.nspname = 'flux'
                     AND c.relname IN ('flux_migrations', 'flux_repeatable_scripts')) END
 ORDER BY 1, 2
"""
_LEDGER = {
    "versioned": "SELECT version, checksum, applied_at::text, applied_by, duration_ms"
    " FROM flux.flux_migrations WHERE tenant_schema = %s ORDER BY version",
    "repeatable": "SELECT script_id, checksum, applied_at::text, applied_by, duration_ms"
    " FROM flux.flux_repeatable_scripts WHERE tenant_schema = %s ORDER BY script_id",
}
# The runtime role's privileges in the tenant schema (the archive has no ACLs).
_GRANTS = """
SELECT 'TABLE', pg_catalog.format('%%I.%%I', n.nspname, c.relname), a.privilege_type, NULL
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       pg_catalog.aclexplode(c.relacl) a
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'SEQUENCE', pg_catalog.format('%%I.%%I', n.nspname, c.relname), a.privilege_type, NULL
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       pg_catalog.aclexplode(c.relacl) a
 WHERE n.nspname = %(schema)s AND c.relkind = 'S' AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'TABLE', pg_catalog.format('%%I.%%I', n.nspname, c.relname), a.privilege_type,
       t.attname::text
  FROM pg_catalog.pg_attribute t JOIN pg_catalog.pg_class c ON c.oid = t.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       pg_catalog.aclexplode(t.attacl) a
 WHERE n.nspname = %(schema)s AND t.attnum > 0 AND NOT t.attisdropped
   AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'ROUTINE', p.oid::pg_catalog.regprocedure::text, a.privilege_type, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace,
       pg_catalog.aclexplode(p.proacl) a
 WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p') AND a.grantee = %(role)s::regrole
ORDER BY 1, 2, 3, 4
"""
_EXTENSIONS = """
SELECT e.extname::text, n.nspname::text FROM pg_catalog.pg_extension e
  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname <> 'plpgsql' ORDER BY e.oid
"""


class DumpFailed(FluxError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="backup_failed", hint="see the server log", status=500)


def count_rows(conn: psycopg.Connection, schema: str | None) -> dict[str, int]:
    """`{"schema.table": rows}` of the tables a restore brings back (search_path pinned)."""
    counts = {}
    for nsp, rel in conn.execute(TABLES_SQL, {"schema": schema}).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(nsp), sql.Identifier(rel)
        )
        counts[f"{nsp}.{rel}"] = conn.execute(query).fetchone()[0]
    return counts


def _ledger(conn: psycopg.Connection, schema: str) -> dict[str, list[list[Any]]]:
    ledger: dict[str, list[list[Any]]] = {}
    for kind, query in _LEDGER.items():
        table = "flux.flux_migrations" if kind == "versioned" else "flux.flux_repeatable_scripts"
        if conn.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]:
            ledger[kind] = [list(row) for row in conn.execute(query, (schema,)).fetchall()]
        else:
            ledger[kind] = []
    return ledger


def metadata(conn: psycopg.Connection, spec: DatabaseSpec) -> dict[str, Any]:
    """What the archive cannot hold, read on the connection's snapshot."""
    meta: dict[str, Any] = {"tables": count_rows(conn, spec.schema if spec.shared else None)}
    if spec.shared:
        meta["ledger"] = _ledger(conn, spec.schema)
        meta["grants"] = [
            list(row)
            for row in conn.execute(
                _GRANTS, {"schema": spec.schema, "role": spec.runtime_role}
            ).fetchall()
        ]
    else:
        meta["extensions"] = [list(row) for row in conn.execute(_EXTENSIONS).fetchall()]
    return meta


def dump(spec: DatabaseSpec, path: Path) -> dict[str, Any]:
    """Write the archive to `path` (which exists, 0600); returns its metadata."""
    with psycopg.connect(
        spec.platform_conninfo, autocommit=True, application_name="flux backup"
    ) as conn:
        conn.execute("SET search_path TO pg_catalog")
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = conn.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()[0]
            meta = metadata(conn, spec)
            args = [tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "-f", str(path)]
            if spec.shared:
                args += [f'--schema="{spec.schema}"', "--no-owner", "--no-acl"]
            with secret_free(spec.platform_conninfo) as conninfo:
                result = subprocess.run(
                    [*args, "-d", conninfo],
                    capture_output=True,
                    text=True,
                    timeout=DUMP_TIMEOUT,
                    env=tool_env(),
                )
    if result.returncode != 0:
        raise DumpFailed(f"pg_dump failed: {first_error(result.stderr)}")
    return meta

"""Restoring an archive in one transaction, with the project's own rights.

`pg_restore` only writes the archive's chosen entries out as SQL (`--no-owner`; pg_dump's
`\\restrict` line puts psql in a mode where no meta-command from the archive can run); `psql
--single-transaction` runs Flux's preamble, that SQL and Flux's postamble as one transaction,
so the project ends up either fully restored or as it was.

Whose rights: v1, the project's owner (a non-superuser, the user's own login). v2, a temporary
login created for this restore, a member of the tenant's DDL role and of nothing else, with
CONNECT on the one database restored into, dropped afterwards: whatever an archive holds
(it can be any file a user uploads) runs with the tenant's rights, never a superuser's.

Beside it, on the platform's connection: the project's push lock is held (no push runs during
a restore) and, for v2, the tenant's ledger rows are replaced by the backup's; that transaction
commits only after the restore committed. The restore is bounded by `timeout`.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flux.backups import script
from flux.backups.spec import DatabaseSpec
from flux.backups.toc import Entry, write_list
from flux.backups.tools import first_error, secret_free, tool, tool_env
from flux.errors import FluxError
from flux.postgres.logins import drop_login, password_clause

RESTORE_TIMEOUT = 3 * 3600


class RestoreFailed(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="restore_failed", hint=hint, status=409)


@contextmanager
def tenant_login(
    spec: DatabaseSpec, dbname: str, ttl: timedelta = timedelta(seconds=RESTORE_TIMEOUT)
) -> Iterator[str]:
    """A temporary login into `dbname`, member of the tenant's DDL role only; its conninfo.
    Dropped (sessions ended) on the way out."""
    assert spec.ddl_role is not None
    role = f"{spec.ddl_role.removesuffix('_ddl')}_rst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    until = (datetime.now(UTC) + ttl).isoformat()
    with psycopg.connect(spec.platform_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOINHERIT CONNECTION LIMIT 1 VALID UNTIL {} {} IN ROLE {}"
            ).format(
                sql.Identifier(role),
                sql.Literal(until),
                password_clause(conn, role, password),
                sql.Identifier(spec.ddl_role),
            )
        )
        try:
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(dbname), sql.Identifier(role)
                )
            )
            params = conninfo_to_dict(spec.platform_conninfo)
            params.pop("passfile", None)
            params.update(dbname=dbname, user=role, password=password)
            yield make_conninfo(**params)
        finally:
            drop_login(conn, role)


def run_script(
    archive: Path,
    entries: list[Entry],
    login_conninfo: str,
    preamble: str,
    postamble: str,
    *,
    timeout: float = RESTORE_TIMEOUT,
) -> None:
    """pg_restore (as SQL) | psql --single-transaction, Flux's SQL before and after."""
    with tempfile.TemporaryDirectory(prefix="flux-restore-") as folder:
        work = Path(folder)
        listing, before, after = work / "list", work / "pre.sql", work / "post.sql"
        write_list(entries, listing)
        before.write_text(preamble)
        after.write_text(postamble)
        with secret_free(login_conninfo) as conninfo:
            options = make_conninfo(conninfo, options="-c client_connection_check_interval=1s")
            dumper = subprocess.Popen(
                [tool("pg_restore"), "--no-owner", "-L", str(listing), "-f", "-", str(archive)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=tool_env(),
            )
            try:
                result = subprocess.run(
                    [
                        tool("psql"),
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "--single-transaction",
                        "-d",
                        options,
                        "-f",
                        str(before),
                        "-f",
                        "-",
                        "-f",
                        str(after),
                    ],
                    stdin=dumper.stdout,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    env=tool_env(),
                )
            except subprocess.TimeoutExpired:
                raise RestoreFailed(
                    f"the restore did not finish within {timeout:.0f}s and was rolled back"
                ) from None
            finally:
                assert dumper.stdout is not None
                dumper.stdout.close()
                dumper_err = dumper.stderr.read().decode(errors="replace") if dumper.stderr else ""
                dumper.wait(timeout=30)
    if dumper.returncode not in (0, None) and result.returncode == 0:
        raise RestoreFailed(f"pg_restore failed: {first_error(dumper_err)}")
    if result.returncode != 0:
        raise RestoreFailed(
            f"the restore failed and was rolled back: {first_error(result.stderr)}",
            hint="the project is as it was before the restore",
        )


@contextmanager
def platform_side(spec: DatabaseSpec, ledger: dict[str, list[list[Any]]] | None) -> Iterator[None]:
    """The platform's transaction beside a restore: the push lock, and (v2, when the backup
    carries one) the tenant's ledger replaced; it commits after the restore did."""
    with psycopg.connect(spec.platform_conninfo, application_name="flux restore") as conn:
        conn.execute("SET search_path TO pg_catalog")
        with conn.transaction():
            conn.execute(
                "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(%s, 0))",
                ("flux-push:" + spec.ledger_key,),
            )
            if spec.shared and ledger is not None:
                _replace_ledger(conn, spec.schema, ledger)
            yield


def _replace_ledger(
    conn: psycopg.Connection, schema: str, ledger: dict[str, list[list[Any]]]
) -> None:
    tables = {
        "versioned": ("flux_migrations", "version"),
        "repeatable": ("flux_repeatable_scripts", "script_id"),
    }
    for kind, (table, key) in tables.items():
        exists = conn.execute(
            "SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (f"flux.{table}",)
        ).fetchone()[0]
        rows = ledger.get(kind) or []
        if not exists:
            if rows:
                raise RestoreFailed("the backup has ledger rows but the ledger is missing")
            continue
        target = sql.Identifier("flux", table)
        conn.execute(sql.SQL("DELETE FROM {} WHERE tenant_schema = %s").format(target), (schema,))
        for row in rows:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (tenant_schema, {}, checksum, applied_at, applied_by,"
                    " duration_ms) VALUES (%s, %s, %s, %s::timestamptz, %s, %s)"
                ).format(target, sql.Identifier(key)),
                (schema, *row),
            )


def current_schema_grantees(spec: DatabaseSpec) -> list[str]:
    with psycopg.connect(spec.platform_conninfo) as conn:
        rows = conn.execute(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
            " ELSE a.grantee::pg_catalog.regrole::text END"
            " FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a"
            " WHERE n.nspname = %s",
            (spec.schema,),
        ).fetchall()
    return sorted({r[0] for r in rows})


def restore_into(
    spec: DatabaseSpec,
    archive: Path,
    entries: list[Entry],
    meta: dict[str, Any] | None,
    *,
    dbname: str | None = None,
    owner_conninfo: str | None = None,
    allowed_grantees: list[str] | None = None,
    timeout: float = RESTORE_TIMEOUT,
) -> None:
    """Restore `entries` of `archive` into the project's database (or `dbname`, a disposable
    one prepared for it). `meta` is the backup's metadata (None for an uploaded archive)."""
    if spec.shared:
        assert spec.ddl_role is not None and spec.runtime_role is not None
        target_db = dbname or conninfo_to_dict(spec.platform_conninfo).get("dbname") or ""
        allowed = allowed_grantees or [spec.ddl_role, spec.runtime_role]
        post = script.tenant_postamble(
            spec.schema,
            spec.ddl_role,
            spec.runtime_role,
            meta.get("grants") if meta else None,
            sorted({*allowed, spec.ddl_role, spec.runtime_role}),
        )
        with tenant_login(spec, target_db) as login:
            run_script(
                archive,
                entries,
                login,
                script.tenant_preamble(spec.schema, spec.ddl_role),
                post,
                timeout=timeout,
            )
        return
    login = owner_conninfo or spec.owner_conninfo
    assert login is not None
    run_script(archive, entries, login, script.project_preamble(), "", timeout=timeout)

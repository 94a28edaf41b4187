"""Applying planned files to a project database, one transaction per file.

A `PushSession` is one connection holding the project's push lock (a session advisory lock
keyed by the ledger key, waited for at most `push_lock_wait`). Each file runs in its own
transaction with `lock_timeout` and `statement_timeout` set, statement by statement, so a
failure names the statement; the server's error position is mapped back to the file's
line and column. The ledger row is written in the same transaction, so a file is either
fully applied and recorded, or not at all. A `Watchdog` on a second connection enforces the
platform's statement and lock maxima (which pushed SQL cannot raise) and cancels the push when
its client went away; a file it stops is rolled back like any failed file.

v2 (shared): the file runs as the tenant's DDL role with the tenant schema as search_path.
Because the session user is a superuser (who could `SET ROLE` back), every statement goes
through `pg_temp.flux_exec`, a SECURITY DEFINER function owned by the DDL role: inside a
security-definer frame PostgreSQL refuses any change of role or session authorization, even
from nested functions or dynamic SQL. The wrapper is re-verified (owner, SECURITY DEFINER,
ctid) in the same statement that calls it, and deferred triggers are fired inside the frame
before control returns to the superuser. Then, after `RESET ROLE`, with search_path pinned
to pg_catalog: FORCE RLS, the runtime-role ownership check, a check that the file shared
the tenant schema with no new role, the ledger row, and `NOTIFY pgrst, 'reload schema
t_<s>_api'`: PostgreSQL delivers it at commit, so every REST worker listening on the channel
starts reloading the tenant's schema cache the moment the file becomes visible (pool workers
accept it because the sender is a superuser session outside their pool).

v1 (dedicated): statements run as the database owner with search_path `api, public`; the
exposure audit then rejects the file (42501) if a table in the API schema is writable
without RLS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from flux.migrations import postchecks
from flux.migrations.adapt import AdaptedStatement, TenantNames, adapt_statement, identity
from flux.migrations.audit import Finding, classify
from flux.migrations.guard import SharedPolicy
from flux.migrations.ledger_tables import LedgerKind, LedgerRow, ensure_ledger, read_ledger, record
from flux.migrations.lexer import Statement, parse, position_of
from flux.migrations.report import PushError
from flux.migrations.summary import headline
from flux.migrations.target import PushLimits, PushTarget, interval
from flux.migrations.watchdog import Watchdog

_CREATE_EXEC = (
    "CREATE OR REPLACE FUNCTION pg_temp.flux_exec(stmt text) RETURNS void LANGUAGE plpgsql"
    " SECURITY DEFINER AS $flux$BEGIN EXECUTE stmt; END$flux$"
)
# One round trip: the wrapper runs only if it is still exactly what we created. The check
# runs as the DDL role, which cannot read function bodies or settings (catalog privacy,
# flux.engines.catalog_privacy), so it compares the catalog row's ctid instead: any
# CREATE OR REPLACE, ALTER or GRANT on the function writes a new row version at a new ctid,
# and the old one, deleted by this still-open transaction, can be neither seen nor reused.
_GUARDED_EXEC = (
    "SELECT pg_temp.flux_exec(%s) FROM pg_catalog.pg_proc p"
    " WHERE p.oid OPERATOR(pg_catalog.=) %s::pg_catalog.oid AND p.prosecdef"
    " AND p.proowner OPERATOR(pg_catalog.=) %s::pg_catalog.oid"
    " AND p.ctid OPERATOR(pg_catalog.=) %s::pg_catalog.tid"
)
_FIRE_DEFERRED = "SET CONSTRAINTS ALL IMMEDIATE"
RELOAD_CHANNEL = "pgrst"  # PostgREST's `db-channel` default, which flux rest listens on
_PIN_PATH = "SET LOCAL search_path TO pg_catalog, pg_temp"
_HINTS = {
    "55P03": "a table this file changes is locked by another session; retry, or raise lock_timeout",
    "57014": "a statement ran longer than statement_timeout",
}


@dataclass
class FileResult:
    duration_ms: int = 0
    error: PushError | None = None
    warnings: list[Finding] = field(default_factory=list)


class LockBusy(Exception):
    """Another push to the same project held the lock for longer than the wait limit."""

    def __init__(self, waited: str) -> None:
        super().__init__(f"another push to this project is in progress (waited {waited})")
        self.waited = waited


class PushStopped(Exception):
    """The watchdog stopped the push before a file ran (cancelled while waiting for the lock)."""


class _Rejected(Exception):
    """Raised inside a file's transaction to roll it back with a prepared error."""

    def __init__(self, error: PushError) -> None:
        super().__init__(error.message)
        self.error = error


def connect(target: PushTarget) -> psycopg.Connection:
    conn = psycopg.connect(target.conninfo, autocommit=True, application_name="flux push")
    conn.execute("SET search_path TO pg_catalog, pg_temp")
    return conn


def lock_key(target: PushTarget) -> str:
    return "flux-push:" + target.ledger_key


def shared_policy(conn: psycopg.Connection, target: PushTarget) -> SharedPolicy | None:
    if not target.shared:
        return None
    names = conn.execute("SELECT nspname::text FROM pg_namespace").fetchall()
    return SharedPolicy(target.schema, frozenset(n for (n,) in names))


def _error_offset(exc: psycopg.Error, adapted: AdaptedStatement) -> int | None:
    """0-based offset of the error in the adapted statement text, when the server gave one."""
    diag = exc.diag
    if diag.internal_query and diag.internal_position:
        base = adapted.text.find(diag.internal_query)
        if base >= 0:
            return base + int(diag.internal_position) - 1
    if diag.statement_position and not diag.internal_query:
        return int(diag.statement_position) - 1
    return None


def db_error(
    exc: psycopg.Error,
    file_name: str,
    sql_text: str,
    current: tuple[Statement, AdaptedStatement] | None,
) -> PushError:
    """A database error as a PushError placed in the file."""
    diag = exc.diag
    sqlstate = diag.sqlstate or getattr(exc, "sqlstate", None)
    message = diag.message_primary or (str(exc).strip().splitlines() or ["database error"])[0]
    line = column = None
    stmt_text = None
    if current is not None:
        stmt, adapted = current
        offset = _error_offset(exc, adapted)
        line, column = (
            (stmt.line, stmt.column)
            if offset is None
            else position_of(sql_text, adapted.original_offset(offset))
        )
        stmt_text = headline(stmt)
    code = "sql_error" if sqlstate else "connection_lost"
    return PushError(
        code,
        message,
        sqlstate,
        file_name,
        line,
        column,
        diag.message_detail,
        diag.message_hint or _HINTS.get(sqlstate or ""),
        stmt_text,
    )


def _place(
    error: PushError, file_name: str, current: tuple[Statement, AdaptedStatement] | None
) -> PushError:
    """A prepared error located in the file (at the running statement, if any)."""
    if current is None:
        return replace(error, file=file_name)
    stmt = current[0]
    return replace(
        error, file=file_name, line=stmt.line, column=stmt.column, statement=headline(stmt)
    )


class PushSession:
    """A connection to the project database holding the project's push lock."""

    def __init__(
        self,
        conn: psycopg.Connection,
        target: PushTarget,
        limits: PushLimits,
        watchdog: Watchdog,
    ) -> None:
        self.conn = conn
        self.target = target
        self.limits = limits
        self.watchdog = watchdog
        self.policy = shared_policy(conn, target)
        self._grantees: set[str] = set()  # schema grantees before the running file
        self._names = (
            TenantNames(target.runtime_role or "", target.schema) if target.shared else None
        )

    @classmethod
    @contextmanager
    def open(
        cls, target: PushTarget, limits: PushLimits, cancelled: threading.Event | None = None
    ) -> Iterator[PushSession]:
        """Connect, start the watchdog, create the ledger if needed, and take the push lock
        (or raise LockBusy, or PushStopped when `cancelled` is set while waiting for it)."""
        with connect(target) as conn:
            watchdog = Watchdog(target.conninfo, conn.info.backend_pid, limits, cancelled).start()
            try:
                ensure_ledger(conn)
                conn.execute(
                    "SELECT pg_catalog.set_config('lock_timeout', %s, false)",
                    (interval(limits.push_lock_wait),),
                )
                try:
                    conn.execute(
                        "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended(%s, 0))",
                        (lock_key(target),),
                    )
                except psycopg.errors.LockNotAvailable:
                    raise LockBusy(f"{limits.push_lock_wait:g}s") from None
                except psycopg.errors.QueryCanceled:
                    raise PushStopped(watchdog.describe()) from None
                conn.execute("RESET lock_timeout")
                yield cls(conn, target, limits, watchdog)
            finally:
                watchdog.stop()

    def ledger(self) -> list[LedgerRow]:
        return read_ledger(self.conn, self.target.ledger_key)

    def adapt(self, statement: Statement) -> AdaptedStatement:
        return adapt_statement(statement, self._names) if self._names else identity(statement)

    def apply(
        self,
        file_name: str,
        sql_text: str,
        key: str,
        kind: LedgerKind | None,
        digest: str,
        applied_by: str,
    ) -> FileResult:
        """Run one file and (unless `kind` is None, i.e. raw) its ledger row, atomically."""
        started = time.monotonic()
        current: tuple[Statement, AdaptedStatement] | None = None
        first_failure: psycopg.Error | None = None
        result = FileResult()
        if self.watchdog.fired():
            result.error = self._stopped(file_name, None)
            return result
        self.watchdog.file_started()
        try:
            with self.conn.transaction():
                try:
                    wrapper = self._begin()
                    for stmt in parse(sql_text):
                        current = (stmt, self.adapt(stmt))
                        self._run(current[1].text, wrapper)
                    current = None
                    result.warnings = self._finish(wrapper)
                    if kind is not None:
                        ms = int((time.monotonic() - started) * 1000)
                        record(self.conn, kind, self.target.ledger_key, key, digest, applied_by, ms)
                except psycopg.Error as exc:
                    first_failure = exc
                    raise
        except _Rejected as rejected:
            result.error = _place(rejected.error, file_name, current)
        except psycopg.Error as exc:
            if self.watchdog.fired():
                result.error = self._stopped(file_name, current)
            else:
                result.error = db_error(first_failure or exc, file_name, sql_text, current)
        finally:
            self.watchdog.file_ended()
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def _stopped(
        self, file_name: str, current: tuple[Statement, AdaptedStatement] | None
    ) -> PushError:
        """The error of a file the watchdog stopped (or never let start)."""
        code = "push_cancelled" if self.watchdog.fired() == "cancelled" else "push_timeout"
        error = PushError(
            code,
            self.watchdog.describe(),
            "57014",
            hint="nothing of this file was applied; split long work into smaller files"
            if code == "push_timeout"
            else "nothing of this file was applied; push again",
        )
        return _place(error, file_name, current)

    def _begin(self) -> tuple[int, int, str] | None:
        """Per-file settings; for v2 also the wrapper and the DDL role. Returns the wrapper's
        (oid, owner) for verification, or None on v1 (statements run directly)."""
        held = self.conn.execute(
            "SELECT pg_catalog.set_config('lock_timeout', %s, true),"
            " pg_catalog.set_config('statement_timeout', %s, true),"
            " pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended(%s, 0))",
            (
                interval(self.limits.lock_timeout),
                interval(self.limits.statement_timeout),
                lock_key(self.target),
            ),
        ).fetchone()
        if not (held and held[2]):
            raise _Rejected(
                PushError(
                    "push_lock_lost",
                    "the push lock was released and taken by another push",
                    hint="push again",
                )
            )
        schema = sql.Identifier(self.target.schema)
        if not self.target.shared:
            # Unqualified DDL lands in the exposed schema, as on v2.
            self.conn.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(schema))
            return None
        ddl = sql.Identifier(self.target.ddl_role or "")
        self._grantees = postchecks.schema_grantees(self.conn, self.target.schema)
        self.conn.execute(_CREATE_EXEC)
        self.conn.execute(sql.SQL("ALTER FUNCTION pg_temp.flux_exec(text) OWNER TO {}").format(ddl))
        row = self.conn.execute(
            "SELECT oid::bigint, proowner::bigint, ctid::text FROM pg_proc"
            " WHERE oid = 'pg_temp.flux_exec(text)'::regprocedure"
        ).fetchone()
        assert row is not None
        self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(ddl))
        self.conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
        return row[0], row[1], row[2]

    def _run(self, text: str, wrapper: tuple[int, int, str] | None) -> None:
        if wrapper is None:
            self.conn.execute(text.encode())
            return
        cur = self.conn.execute(_GUARDED_EXEC, (text, *wrapper))
        if cur.rowcount != 1:
            raise _Rejected(
                PushError(
                    "wrapper_tampered",
                    "the file altered Flux's execution wrapper",
                    sqlstate="42501",
                    hint="do not alter functions in pg_temp",
                )
            )

    def _finish(self, wrapper: tuple[int, int, str] | None) -> list[Finding]:
        """Post-file checks as the superuser; raises _Rejected to roll the file back."""
        self._run(_FIRE_DEFERRED, wrapper)
        if wrapper is not None:
            self.conn.execute("RESET ROLE")
        self.conn.execute(_PIN_PATH)
        if self.target.shared:
            postchecks.force_rls(self.conn, self.target.schema)
            role = self.target.runtime_role or ""
            owned = postchecks.runtime_owned(self.conn, role)
            if owned:
                raise _Rejected(
                    PushError(
                        "runtime_role_owns_objects",
                        f"the runtime role {role} owns {', '.join(owned[:5])}",
                        sqlstate="42501",
                        hint="objects must be owned by the project's DDL role",
                    )
                )
            allowed = self._grantees | {role, self.target.ddl_role or ""}
            added = postchecks.schema_grantees(self.conn, self.target.schema) - allowed
            if added:
                raise _Rejected(
                    PushError(
                        "schema_shared",
                        f"the file grants access to schema {self.target.schema} to "
                        f"{', '.join(sorted(added))}",
                        sqlstate="42501",
                        hint="a project's schema is only for its own roles; grant to "
                        "authenticated instead",
                    )
                )
            self.conn.execute(
                "SELECT pg_catalog.pg_notify(%s, %s)",
                (RELOAD_CHANNEL, f"reload schema {self.target.schema}"),
            )
            return []
        findings = classify(self.conn, self.target.schema)
        failures = [f for f in findings if f.level == "fail"]
        if failures:
            raise _Rejected(
                PushError(
                    "rls_audit",
                    failures[0].message,
                    sqlstate="42501",
                    detail="; ".join(f.message for f in failures[1:]) or None,
                    hint=failures[0].remediation,
                )
            )
        return findings

"""Temporary database logins of v2 tenants (`flux db`, issue 13).

A role `t_<s>_acc_<8 hex>` is a LOGIN that is a member of no role, with CONNECT on the shared
database, USAGE on its tenant's schema, and SELECT on the schema's tables, views and sequences;
a read-write one also INSERT, UPDATE, DELETE and sequence USAGE/UPDATE — never CREATE, never
ownership, so the schema changes only through `flux push`. It has BYPASSRLS (like a Supabase
project's `postgres` role, it is the operator's view of the tenant's own data; it reaches no
table it is not granted). `VALID UNTIL` is its expiry (a second belt: the platform drops
expired roles and ends their sessions), a connection limit bounds it, a read-only role starts
every transaction read-only. Other tenants' schemas, the ledger and the catalog database stay
closed to it; the shared catalog hides definitions from it like from every tenant role
(`flux.engines.catalog_privacy`). Passwords are set as SCRAM verifiers.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import psycopg
from psycopg import sql

from flux.engines.base import TenantNames
from flux.postgres.logins import drop_login, password_clause

ACCESS_ROLE_RE = re.compile(r"^t_[0-9a-f]{12}_acc_[0-9a-f]{8}$")
CONNECTION_LIMIT = 3
STATEMENT_TIMEOUT = "60s"
IDLE_TIMEOUT = "15min"


def new_role_name(names: TenantNames) -> str:
    assert names.runtime_role is not None
    return f"{names.runtime_role.removesuffix('_role')}_acc_{secrets.token_hex(4)}"


def grant_statements(schema: str, role: str, read_write: bool) -> list[sql.Composed]:
    """The privileges of an access role on its tenant's current objects (idempotent)."""
    s, r = sql.Identifier(schema), sql.Identifier(role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
    ]
    if read_write:
        statements += [
            sql.SQL("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
            sql.SQL("GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        ]
    return statements


def create(
    conn: psycopg.Connection,
    names: TenantNames,
    dbname: str,
    role: str,
    password: str,
    *,
    read_write: bool,
    valid_until: datetime,
) -> None:
    """Create the role with its privileges, in one transaction."""
    r = sql.Identifier(role)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE"
                " NOREPLICATION BYPASSRLS CONNECTION LIMIT {} VALID UNTIL {} {}"
            ).format(
                r,
                sql.Literal(CONNECTION_LIMIT),
                sql.Literal(valid_until.isoformat()),
                password_clause(conn, role, password),
            )
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), r)
        )
        for statement in grant_statements(names.schema, role, read_write):
            conn.execute(statement)
        for key, value in (
            ("search_path", names.schema),
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("idle_session_timeout", IDLE_TIMEOUT),
            ("default_transaction_read_only", "off" if read_write else "on"),
        ):
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    r, sql.Identifier(key), sql.Literal(value)
                )
            )


def drop(conn: psycopg.Connection, role: str) -> None:
    if not ACCESS_ROLE_RE.match(role):
        raise ValueError(f"{role!r} is not an access role")
    drop_login(conn, role)


def expired(conn: psycopg.Connection) -> list[str]:
    """Access roles whose VALID UNTIL has passed (whatever the catalog says)."""
    rows = conn.execute(
        "SELECT rolname::text FROM pg_catalog.pg_roles"
        " WHERE rolname ~ '^t_[0-9a-f]{12}_acc_[0-9a-f]{8}$'"
        " AND rolvaliduntil IS NOT NULL AND rolvaliduntil <= pg_catalog.now()"
    ).fetchall()
    return [r[0] for r in rows]

"""Short-lived login roles Flux creates for someone else (temporary database access, restores):
their password set as a SCRAM verifier computed here (the clear password never reaches the
server or its log), and their removal with everything granted to them, sessions ended first."""

from __future__ import annotations

import psycopg
from psycopg import sql


def password_clause(conn: psycopg.Connection, role: str, password: str) -> sql.Composed:
    """`PASSWORD '<SCRAM verifier>'` for `CREATE/ALTER ROLE`."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    return sql.SQL("PASSWORD {}").format(sql.Literal(verifier.decode()))


def drop_login(conn: psycopg.Connection, role: str) -> None:
    """End a login's sessions and drop it with whatever it was granted (autocommit conn, as a
    superuser, connected to the database where its privileges are)."""
    conn.execute(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
        " WHERE usename = %s",
        (role,),
    )
    if conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)).fetchone():
        for (db,) in conn.execute(
            "SELECT datname FROM pg_catalog.pg_database d WHERE datallowconn AND"
            " pg_catalog.has_database_privilege(%s, d.oid, 'CONNECT')",
            (role,),
        ).fetchall():
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                    sql.Identifier(db), sql.Identifier(role)
                )
            )
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

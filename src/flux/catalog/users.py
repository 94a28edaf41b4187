"""Typed catalog access: users and their project quota."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class User:
    id: int
    email: str
    is_admin: bool


@dataclass(frozen=True)
class ProjectAllowance:
    """How many projects a user owns and may own."""

    owned: int
    quota: int


def _user(row: dict) -> User:
    return User(row["id"], row["email"], row["is_admin"])


def create_user(
    conn: psycopg.Connection, email: str, password_hash: str | None, *, is_admin: bool = False
) -> User:
    row = conn.execute(
        "INSERT INTO users (email, password_hash, is_admin) VALUES (%s, %s, %s)"
        " RETURNING id, email, is_admin",
        (email, password_hash, is_admin),
    ).fetchone()
    return _user(row)


def get_user_by_email(conn: psycopg.Connection, email: str) -> User | None:
    row = conn.execute(
        "SELECT id, email, is_admin FROM users WHERE email = %s", (email,)
    ).fetchone()
    return _user(row) if row else None


def get_user(conn: psycopg.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT id, email, is_admin FROM users WHERE id = %s", (user_id,)).fetchone()
    return _user(row) if row else None


def project_allowance(
    conn: psycopg.Connection, user_id: int, *, lock: bool = False
) -> ProjectAllowance:
    """The user's owned-project count and quota.

    With `lock`, the user row stays locked until the caller's transaction ends, so concurrent
    creates by one user count each other. The count is a second statement on purpose: under
    READ COMMITTED it takes a fresh snapshot after the lock wait and so sees a project the
    previous lock holder committed (a subquery in the locking statement would not).
    """
    lock_clause = " FOR NO KEY UPDATE" if lock else ""
    quota = conn.execute(
        f"SELECT project_quota FROM users WHERE id = %s{lock_clause}", (user_id,)
    ).fetchone()["project_quota"]
    owned = conn.execute(
        "SELECT count(*) AS n FROM projects WHERE owner_id = %s", (user_id,)
    ).fetchone()["n"]
    return ProjectAllowance(owned=owned, quota=quota)


def set_project_quota(conn: psycopg.Connection, email: str, quota: int) -> User | None:
    """Set a user's project quota; the user, or None if no user has that email."""
    row = conn.execute(
        "UPDATE users SET project_quota = %s WHERE email = %s RETURNING id, email, is_admin",
        (quota, email),
    ).fetchone()
    return _user(row) if row else None

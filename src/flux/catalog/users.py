"""Typed catalog access: users."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class User:
    id: int
    email: str
    is_admin: bool


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

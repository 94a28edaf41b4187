"""Typed catalog access: API tokens. Only a sha256 of each token is stored (tokens carry 256
bits of randomness, so a fast hash is safe); the plaintext is returned once at creation.
Listings carry the preview (`prefix`), never the hash."""

from __future__ import annotations

import hashlib
import secrets

import psycopg

from flux.catalog.users import User

LIVE_PREFIX = "flx_live_"
TEST_PREFIX = "flx_test_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def preview(token: str) -> str:
    """The shown-anywhere part of a token: its kind and 4 random characters."""
    return token[:13] + "…"


# what a token's owner may see of it
_SHOWN = "id, name, prefix, created_at, last_used_at, revoked_at"


def issue_token(
    conn: psycopg.Connection, user_id: int, name: str, *, test: bool = False
) -> tuple[str, dict]:
    """A new token for `user_id`: (the plaintext, to show once; its listing row)."""
    token = (TEST_PREFIX if test else LIVE_PREFIX) + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES (%s, %s, %s, %s)"
        f" RETURNING {_SHOWN}",
        (user_id, name, hash_token(token), preview(token)),
    ).fetchone()
    return token, row


def create_token(conn: psycopg.Connection, user_id: int, name: str, *, test: bool = False) -> str:
    return issue_token(conn, user_id, name, test=test)[0]


def list_tokens(conn: psycopg.Connection, user_id: int) -> list[dict]:
    """The user's tokens, oldest first, revoked ones included."""
    return conn.execute(
        f"SELECT {_SHOWN} FROM api_tokens WHERE user_id = %s ORDER BY id", (user_id,)
    ).fetchall()


def get_token(conn: psycopg.Connection, user_id: int, token_id: int) -> dict | None:
    """One of the user's tokens (None if unknown or someone else's)."""
    return conn.execute(
        f"SELECT {_SHOWN} FROM api_tokens WHERE id = %s AND user_id = %s", (token_id, user_id)
    ).fetchone()


def revoke_token_id(conn: psycopg.Connection, user_id: int, token_id: int) -> dict | None:
    """Revoke one of the user's active tokens; its row, or None if it was not active."""
    return conn.execute(
        "UPDATE api_tokens SET revoked_at = now()"
        " WHERE id = %s AND user_id = %s AND revoked_at IS NULL"
        f" RETURNING {_SHOWN}",
        (token_id, user_id),
    ).fetchone()


def user_for_token(conn: psycopg.Connection, token: str) -> User | None:
    """The active token's user, or None. Touches last_used_at (committed with the caller's
    transaction) at most once a minute, so a busy token does not write on every call."""
    if not token.startswith((LIVE_PREFIX, TEST_PREFIX)):
        return None
    row = conn.execute(
        "WITH t AS (SELECT id, user_id, last_used_at FROM api_tokens"
        "  WHERE token_hash = %s AND revoked_at IS NULL),"
        " touched AS (UPDATE api_tokens a SET last_used_at = now() FROM t WHERE a.id = t.id"
        "  AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'))"
        " SELECT u.id, u.email, u.is_admin FROM t JOIN users u ON u.id = t.user_id",
        (hash_token(token),),
    ).fetchone()
    return User(row["id"], row["email"], row["is_admin"]) if row else None


def revoke_token(conn: psycopg.Connection, token: str) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (hash_token(token),),
    )
    return cur.rowcount == 1

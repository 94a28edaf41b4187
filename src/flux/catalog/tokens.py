"""Typed catalog access: API tokens. Only a sha256 of each token is stored (tokens carry 256
bits of randomness, so a fast hash is safe); the plaintext is returned once at creation."""

from __future__ import annotations

import hashlib
import secrets

import psycopg

from flux.catalog.users import User

LIVE_PREFIX = "flx_live_"
TEST_PREFIX = "flx_test_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: psycopg.Connection, user_id: int, name: str, *, test: bool = False) -> str:
    token = (TEST_PREFIX if test else LIVE_PREFIX) + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES (%s, %s, %s, %s)",
        (user_id, name, hash_token(token), token[:13] + "…"),
    )
    return token


def user_for_token(conn: psycopg.Connection, token: str) -> User | None:
    """The active token's user (and a last_used_at touch), or None."""
    if not token.startswith((LIVE_PREFIX, TEST_PREFIX)):
        return None
    row = conn.execute(
        "UPDATE api_tokens t SET last_used_at = now() FROM users u"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.id = t.user_id"
        " RETURNING u.id, u.email, u.is_admin",
        (hash_token(token),),
    ).fetchone()
    return User(row["id"], row["email"], row["is_admin"]) if row else None


def revoke_token(conn: psycopg.Connection, token: str) -> bool:
    cur = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
        (hash_token(token),),
    )
    return cur.rowcount == 1

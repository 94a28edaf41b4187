"""Typed catalog access: the audit log. Details are redacted before they are stored.

A row is normally written in the transaction of the change it records. A push changes another
database (the project's), so its row is written and committed *before* anything runs and its
outcome added to it afterwards (`amend`): an applied change can never lack its row, at worst
a row records an attempt whose outcome could not be written (the catalog went down meanwhile).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_SECRET_KEY = re.compile(r"secret|password|token|key|dsn", re.IGNORECASE)


def redact(details: Any) -> Any:
    if isinstance(details, dict):
        return {
            k: ("[redacted]" if _SECRET_KEY.search(str(k)) else redact(v))
            for k, v in details.items()
        }
    if isinstance(details, list):
        return [redact(v) for v in details]
    return details


def record(
    conn: psycopg.Connection,
    *,
    user_id: int | None,
    action: str,
    tenant_id: uuid.UUID | None = None,
    target: str | None = None,
    details: dict | None = None,
) -> int:
    """Insert one row; its id."""
    row = conn.execute(
        "INSERT INTO audit_log (user_id, action, tenant_id, target, details)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (user_id, action, tenant_id, target, Jsonb(redact(details or {}))),
    ).fetchone()
    assert row is not None
    return row["id"] if isinstance(row, dict) else row[0]


def amend(conn: psycopg.Connection, entry_id: int, details: dict) -> None:
    """Add `details` (redacted) to row `entry_id`'s details, e.g. the outcome of a push."""
    conn.execute(
        "UPDATE audit_log SET details = details || %s WHERE id = %s",
        (Jsonb(redact(details)), entry_id),
    )


def entries(
    conn: psycopg.Connection, *, tenant_id: uuid.UUID | None = None, limit: int = 100
) -> list[dict]:
    return conn.execute(
        "SELECT id, at, user_id, action, tenant_id, target, details FROM audit_log"
        " WHERE %s::uuid IS NULL OR tenant_id = %s ORDER BY id DESC LIMIT %s",
        (tenant_id, tenant_id, limit),
    ).fetchall()

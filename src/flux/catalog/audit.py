"""Typed catalog access: the audit log. Details are redacted before they are stored."""

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
) -> None:
    conn.execute(
        "INSERT INTO audit_log (user_id, action, tenant_id, target, details)"
        " VALUES (%s, %s, %s, %s, %s)",
        (user_id, action, tenant_id, target, Jsonb(redact(details or {}))),
    )


def entries(
    conn: psycopg.Connection, *, tenant_id: uuid.UUID | None = None, limit: int = 100
) -> list[dict]:
    return conn.execute(
        "SELECT id, at, user_id, action, tenant_id, target, details FROM audit_log"
        " WHERE %s::uuid IS NULL OR tenant_id = %s ORDER BY id DESC LIMIT %s",
        (tenant_id, tenant_id, limit),
    ).fetchall()

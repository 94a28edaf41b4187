"""Typed catalog access: custom domains (hostname → project)."""

from __future__ import annotations

import uuid

import psycopg


def add_domain(conn: psycopg.Connection, hostname: str, tenant_id: uuid.UUID) -> None:
    conn.execute("INSERT INTO domains (hostname, tenant_id) VALUES (%s, %s)", (hostname, tenant_id))


def owner_of(conn: psycopg.Connection, hostname: str) -> uuid.UUID | None:
    row = conn.execute("SELECT tenant_id FROM domains WHERE hostname = %s", (hostname,)).fetchone()
    return row["tenant_id"] if row else None


def list_domains(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[dict]:
    return conn.execute(
        "SELECT hostname, created_at FROM domains WHERE tenant_id = %s ORDER BY hostname",
        (tenant_id,),
    ).fetchall()


def remove_domain(conn: psycopg.Connection, hostname: str, tenant_id: uuid.UUID) -> bool:
    cur = conn.execute(
        "DELETE FROM domains WHERE hostname = %s AND tenant_id = %s", (hostname, tenant_id)
    )
    return cur.rowcount == 1

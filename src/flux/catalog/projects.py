"""Typed catalog access: projects. The jwt_secret is a secret: it leaves this module only
through `Project.jwt_secret` for the engine/credentials code that needs it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

_COLUMNS = (
    "tenant_id, slug, hash, owner_id, mode, plan, status, lifecycle_state, cluster_id,"
    " jwt_secret, rate_limit_per_minute, maintenance, runner_data, created_at,"
    " last_accessed_at"
)


@dataclass
class Project:
    tenant_id: uuid.UUID
    slug: str
    hash: str
    owner_id: int
    mode: str
    plan: str
    status: str
    lifecycle_state: str
    cluster_id: str | None
    jwt_secret: str = field(repr=False)
    rate_limit_per_minute: int | None
    maintenance: bool
    runner_data: dict
    created_at: datetime
    last_accessed_at: datetime | None


def insert_project(
    conn: psycopg.Connection,
    *,
    tenant_id: uuid.UUID,
    slug: str,
    hash_: str,
    owner_id: int,
    mode: str,
    plan: str,
    cluster_id: str | None,
    jwt_secret: str,
    status: str = "active",
    runner_data: dict | None = None,
) -> Project:
    row = conn.execute(
        "INSERT INTO projects (tenant_id, slug, hash, owner_id, mode, plan, cluster_id,"
        " jwt_secret, status, runner_data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {_COLUMNS}",
        (
            tenant_id,
            slug,
            hash_,
            owner_id,
            mode,
            plan,
            cluster_id,
            jwt_secret,
            status,
            Jsonb(runner_data or {}),
        ),
    ).fetchone()
    return Project(**row)


def get_by_hash(conn: psycopg.Connection, hash_: str) -> Project | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM projects WHERE hash = %s", (hash_,)).fetchone()
    return Project(**row) if row else None


def get_by_slug(conn: psycopg.Connection, owner_id: int, slug: str) -> Project | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM projects WHERE owner_id = %s AND slug = %s", (owner_id, slug)
    ).fetchone()
    return Project(**row) if row else None


def hash_taken(conn: psycopg.Connection, hash_: str) -> bool:
    return conn.execute("SELECT 1 FROM projects WHERE hash = %s", (hash_,)).fetchone() is not None


def list_for_owner(conn: psycopg.Connection, owner_id: int) -> list[Project]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM projects WHERE owner_id = %s ORDER BY created_at, slug",
        (owner_id,),
    ).fetchall()
    return [Project(**row) for row in rows]


def list_all(conn: psycopg.Connection) -> list[Project]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM projects ORDER BY created_at").fetchall()
    return [Project(**row) for row in rows]


def delete_project(conn: psycopg.Connection, tenant_id: uuid.UUID) -> None:
    conn.execute("DELETE FROM projects WHERE tenant_id = %s", (tenant_id,))


def set_jwt_secret(conn: psycopg.Connection, tenant_id: uuid.UUID, secret: str) -> None:
    conn.execute("UPDATE projects SET jwt_secret = %s WHERE tenant_id = %s", (secret, tenant_id))


def set_status(conn: psycopg.Connection, tenant_id: uuid.UUID, status: str) -> None:
    conn.execute("UPDATE projects SET status = %s WHERE tenant_id = %s", (status, tenant_id))


def set_runner_data(conn: psycopg.Connection, tenant_id: uuid.UUID, data: dict) -> None:
    conn.execute(
        "UPDATE projects SET runner_data = %s WHERE tenant_id = %s", (Jsonb(data), tenant_id)
    )

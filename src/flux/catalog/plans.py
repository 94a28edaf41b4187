"""Typed catalog access: plans (guardrails per project) and which plan a project is on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg

# the plan a project gets when nobody chose one, and the only one a non-admin may choose
DEFAULT_PLAN = "free"

_COLUMNS = "name, rate_limit_per_minute, statement_timeout, connection_limit, max_rows"


@dataclass(frozen=True)
class Plan:
    name: str
    rate_limit_per_minute: int
    statement_timeout: timedelta
    connection_limit: int
    max_rows: int | None

    @property
    def statement_timeout_ms(self) -> int:
        return int(self.statement_timeout.total_seconds() * 1000)


def get_plan(conn: psycopg.Connection, name: str) -> Plan | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM plans WHERE name = %s", (name,)).fetchone()
    return Plan(**row) if row else None


def list_plans(conn: psycopg.Connection) -> list[Plan]:
    """Every plan, smallest rate limit first (the order people compare them in)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM plans ORDER BY rate_limit_per_minute, name")
    return [Plan(**row) for row in rows]


def plan_names(conn: psycopg.Connection) -> list[str]:
    return [row["name"] for row in conn.execute("SELECT name FROM plans ORDER BY name")]


def assign_plan(conn: psycopg.Connection, tenant_id: uuid.UUID, name: str) -> bool:
    """Put a project on plan `name`; False if no such project."""
    cur = conn.execute("UPDATE projects SET plan = %s WHERE tenant_id = %s", (name, tenant_id))
    return cur.rowcount == 1

"""Typed catalog access: plans (guardrails per project)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg


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
    row = conn.execute(
        "SELECT name, rate_limit_per_minute, statement_timeout, connection_limit, max_rows"
        " FROM plans WHERE name = %s",
        (name,),
    ).fetchone()
    return Plan(**row) if row else None


def plan_names(conn: psycopg.Connection) -> list[str]:
    return [row["name"] for row in conn.execute("SELECT name FROM plans ORDER BY name")]

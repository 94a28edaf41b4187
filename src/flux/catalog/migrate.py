"""The catalog's own ordered migrations: sql/NNNN_*.sql applied once each, recorded in
`catalog_migrations`, serialised by an advisory lock so concurrent starts are safe."""

from __future__ import annotations

from importlib import resources

import psycopg

_LOCK_KEY = 0x466C7578  # "Flux"


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("flux.catalog") / "sql"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, (folder / name).read_text(encoding="utf-8")) for name in names]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending catalog migrations; returns the versions applied now."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS catalog_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM catalog_migrations")}
        for name, sql_text in migration_files():
            if name in done:
                continue
            conn.execute(sql_text)
            conn.execute("INSERT INTO catalog_migrations (version) VALUES (%s)", (name,))
            applied_now.append(name)
    return applied_now

"""Helpers for migrations tests: v2 tenants laid out per SPEC §6, a v1 database per §6.

Until flux.engines provisions tenants, these fixtures build the layout literally: roles
`t_<s>_role` (NOLOGIN NOINHERIT) and `t_<s>_ddl` (NOLOGIN), schema `t_<s>_api` owned by the
DDL role, default privileges, nothing for PUBLIC, and an `auth` schema with uid()/jwt().
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from flux.migrations import MigrationFile, PushTarget

AUTH_SQL = """
CREATE SCHEMA auth;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
CREATE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE AS $$ SELECT auth.jwt() ->> 'sub' $$;
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA auth FROM PUBLIC;
"""


@dataclass(frozen=True)
class Tenant:
    shortid: str
    conninfo: str

    @property
    def schema(self) -> str:
        return f"t_{self.shortid}_api"

    @property
    def role(self) -> str:
        return f"t_{self.shortid}_role"

    @property
    def ddl(self) -> str:
        return f"t_{self.shortid}_ddl"

    @property
    def target(self) -> PushTarget:
        return PushTarget("v2_shared", self.conninfo, self.schema, self.role, self.ddl, self.schema)

    @contextmanager
    def as_user(self, sub: str | None) -> Iterator[psycopg.Connection]:
        """A transaction acting like the REST pool: runtime role, tenant path, JWT claims."""
        with psycopg.connect(self.conninfo) as conn:
            conn.execute(f"SET LOCAL ROLE {self.role}")
            conn.execute(f"SET LOCAL search_path TO {self.schema}")
            claims = json.dumps({"sub": sub, "role": "authenticated"} if sub else {})
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims,))
            yield conn
            conn.rollback()


def provision(conninfo: str) -> Tenant:
    tenant = Tenant(uuid.uuid4().hex[:12], conninfo)
    s, r, d = tenant.schema, tenant.role, tenant.ddl
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(f"""
            CREATE ROLE {r} NOLOGIN NOINHERIT;
            CREATE ROLE {d} NOLOGIN;
            CREATE SCHEMA {s} AUTHORIZATION {d};
            GRANT USAGE ON SCHEMA {s} TO {r};
            ALTER DEFAULT PRIVILEGES FOR ROLE {d} IN SCHEMA {s} GRANT SELECT ON TABLES TO {r};
            ALTER DEFAULT PRIVILEGES FOR ROLE {d} IN SCHEMA {s} GRANT EXECUTE ON FUNCTIONS TO {r};
            ALTER DEFAULT PRIVILEGES FOR ROLE {d} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
            ALTER ROLE {r} SET search_path = {s};
            GRANT USAGE ON SCHEMA auth TO {r}, {d};
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO {r}, {d};
        """)
    return tenant


V1_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF;
END $$;
CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO anon, authenticated, service_role;
"""


def files(**named: str) -> list[MigrationFile]:
    """MigrationFiles from keyword arguments: files(f001_init="...") → 001_init.sql."""
    return [
        MigrationFile.from_text(name.removeprefix("f") + ".sql", sql) for name, sql in named.items()
    ]


def scalar(conninfo: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None

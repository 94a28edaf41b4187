"""A pool-mode tenant in a test database, set up the way the v2 engine does it: a runtime role
that logs in (password derived from the pool secret) and may run the session reset."""

from __future__ import annotations

import psycopg
from psycopg import sql

from flux.engines.v2_shared import login_statements
from flux.rest.tenant_pool import RESET_SESSION_DDL


def make_pool_tenant(conninfo: str, short: str, pool_secret: str) -> str:
    """Create `t_<short>_role` (a login) and schema `t_<short>_api` it owns; the schema."""
    role, schema = f"t_{short}_role", f"t_{short}_api"
    dbname = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(RESET_SESSION_DDL)
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        for statement in login_statements(role, dbname, pool_secret):
            conn.execute(statement)
        conn.execute(
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
    return schema

"""The v2 shared engine: many tenants in one cluster, isolated by schema + role (SPEC §6).

A shared database is prepared once (`prepare_shared_database`): an `auth` schema with
`auth.uid()`/`auth.jwt()`, the reserved `flux` schema, the REST pool's login role and the
control plane's migration role, and nothing granted to PUBLIC. Each project then gets, in one
transaction, a runtime role, a DDL role and a schema with default privileges and guardrails.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from flux.catalog.plans import Plan
from flux.catalog.projects import Project
from flux.engines.auth_sql import AUTH_SCHEMA_SQL, ensure_roles_sql
from flux.engines.base import TenantNames
from flux.naming import shortid, tenant_ddl_role, tenant_role, tenant_schema

POOL_LOGIN_ROLE = "flux_authenticator"
MIGRATION_ROLE = "flux_migrator"

_PREPARE = (
    AUTH_SCHEMA_SQL
    + ensure_roles_sql({POOL_LOGIN_ROLE: "LOGIN NOINHERIT", MIGRATION_ROLE: "NOLOGIN"})
    + """
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS flux;
REVOKE ALL ON SCHEMA flux FROM PUBLIC;
"""
)


def prepare_shared_database(conninfo: str, dbname: str, authenticator_password: str) -> None:
    """Idempotent one-time set-up of a shared database (run as a superuser)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_PREPARE)
        conn.execute(
            sql.SQL("ALTER ROLE flux_authenticator PASSWORD {}").format(
                sql.Literal(authenticator_password)
            )
        )
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO flux_authenticator").format(
                sql.Identifier(dbname)
            )
        )


def names_for(project: Project) -> TenantNames:
    short = shortid(project.tenant_id)
    return TenantNames(tenant_schema(short), tenant_role(short), tenant_ddl_role(short))


def provision_statements(names: TenantNames, plan: Plan) -> list[sql.Composed]:
    """The exact DDL of SPEC §6 for one tenant, in order."""
    schema = sql.Identifier(names.schema)
    role = sql.Identifier(names.runtime_role)
    ddl = sql.Identifier(names.ddl_role)
    return [
        sql.SQL("CREATE ROLE {} NOLOGIN NOINHERIT CONNECTION LIMIT {}").format(
            role, sql.Literal(plan.connection_limit)
        ),
        sql.SQL("CREATE ROLE {} NOLOGIN").format(ddl),
        sql.SQL("GRANT {} TO {}").format(role, sql.Identifier(POOL_LOGIN_ROLE)),
        sql.SQL("GRANT {} TO {}").format(ddl, sql.Identifier(MIGRATION_ROLE)),
        sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, ddl),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(ddl, schema, role),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT EXECUTE ON FUNCTIONS TO {}"
        ).format(ddl, schema, role),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
        ).format(ddl),
        sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
            role, sql.Literal(f"{plan.statement_timeout_ms}ms")
        ),
        sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, schema),
        sql.SQL("ALTER ROLE {} SET search_path = {}").format(ddl, schema),
        sql.SQL("GRANT USAGE ON SCHEMA auth TO {}, {}").format(role, ddl),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO {}, {}").format(role, ddl),
    ]


class SharedEngine:
    """v2_shared on one shared database reachable through `conninfo` (a superuser)."""

    mode = "v2_shared"

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def names(self, project: Project) -> TenantNames:
        return names_for(project)

    def admin_conninfo(self, project: Project) -> str:
        return self.conninfo

    def provision(self, project: Project, plan: Plan) -> None:
        names = names_for(project)
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            for statement in provision_statements(names, plan):
                conn.execute(statement)

    def delete(self, project: Project) -> None:
        names = names_for(project)
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (names.ddl_role,)
            ).fetchone()
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(names.schema))
            )
            _forget_ledger(conn, names.schema)
            for role in (names.ddl_role, names.runtime_role):
                if exists:
                    conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def credentials(self, project: Project) -> dict:
        return {
            "mode": self.mode,
            "jwtSecret": project.jwt_secret,
            "apiSchema": names_for(project).schema,
        }


def _forget_ledger(conn: psycopg.Connection, tenant_schema_name: str) -> None:
    """Drop the tenant's ledger rows (the ledger tables exist once a push has happened)."""
    for table in ("flux_migrations", "flux_repeatable_scripts"):
        qualified = f"flux.{table}"
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()[0]:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant_schema = %s").format(
                    sql.Identifier("flux", table)
                ),
                (tenant_schema_name,),
            )

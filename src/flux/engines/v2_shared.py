"""The v2 shared engine: many tenants in one cluster, isolated by schema + role (SPEC §6).

A shared database is prepared once (`prepare_shared_database`): an `auth` schema with
`auth.uid()`/`auth.jwt()`, the reserved `flux` schema, the REST pool's platform login role,
the control plane's migration role, the pool's session-reset function, and nothing granted to
PUBLIC. Each project then gets, in one transaction, a runtime role, a DDL role and a schema
with default privileges and guardrails.

Isolation at request time rests on PostgreSQL's own role membership: the runtime role is the
*login* of the tenant's pool connections (password derived from the pool secret, stored only
as a SCRAM verifier) and is a member of nothing, so no SQL a tenant writes can switch to any
other role. The pool's platform role (`flux_authenticator`) is a member of no tenant role; it
only reads catalogs for the schema cache. This was chosen over running each request inside a
security-definer function: deferred triggers fire at COMMIT, outside any function, as the
session's role, so a membership-based session would still escape; a login with no
memberships has nothing to escape to, whatever runs when.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from flux.backups.spec import TENANT_EXPORT, DatabaseSpec
from flux.catalog.plans import Plan
from flux.catalog.projects import Project
from flux.engines import access_roles
from flux.engines.auth_sql import AUTH_SCHEMA_SQL, ensure_roles_sql
from flux.engines.base import TenantNames
from flux.engines.catalog_privacy import hide_tenant_definitions
from flux.engines.scram import scram_verifier
from flux.naming import shortid, tenant_ddl_role, tenant_role, tenant_schema
from flux.rest.tenant_login import login_password
from flux.rest.tenant_pool import RESET_SESSION_DDL, RESET_SESSION_SCHEMA

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
    + RESET_SESSION_DDL
)
# Tenants provisioned before runtime roles became logins: still members of the pool role.
_LEGACY_TENANTS = """
SELECT r.rolname FROM pg_catalog.pg_auth_members m
JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
JOIN pg_catalog.pg_roles p ON p.oid = m.member
WHERE p.rolname = %s AND r.rolname ~ '^t_[0-9a-f]{12}_role$'
"""


def prepare_shared_database(
    conninfo: str, dbname: str, authenticator_password: str, *, pool_secret: str
) -> None:
    """Idempotent one-time set-up of a shared database (run as a superuser); also turns the
    runtime roles of tenants provisioned by earlier versions into member-of-nothing logins."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_PREPARE)
        hide_tenant_definitions(conn, (POOL_LOGIN_ROLE,))
        for (role,) in conn.execute(_LEGACY_TENANTS, (POOL_LOGIN_ROLE,)).fetchall():
            with conn.transaction():
                for statement in login_statements(role, dbname, pool_secret):
                    conn.execute(statement)
                conn.execute(
                    sql.SQL("REVOKE {} FROM {}").format(
                        sql.Identifier(role), sql.Identifier(POOL_LOGIN_ROLE)
                    )
                )
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


def login_statements(role_name: str, dbname: str, pool_secret: str) -> list[sql.Composed]:
    """Make a runtime role the login of its tenant's pool connections (and nothing more)."""
    role = sql.Identifier(role_name)
    verifier = scram_verifier(login_password(pool_secret, role_name))
    return [
        sql.SQL("ALTER ROLE {} LOGIN NOINHERIT PASSWORD {}").format(role, sql.Literal(verifier)),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), role),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(RESET_SESSION_SCHEMA), role
        ),
        sql.SQL("GRANT EXECUTE ON FUNCTION flux_pool.reset_session() TO {}").format(role),
        # a pool connection whose request was abandoned stops its query within a second
        sql.SQL("ALTER ROLE {} SET client_connection_check_interval = '1s'").format(role),
    ]


def provision_statements(
    names: TenantNames, plan: Plan, dbname: str, pool_secret: str
) -> list[sql.Composed]:
    """The DDL of SPEC §6 for one tenant, in order (the runtime role logs in, see above)."""
    schema = sql.Identifier(names.schema)
    role = sql.Identifier(names.runtime_role)
    ddl = sql.Identifier(names.ddl_role)
    return [
        sql.SQL("CREATE ROLE {} NOLOGIN NOINHERIT CONNECTION LIMIT {}").format(
            role, sql.Literal(plan.connection_limit)
        ),
        *login_statements(names.runtime_role, dbname, pool_secret),
        sql.SQL("CREATE ROLE {} NOLOGIN").format(ddl),
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


def disposable_tenant_sql(names: TenantNames) -> str:
    """A disposable database laid out like the shared one for one tenant (restore checks)."""
    schema, role, ddl = (
        sql.Identifier(n).as_string(None)
        for n in (names.schema, names.runtime_role, names.ddl_role)
    )
    return (
        AUTH_SCHEMA_SQL
        + f"""
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA {schema} AUTHORIZATION {ddl};
GRANT USAGE ON SCHEMA {schema} TO {role};
ALTER DEFAULT PRIVILEGES FOR ROLE {ddl} IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role};
ALTER DEFAULT PRIVILEGES FOR ROLE {ddl} IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {role};
ALTER DEFAULT PRIVILEGES FOR ROLE {ddl} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA auth TO {role}, {ddl};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO {role}, {ddl};
"""
    )


class SharedEngine:
    """v2_shared on one shared database reachable through `conninfo` (a superuser)."""

    mode = "v2_shared"

    def __init__(self, conninfo: str, *, pool_secret: str) -> None:
        self.conninfo = conninfo
        self.dbname = conninfo_to_dict(conninfo).get("dbname") or "postgres"
        self._pool_secret = pool_secret

    def names(self, project: Project) -> TenantNames:
        return names_for(project)

    def admin_conninfo(self, project: Project) -> str:
        return self.conninfo

    def provision(self, project: Project, plan: Plan) -> None:
        names = names_for(project)
        with psycopg.connect(self.conninfo) as conn, conn.transaction():
            for statement in provision_statements(names, plan, self.dbname, self._pool_secret):
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
            conn.execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
                " WHERE usename = %s",
                (names.runtime_role,),
            )
            for role in (names.ddl_role, names.runtime_role):
                if exists:
                    conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def backup_spec(self, project: Project) -> DatabaseSpec:
        names = names_for(project)
        return DatabaseSpec(
            kind=TENANT_EXPORT,
            platform_conninfo=self.conninfo,
            schema=names.schema,
            ledger_key=names.schema,
            disposable_sql=disposable_tenant_sql(names),
            ddl_role=names.ddl_role,
            runtime_role=names.runtime_role,
        )

    def open_access(
        self, project: Project, *, read_write: bool, valid_until: datetime
    ) -> dict[str, str | int]:
        """A temporary login for `flux db` (flux.engines.access_roles); its connection fields."""
        names = names_for(project)
        role = access_roles.new_role_name(names)
        password = secrets.token_urlsafe(24)
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            access_roles.create(
                conn,
                names,
                self.dbname,
                role,
                password,
                read_write=read_write,
                valid_until=valid_until,
            )
        port = conninfo_to_dict(self.conninfo).get("port") or "5432"
        return {
            "user": role,
            "password": password,
            "host": "127.0.0.1",
            "port": int(port),
            "database": self.dbname,
        }

    def close_access(self, role: str) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            access_roles.drop(conn, role)

    def refresh_access(self, project: Project, role: str, *, read_write: bool) -> None:
        """Privileges on objects created since the role was (a push or a restore)."""
        schema = names_for(project).schema
        with psycopg.connect(self.conninfo, autocommit=True) as conn, conn.transaction():
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                for statement in access_roles.grant_statements(schema, role, read_write):
                    conn.execute(statement)

    def expired_access(self) -> list[str]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return access_roles.expired(conn)

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

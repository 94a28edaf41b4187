"""v2 checks that run after a file's SQL, as the superuser, in the file's transaction.

`force_rls` turns on FORCE ROW LEVEL SECURITY for every RLS-enabled table of the tenant
schema unless its comment contains `flux:no-force-rls` (so the owning DDL role is bound by
its policies too). `runtime_owned` lists objects the runtime role owns in this database;
a push that leaves any is rejected. `schema_grantees` lists who may use the tenant schema:
a file may not add anyone (another tenant's role, PUBLIC) besides the tenant's own roles, since
schema USAGE is the gate to every object in it. The caller has pinned `search_path`.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

OPT_OUT = "flux:no-force-rls"


def force_rls(conn: psycopg.Connection, schema: str) -> list[str]:
    """Force RLS where enabled and not opted out; returns the tables changed."""
    rows = conn.execute(
        """
        SELECT n.nspname::text, c.relname::text
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
           AND c.relrowsecurity AND NOT c.relforcerowsecurity
           AND strpos(coalesce(obj_description(c.oid, 'pg_class'), ''), %s) = 0
         ORDER BY c.relname
        """,
        (schema, OPT_OUT),
    ).fetchall()
    for nsp, rel in rows:
        conn.execute(
            sql.SQL("ALTER TABLE {}.{} FORCE ROW LEVEL SECURITY").format(
                sql.Identifier(nsp), sql.Identifier(rel)
            )
        )
    return [rel for _, rel in rows]


def runtime_owned(conn: psycopg.Connection, role: str) -> list[str]:
    """Descriptions of the objects `role` owns in the current database."""
    rows = conn.execute(
        """
        SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
          FROM pg_shdepend d
         WHERE d.deptype = 'o'
           AND d.refclassid = 'pg_authid'::regclass
           AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = %s)
           AND d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY 1
        """,
        (role,),
    ).fetchall()
    return [r[0] for r in rows]


def schema_grantees(conn: psycopg.Connection, schema: str) -> set[str]:
    """Roles holding any privilege on `schema` (`PUBLIC` for the pseudo-role)."""
    rows = conn.execute(
        """
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
          FROM pg_namespace n, aclexplode(n.nspacl) a
         WHERE n.nspname = %s
        """,
        (schema,),
    ).fetchall()
    return {r[0] for r in rows}

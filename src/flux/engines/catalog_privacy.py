"""Catalog confidentiality in the v2 shared database (SPEC §11, last paragraph).

Every tenant of a shared database reads the same `pg_catalog`, and by default PUBLIC can read
all of it: another tenant's function bodies (`pg_proc.prosrc`), view definitions
(`pg_rewrite.ev_action`, `pg_get_viewdef`), policy expressions (`pg_policy.polqual`,
`pg_policies`), defaults, checks, trigger and index expressions. `hide_tenant_definitions`
(run once per shared database, as a superuser, idempotent, in one transaction) closes every
path we know of while leaving object *names* visible (not promised, SPEC §11):

- catalog tables: PUBLIC keeps SELECT on every column except those of `HIDDEN_COLUMNS`
  (table-level SELECT revoked, column-level SELECT granted back);
- deparsing functions: EXECUTE on `HIDDEN_FUNCTIONS` is revoked from PUBLIC (they read the
  catalogs with no privilege check of their own);
- system views that show other owners' definitions to anyone (`HIDDEN_VIEWS`): SELECT is
  revoked from PUBLIC. The other `information_schema` views stay: they only show
  definitions of objects the caller owns or has privileges on (a tenant never has any on
  another tenant's objects); `pg_stats`, `pg_stats_ext*` filter the same way and
  `pg_statistic*` were superuser-only already.

A tenant reads its *own* definitions through `flux_meta` (usable by every role): SECURITY
DEFINER functions owned by `CATALOG_READER` (a no-login role holding just the hidden columns
and deparsers) that answer only for objects in the caller's tenant schema or owned by the
caller's tenant roles, and NULL/no rows otherwise. Inside a security-definer function
`current_user` is the owner, so the caller is the role set with `SET ROLE` (migrations run as
`SET LOCAL ROLE t_<s>_ddl`, and inside their security-definer frame no role change is
possible) or else the session user (pool connections log in as `t_<s>_role`, a member of
nothing, so `SET ROLE` cannot change it either). "Own" means: in schema `t_<s>_api` (only the
platform creates schemas) or owned by `t_<s>_ddl`/`t_<s>_role`. Each security-definer function
pins `search_path = pg_catalog, pg_temp`; the helpers `caller_schema()` and `owns()` carry no
SET clause so they inline into them; every name in all of them is qualified.

Platform readers (the REST pool's `flux_authenticator`, whose schema cache needs view
target lists and column defaults) get the hidden columns they read granted by name.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from flux.engines.auth_sql import ensure_roles_sql

CATALOG_READER = "flux_catalog_reader"
META_SCHEMA = "flux_meta"

HIDDEN_COLUMNS: dict[str, tuple[str, ...]] = {
    "pg_proc": ("prosrc", "probin", "prosqlbody", "proargdefaults", "proconfig"),
    "pg_rewrite": ("ev_action", "ev_qual"),
    "pg_policy": ("polqual", "polwithcheck"),
    "pg_attrdef": ("adbin",),
    "pg_constraint": ("conbin",),
    "pg_trigger": ("tgqual", "tgargs"),
    "pg_index": ("indexprs", "indpred"),
    "pg_type": ("typdefaultbin", "typdefault"),
    "pg_class": ("relpartbound",),
    "pg_attribute": ("attmissingval",),
    "pg_partitioned_table": ("partexprs",),
    "pg_statistic_ext": ("stxexprs",),
    "pg_aggregate": ("agginitval", "aggminitval"),
    "pg_publication_rel": ("prqual",),
}

HIDDEN_FUNCTIONS: tuple[str, ...] = (
    "pg_get_functiondef(oid)",
    "pg_get_function_sqlbody(oid)",
    "pg_get_function_arguments(oid)",  # prints argument default expressions
    "pg_get_function_arg_default(oid, integer)",
    "pg_get_viewdef(oid)",
    "pg_get_viewdef(oid, boolean)",
    "pg_get_viewdef(oid, integer)",
    "pg_get_viewdef(text)",
    "pg_get_viewdef(text, boolean)",
    "pg_get_ruledef(oid)",
    "pg_get_ruledef(oid, boolean)",
    "pg_get_expr(pg_node_tree, oid)",
    "pg_get_expr(pg_node_tree, oid, boolean)",
    "pg_get_triggerdef(oid)",
    "pg_get_triggerdef(oid, boolean)",
    "pg_get_constraintdef(oid)",
    "pg_get_constraintdef(oid, boolean)",
    "pg_get_indexdef(oid)",
    "pg_get_indexdef(oid, integer, boolean)",
    "pg_get_partkeydef(oid)",
    "pg_get_partition_constraintdef(oid)",
    "pg_get_statisticsobjdef(oid)",
    "pg_get_statisticsobjdef_expressions(oid)",
)

HIDDEN_VIEWS: tuple[tuple[str, str], ...] = (
    ("pg_catalog", "pg_views"),
    ("pg_catalog", "pg_matviews"),
    ("pg_catalog", "pg_rules"),
    ("pg_catalog", "pg_indexes"),
    ("pg_catalog", "pg_policies"),
    ("information_schema", "domains"),  # domain defaults of every type with USAGE (PUBLIC)
)

# What the REST schema cache reads (src/flux/rest/schema_cache.py).
PLATFORM_READER_COLUMNS: dict[str, tuple[str, ...]] = {
    "pg_rewrite": ("ev_action",),
    "pg_attrdef": ("adbin",),
}
PLATFORM_READER_FUNCTIONS: tuple[str, ...] = ("pg_get_expr(pg_node_tree, oid)",)

_COLUMNS = """
SELECT a.attname::text FROM pg_catalog.pg_attribute a
WHERE a.attrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass AND NOT a.attisdropped
ORDER BY a.attnum
"""

# The caller's tenant schema (NULL for any role that is not a tenant's) and the ownership test.
_META_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
REVOKE ALL ON SCHEMA {META_SCHEMA} FROM PUBLIC;
GRANT USAGE ON SCHEMA {META_SCHEMA} TO PUBLIC;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.caller_schema() RETURNS pg_catalog.name
LANGUAGE sql STABLE AS $fn$
  SELECT (pg_catalog.substring(
    CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.<>) 'none'
         THEN pg_catalog.current_setting('role')
         ELSE SESSION_USER::pg_catalog.text END,
    '^(t_[0-9a-f]{{12}})_(?:role|ddl)$') OPERATOR(pg_catalog.||) '_api')::pg_catalog.name
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.owns(nsp pg_catalog.oid, owner pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(
    nsp::pg_catalog.regnamespace::pg_catalog.text
      OPERATOR(pg_catalog.=) {META_SCHEMA}.caller_schema()::pg_catalog.text
    OR pg_catalog.pg_get_userbyid(owner)::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY[
      pg_catalog.replace({META_SCHEMA}.caller_schema()::pg_catalog.text, '_api', '_ddl'),
      pg_catalog.replace({META_SCHEMA}.caller_schema()::pg_catalog.text, '_api', '_role')]),
    false)
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.function_source(fn pg_catalog.regprocedure)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN p.prosqlbody IS NULL THEN p.prosrc
              ELSE pg_catalog.pg_get_function_sqlbody(p.oid) END
  FROM pg_catalog.pg_proc p
  WHERE p.oid OPERATOR(pg_catalog.=) fn::pg_catalog.oid
    AND {META_SCHEMA}.owns(p.pronamespace, p.proowner)
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.function_definition(fn pg_catalog.regprocedure)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT pg_catalog.pg_get_functiondef(p.oid)
  FROM pg_catalog.pg_proc p
  WHERE p.oid OPERATOR(pg_catalog.=) fn::pg_catalog.oid AND p.prokind OPERATOR(pg_catalog.<>) 'a'
    AND {META_SCHEMA}.owns(p.pronamespace, p.proowner)
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.view_definition(rel pg_catalog.regclass)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT pg_catalog.pg_get_viewdef(c.oid, true)
  FROM pg_catalog.pg_class c
  WHERE c.oid OPERATOR(pg_catalog.=) rel::pg_catalog.oid AND c.relkind IN ('v', 'm')
    AND {META_SCHEMA}.owns(c.relnamespace, c.relowner)
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.policies(rel pg_catalog.regclass DEFAULT NULL)
RETURNS TABLE (table_name pg_catalog.regclass, policy_name pg_catalog.name, command text,
               permissive boolean, roles pg_catalog.name[], using_expr text, check_expr text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT c.oid::pg_catalog.regclass, pol.polname,
         CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                         WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
         pol.polpermissive,
         CASE WHEN pol.polroles OPERATOR(pg_catalog.=) '{{0}}'::pg_catalog.oid[]
              THEN ARRAY['public']::pg_catalog.name[]
              ELSE ARRAY(SELECT r.rolname FROM pg_catalog.pg_roles r
                         WHERE r.oid OPERATOR(pg_catalog.=) ANY (pol.polroles)
                         ORDER BY r.rolname) END,
         pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
         pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)
  FROM pg_catalog.pg_policy pol
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) pol.polrelid
  WHERE (rel IS NULL OR c.oid OPERATOR(pg_catalog.=) rel::pg_catalog.oid)
    AND {META_SCHEMA}.owns(c.relnamespace, c.relowner)
  ORDER BY c.relname, pol.polname
$fn$;

CREATE OR REPLACE FUNCTION {META_SCHEMA}.definitions(rel pg_catalog.regclass DEFAULT NULL)
RETURNS TABLE (relation pg_catalog.regclass, kind text, name text, definition text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  WITH own AS (
    SELECT c.oid, c.relkind, c.relname FROM pg_catalog.pg_class c
    WHERE (rel IS NULL OR c.oid OPERATOR(pg_catalog.=) rel::pg_catalog.oid)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND {META_SCHEMA}.owns(c.relnamespace, c.relowner)
  ), defs AS (
    SELECT own.oid, own.relname, 0 AS ord, 'view' AS kind, own.relname::text AS name,
           pg_catalog.pg_get_viewdef(own.oid, true) AS definition
    FROM own WHERE own.relkind IN ('v', 'm')
    UNION ALL
    SELECT own.oid, own.relname, 1,
           CASE WHEN a.attgenerated OPERATOR(pg_catalog.=) 's' THEN 'generated'
                ELSE 'default' END,
           a.attname::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
    FROM own JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) own.oid
    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid
     AND a.attnum OPERATOR(pg_catalog.=) d.adnum
    UNION ALL
    SELECT own.oid, own.relname, 2, 'constraint', co.conname::text,
           pg_catalog.pg_get_constraintdef(co.oid, true)
    FROM own JOIN pg_catalog.pg_constraint co ON co.conrelid OPERATOR(pg_catalog.=) own.oid
    UNION ALL
    SELECT own.oid, own.relname, 3, 'index', ic.relname::text,
           pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM own JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) own.oid
    JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
    UNION ALL
    SELECT own.oid, own.relname, 4, 'trigger', t.tgname::text,
           pg_catalog.pg_get_triggerdef(t.oid, true)
    FROM own JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) own.oid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT own.oid, own.relname, 5, 'rule', ru.rulename::text,
           pg_catalog.pg_get_ruledef(ru.oid, true)
    FROM own JOIN pg_catalog.pg_rewrite ru ON ru.ev_class OPERATOR(pg_catalog.=) own.oid
    WHERE ru.rulename OPERATOR(pg_catalog.<>) '_RETURN'
    UNION ALL
    SELECT own.oid, own.relname, 6, 'policy', pol.polname::text,
           pg_catalog.concat_ws(' ',
             'USING (' OPERATOR(pg_catalog.||)
               pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) OPERATOR(pg_catalog.||) ')',
             'WITH CHECK (' OPERATOR(pg_catalog.||)
               pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)
               OPERATOR(pg_catalog.||) ')')
    FROM own JOIN pg_catalog.pg_policy pol ON pol.polrelid OPERATOR(pg_catalog.=) own.oid
    UNION ALL
    SELECT own.oid, own.relname, 7, 'partition key', own.relname::text,
           pg_catalog.pg_get_partkeydef(own.oid)
    FROM own WHERE own.relkind OPERATOR(pg_catalog.=) 'p'
  )
  SELECT defs.oid::pg_catalog.regclass, defs.kind, defs.name, defs.definition FROM defs
  ORDER BY defs.relname, defs.ord, defs.name
$fn$;
"""

_DEFINER_FUNCTIONS = (
    "function_source(pg_catalog.regprocedure)",
    "function_definition(pg_catalog.regprocedure)",
    "view_definition(pg_catalog.regclass)",
    "policies(pg_catalog.regclass)",
    "definitions(pg_catalog.regclass)",
)
_HELPER_FUNCTIONS = ("caller_schema()", "owns(pg_catalog.oid, pg_catalog.oid)")


def _function(signature: str) -> sql.Composable:
    return sql.SQL("pg_catalog.") + sql.SQL(signature)


def _catalog_table(name: str) -> sql.Identifier:
    return sql.Identifier("pg_catalog", name)


def _hide_columns(conn: psycopg.Connection) -> None:
    for table, hidden in HIDDEN_COLUMNS.items():
        ident = _catalog_table(table)
        every = [name for (name,) in conn.execute(_COLUMNS, (f"pg_catalog.{table}",))]
        missing = sorted(set(hidden) - set(every))
        if missing:
            raise RuntimeError(f"pg_catalog.{table} has no column {', '.join(missing)}")
        columns = [name for name in every if name not in hidden]
        # Revoking the table privilege drops PUBLIC's column privileges too: a clean slate.
        conn.execute(sql.SQL("REVOKE SELECT ON {} FROM PUBLIC").format(ident))
        conn.execute(
            sql.SQL("GRANT SELECT ({}) ON {} TO PUBLIC").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), ident
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, hidden)),
                ident,
                sql.Identifier(CATALOG_READER),
            )
        )


def _hide_functions_and_views(conn: psycopg.Connection) -> None:
    for signature in HIDDEN_FUNCTIONS:
        conn.execute(
            sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(_function(signature))
        )
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                _function(signature), sql.Identifier(CATALOG_READER)
            )
        )
    for schema, view in HIDDEN_VIEWS:
        conn.execute(
            sql.SQL("REVOKE SELECT ON {} FROM PUBLIC").format(sql.Identifier(schema, view))
        )


def _install_meta(conn: psycopg.Connection) -> None:
    conn.execute(_META_SQL)
    meta = sql.Identifier(META_SCHEMA)
    for signature in _DEFINER_FUNCTIONS + _HELPER_FUNCTIONS:
        function = sql.SQL("{}.").format(meta) + sql.SQL(signature)
        if signature in _DEFINER_FUNCTIONS:
            conn.execute(
                sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(
                    function, sql.Identifier(CATALOG_READER)
                )
            )
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO PUBLIC").format(function))


def _grant_platform_reader(conn: psycopg.Connection, role: str) -> None:
    grantee = sql.Identifier(role)
    for table, columns in PLATFORM_READER_COLUMNS.items():
        conn.execute(
            sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), _catalog_table(table), grantee
            )
        )
    for signature in PLATFORM_READER_FUNCTIONS:
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(_function(signature), grantee)
        )


def hide_tenant_definitions(conn: psycopg.Connection, platform_readers: tuple[str, ...]) -> None:
    """Apply catalog confidentiality to the database `conn` is connected to (as a superuser).

    Idempotent, in one transaction: `platform_readers` (roles that exist) get what the REST
    schema cache reads."""
    with conn.transaction():
        conn.execute(ensure_roles_sql({CATALOG_READER: "NOLOGIN NOINHERIT"}))
        _hide_columns(conn)
        _hide_functions_and_views(conn)
        _install_meta(conn)
        for role in platform_readers:
            _grant_platform_reader(conn, role)

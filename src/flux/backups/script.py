"""The SQL Flux runs around an archive's own statements, in the restore's transaction and as
the restoring login (never a superuser): first clearing what the archive replaces, then
re-applying what it does not carry and checking the tenant's boundary.

Clearing empties a schema without dropping it (v2: the tenant schema is the platform's; v1:
`public` is never created by an archive): every table, view, sequence, routine, type and
collation in it, except objects of extensions, is dropped, and the block fails if anything it
cannot drop remains. All names are passed as literals and quoted by `format('%I')`; the
search_path is pg_catalog, where tenants cannot create anything.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
             WHERE d.classid = '{catalog}'::pg_catalog.regclass AND d.objid = {alias}.oid
               AND d.deptype = 'e')"""

_CLEAR = (
    """
DO $flux_clear$
DECLARE
  target text := {schema};
  ns oid := (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = {schema});
  o record;
BEGIN
  IF ns IS NULL THEN
    RETURN;
  END IF;
  FOR o IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c
            WHERE c.relnamespace = ns AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_class", alias="c")
    + """
  LOOP
    EXECUTE pg_catalog.format('DROP %s IF EXISTS %I.%I CASCADE',
      CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      target, o.relname);
  END LOOP;
  FOR o IN SELECT p.oid, p.prokind FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = ns AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_proc", alias="p")
    + """
  LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid = o.oid) THEN
      EXECUTE pg_catalog.format('DROP %s %s CASCADE',
        CASE o.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
        o.oid::pg_catalog.regprocedure);
    END IF;
  END LOOP;
  FOR o IN SELECT t.oid, t.typname, t.typtype FROM pg_catalog.pg_type t
            WHERE t.typnamespace = ns AND t.typtype IN ('c', 'd', 'e', 'r')
              AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c
                                         WHERE c.oid = t.typrelid) = 'c')
              AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_type", alias="t")
    + """
  LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid = o.oid) THEN
      EXECUTE pg_catalog.format('DROP %s %I.%I CASCADE',
        CASE o.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, target, o.typname);
    END IF;
  END LOOP;
  FOR o IN SELECT c.collname FROM pg_catalog.pg_collation c
            WHERE c.collnamespace = ns AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_collation", alias="c")
    + """
  LOOP
    EXECUTE pg_catalog.format('DROP COLLATION IF EXISTS %I.%I CASCADE', target, o.collname);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
              WHERE c.relnamespace = ns AND c.relkind NOT IN ('i', 'I', 't', 'c')
                AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_class", alias="c")
    + """)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = ns
                  AND """
    + _NOT_EXTENSION.format(catalog="pg_catalog.pg_proc", alias="p")
    + """) THEN
    RAISE EXCEPTION 'schema % still holds objects a restore cannot replace', target
      USING ERRCODE = '55000';
  END IF;
END $flux_clear$;
"""
)

# v1: the owner's schemas other than public go entirely (the archive creates them again).
_DROP_OWNER_SCHEMAS = """
DO $flux_drop$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT n.nspname FROM pg_catalog.pg_namespace n
            WHERE n.nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
              AND n.nspname NOT IN ('public', 'flux', 'extensions')
              AND n.nspname !~ '^pg_'
  LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', o.nspname);
  END LOOP;
END $flux_drop$;
DROP TABLE IF EXISTS flux.flux_migrations, flux.flux_repeatable_scripts;
"""

_FORCE_RLS = """
DO $flux_rls$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT c.relname FROM pg_catalog.pg_class c
            WHERE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = {schema})
              AND c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT c.relforcerowsecurity
              AND pg_catalog.strpos(coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), ''),
                                    'flux:no-force-rls') = 0
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', {schema}, o.relname);
  END LOOP;
END $flux_rls$;
"""

# The tenant schema may be used by the roles that could use it before, nobody else.
_SCHEMA_GRANTEES = """
DO $flux_boundary$
DECLARE
  extra text;
BEGIN
  SELECT pg_catalog.string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                    ELSE a.grantee::pg_catalog.regrole::text END, ', ')
    INTO extra
    FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
   WHERE n.nspname = {schema}
     AND NOT (CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                   ELSE a.grantee::pg_catalog.regrole::text END = ANY ({allowed}));
  IF extra IS NOT NULL THEN
    RAISE EXCEPTION 'the archive grants schema % to %', {schema}, extra
      USING ERRCODE = '42501';
  END IF;
END $flux_boundary$;
"""

_PRIVILEGES = {
    "TABLE": {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"},
    "SEQUENCE": {"USAGE", "SELECT", "UPDATE"},
    "ROUTINE": {"EXECUTE"},
}


def _literal(value: str) -> str:
    return sql.Literal(value).as_string(None)


def _ident(value: str) -> str:
    return sql.Identifier(value).as_string(None)


def clear_schema(schema: str) -> str:
    return _CLEAR.replace("{schema}", _literal(schema))


def tenant_preamble(schema: str, ddl_role: str) -> str:
    return f"SET ROLE {_ident(ddl_role)};\nSET search_path = pg_catalog;\n" + clear_schema(schema)


def project_preamble() -> str:
    return "SET search_path = pg_catalog;\n" + _DROP_OWNER_SCHEMAS + clear_schema("public")


def _grant(row: list[Any], role: str) -> str:
    on, obj, privilege, column = row
    if on not in _PRIVILEGES or privilege not in _PRIVILEGES[on]:
        raise ValueError(f"unexpected privilege {privilege} on {on}")
    columns = f" ({_ident(column)})" if column else ""
    return f"GRANT {privilege}{columns} ON {on} {obj} TO {_ident(role)};\n"


def tenant_postamble(
    schema: str,
    ddl_role: str,
    runtime_role: str,
    grants: list[list[Any]] | None,
    allowed_grantees: list[str],
) -> str:
    """As the DDL role again: the runtime role's privileges as recorded (an archive taken by
    Flux; an uploaded one keeps the schema's default privileges), FORCE RLS like a push,
    and the schema boundary check."""
    parts = [f"RESET ROLE;\nSET ROLE {_ident(ddl_role)};\nSET search_path = pg_catalog;\n"]
    if grants is not None:
        s, r = _ident(schema), _ident(runtime_role)
        parts.append(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r};\n"
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r};\n"
            f"REVOKE ALL ON ALL ROUTINES IN SCHEMA {s} FROM {r};\n"
        )
        parts += [_grant(row, runtime_role) for row in grants]
    parts.append(_FORCE_RLS.replace("{schema}", _literal(schema)))
    allowed = "ARRAY[" + ", ".join(_literal(g) for g in allowed_grantees) + "]::text[]"
    parts.append(
        _SCHEMA_GRANTEES.replace("{schema}", _literal(schema)).replace("{allowed}", allowed)
    )
    return "".join(parts)

"""The v1 exposure audit: which tables in the API schema are open to anonymous/user writes.

Classification per table (relkind r/p) in the exposed schema, considering the roles `anon`,
`authenticated` (when they exist) and PUBLIC, with privileges inherited through membership
and only when the role can use the schema:

- FAIL `rls_disabled_writable`: RLS disabled and one of them can INSERT/UPDATE/DELETE/TRUNCATE;
- WARN `rls_disabled_readable`: RLS disabled and one of them can SELECT (read-only exposure);
- WARN `rls_without_policies`: RLS enabled but no policy (the table reads as empty).

`flux push` runs it in the file's transaction and rejects on any FAIL; `flux doctor` shows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import psycopg

from flux.migrations.adapt import quote_ident

_QUERY = """
WITH roles(r) AS (
  SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated')
  UNION ALL SELECT 'public'
)
SELECT c.relname::text,
       c.relrowsecurity,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid),
       ARRAY(SELECT roles.r || ' ' || w.p
               FROM roles, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS w(p)
              WHERE pg_catalog.has_schema_privilege(roles.r, n.oid, 'USAGE')
                AND CASE WHEN w.p IN ('INSERT', 'UPDATE')
                         THEN pg_catalog.has_any_column_privilege(roles.r, c.oid, w.p)
                         ELSE pg_catalog.has_table_privilege(roles.r, c.oid, w.p) END
              ORDER BY 1),
       ARRAY(SELECT roles.r FROM roles
              WHERE pg_catalog.has_schema_privilege(roles.r, n.oid, 'USAGE')
                AND pg_catalog.has_any_column_privilege(roles.r, c.oid, 'SELECT')
              ORDER BY 1)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
 ORDER BY c.relname
"""


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["fail", "warn"]
    code: str
    table: str  # schema-qualified
    message: str
    remediation: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _writers(grants: list[str]) -> str:
    by_role: dict[str, list[str]] = {}
    for grant in grants:
        role, priv = grant.split(" ", 1)
        by_role.setdefault(role.upper() if role == "public" else role, []).append(priv)
    return "; ".join(f"{role} can {', '.join(privs)}" for role, privs in by_role.items())


def classify(conn: psycopg.Connection, schema: str = "api") -> list[Finding]:
    """Findings for `schema` on an open connection (inside the caller's transaction if any)."""
    findings = []
    for name, rls, has_policies, writes, readers in conn.execute(_QUERY, (schema,)).fetchall():
        table = f"{quote_ident(schema)}.{quote_ident(name)}"
        if not rls and writes:
            findings.append(
                Finding(
                    "fail",
                    "rls_disabled_writable",
                    table,
                    f"{table} has row level security disabled and {_writers(writes)}",
                    f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY and add policies, or revoke "
                    f"INSERT, UPDATE, DELETE, TRUNCATE ON {table} from anon, authenticated, PUBLIC",
                )
            )
        elif not rls and readers:
            findings.append(
                Finding(
                    "warn",
                    "rls_disabled_readable",
                    table,
                    f"{table} has row level security disabled and is readable by "
                    f"{', '.join(r.upper() if r == 'public' else r for r in readers)}",
                    f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY and add policies if the rows "
                    "are not meant for everyone",
                )
            )
        elif rls and not has_policies:
            findings.append(
                Finding(
                    "warn",
                    "rls_without_policies",
                    table,
                    f"{table} has row level security enabled but no policies, so API roles see no rows",
                    f"CREATE POLICY … ON {table} for the access you intend",
                )
            )
    return findings


def audit_v1(conninfo: str, schema: str = "api") -> list[Finding]:
    """Run the audit on a project database (for `flux doctor`); read-only."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET search_path TO pg_catalog, pg_temp")
        return classify(conn, schema)

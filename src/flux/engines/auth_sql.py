"""SQL both engines install: roles created if missing, and the `auth` schema: `auth.jwt()` (claims as jsonb), `auth.uid()` (the
JWT `sub` as text) and `auth.role()`, read from the transaction-local `request.jwt.claims`
the REST engine sets. Nothing is granted to PUBLIC; each engine grants its own roles."""

AUTH_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS auth;
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$f$;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT auth.jwt() ->> 'sub'
$f$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT auth.jwt() ->> 'role'
$f$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA auth FROM PUBLIC;
"""


def ensure_roles_sql(roles: dict[str, str]) -> str:
    """A DO block creating each role (name → attributes, e.g. "LOGIN NOINHERIT") if missing.

    Names and attributes are constants of the engines, never user input."""
    body = "".join(
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN\n"
        f"    CREATE ROLE {name} {attributes};\n"
        "  END IF;\n"
        for name, attributes in roles.items()
    )
    return f"DO $$\nBEGIN\n{body}END $$;\n"

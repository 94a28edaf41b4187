"""`POST projects/{hash}/doctor`: health and security checks, each PASS/WARN/FAIL with a
remediation. On v2, tables the tenant's runtime role can read or write with row level security
off are WARNs (every valid project token reaches every row); v1 projects get the same exposure
classification `flux push` enforces."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg
from fastapi import APIRouter, Depends, Request

from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.engines.base import TenantNames
from flux.migrations.audit import audit_v1


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS | WARN | FAIL
    message: str
    remediation: str = ""


# relations of the tenant schema the runtime role holds a privilege on while row level security
# is off: every valid project token reaches every row of them
_OPEN_RELATIONS = """
  ARRAY(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ({kinds}) AND NOT c.relrowsecurity
           AND ({privilege})
         ORDER BY 1)"""
_READABLE = "has_any_column_privilege(%(role)s, c.oid, 'SELECT')"
_WRITABLE = " OR ".join(
    f"has_table_privilege(%(role)s, c.oid, '{p}')" for p in ("INSERT", "UPDATE", "DELETE")
)

_V2_FACTS = f"""
SELECT
  to_regnamespace(%(schema)s) IS NOT NULL,
  (SELECT count(*) FROM pg_roles WHERE rolname IN (%(role)s, %(ddl)s)),
  EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(ddl)s AND rolcanlogin),
  ARRAY(SELECT g.rolname::text FROM pg_auth_members m
          JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
         WHERE r.rolname = %(role)s ORDER BY 1),
  (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
    WHERE r.rolname = %(role)s),
  (SELECT coalesce(bool_or(a.grantee = 0), false) FROM pg_namespace n,
          aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
    WHERE n.nspname = %(schema)s),
  {_OPEN_RELATIONS.format(kinds="'r', 'p'", privilege=_WRITABLE)},
  {_OPEN_RELATIONS.format(kinds="'r', 'p', 'm'", privilege=_READABLE)}
"""
_LISTED = 20  # table names shown in a message before "and N more"


def _listing(tables: list[str]) -> str:
    shown = ", ".join(tables[:_LISTED])
    return shown if len(tables) <= _LISTED else f"{shown} and {len(tables) - _LISTED} more"


def _open_tables_check(name: str, tables: list[str], exposure: str, fix: str, ok: str) -> Check:
    if not tables:
        return Check(name, "PASS", ok)
    return Check(name, "WARN", f"{exposure} without row level security: {_listing(tables)}", fix)


def _roles_check(names: TenantNames, roles: int, ddl_login: bool, memberships: list[str]) -> Check:
    """Both tenant roles exist, nobody logs in as the DDL role, and the runtime role is a
    member of no role (it must have nothing to inherit or switch to)."""
    problems = [f"{names.ddl_role} can log in"] if ddl_login else []
    if memberships:
        problems.append(f"{names.runtime_role} is a member of {', '.join(memberships)}")
    if roles == 2 and not problems:
        return Check(
            "roles", "PASS", "2/2 tenant roles present; the runtime role is a member of none"
        )
    return Check(
        "roles",
        "FAIL",
        "; ".join([f"{roles}/2 tenant roles present", *problems]),
        f"the tenant roles were altered: ALTER ROLE {names.ddl_role} NOLOGIN, "
        f"REVOKE the listed roles FROM {names.runtime_role} (or recreate the project)",
    )


def _v2_checks(conninfo: str, names: TenantNames) -> list[Check]:
    params = {"schema": names.schema, "role": names.runtime_role, "ddl": names.ddl_role}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        (has_schema, roles, ddl_login, memberships, owned, public_usage, writable, readable) = (
            conn.execute(_V2_FACTS, params).fetchone()
        )
    return [
        Check(
            "schema",
            "PASS" if has_schema else "FAIL",
            f"schema {names.schema} {'exists' if has_schema else 'is missing'}",
            "" if has_schema else "recreate the project (flux nuke, flux create)",
        ),
        _roles_check(names, roles, ddl_login, memberships),
        Check(
            "runtime-role-owns-nothing",
            "PASS" if owned == 0 else "FAIL",
            f"{names.runtime_role} owns {owned} objects",
            "" if owned == 0 else f"ALTER ... OWNER TO {names.ddl_role} for those objects",
        ),
        Check(
            "no-public-access",
            "FAIL" if public_usage else "PASS",
            "PUBLIC can use the tenant schema"
            if public_usage
            else "nothing is granted to PUBLIC on the tenant schema",
            f"REVOKE ALL ON SCHEMA {names.schema} FROM PUBLIC" if public_usage else "",
        ),
        _open_tables_check(
            "rls-on-writable-tables",
            writable,
            "writable by every project token",
            "any valid project token can change every row: enable RLS with policies, "
            "or revoke the write grants",
            "every table the API can write has row level security",
        ),
        _open_tables_check(
            "rls-on-readable-tables",
            readable,
            "readable by every project token",
            "any valid project token can read every row: ALTER TABLE <table> ENABLE ROW LEVEL "
            "SECURITY and CREATE POLICY for who may read (e.g. USING (owner = auth.uid())), "
            f"or REVOKE SELECT ON <table> FROM {names.runtime_role} if the API must not read it "
            "(materialized views cannot have RLS: revoke, or expose a view over an RLS table)",
            "every table the API can read has row level security",
        ),
    ]


def _v1_checks(ctx: ControlContext, project: Project) -> list[Check]:
    engine = ctx.engine_for(project.mode)
    status = engine.status(project) if hasattr(engine, "status") else project.status
    checks = [
        Check(
            "processes",
            "PASS" if status == "running" else "FAIL",
            f"dedicated processes are {status}",
            "" if status == "running" else "run `flux repair` (or `flux start`)",
        )
    ]
    if status != "running":
        return checks
    findings = audit_v1(engine.admin_conninfo(project))
    for finding in findings:
        checks.append(
            Check(finding.code, finding.level.upper(), finding.message, finding.remediation)
        )
    if not findings:
        checks.append(
            Check("api-exposure", "PASS", "no exposed table is writable without row level security")
        )
    return checks


def run_doctor(ctx: ControlContext, project: Project) -> list[Check]:
    if project.mode == "v2_shared":
        engine = ctx.engine_for(project.mode)
        return _v2_checks(engine.admin_conninfo(project), engine.names(project))
    return _v1_checks(ctx, project)


def register_doctor_routes(router: APIRouter) -> None:
    @router.post("/projects/{hash_}/doctor")
    def doctor(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        checks = run_doctor(ctx, project)
        worst = (
            "FAIL"
            if any(c.status == "FAIL" for c in checks)
            else "WARN"
            if any(c.status == "WARN" for c in checks)
            else "PASS"
        )
        return {
            "slug": project.slug,
            "hash": project.hash,
            "status": worst,
            "checks": [asdict(c) for c in checks],
        }

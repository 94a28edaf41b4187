"""`POST projects/{hash}/doctor`: health and security checks, each PASS/WARN/FAIL with a
remediation. v1 projects get the same exposure classification `flux push` enforces."""

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


_V2_FACTS = """
SELECT
  to_regnamespace(%(schema)s) IS NOT NULL,
  (SELECT count(*) FROM pg_roles WHERE rolname IN (%(role)s, %(ddl)s) AND NOT rolcanlogin),
  (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
    WHERE r.rolname = %(role)s),
  (SELECT coalesce(bool_or(a.grantee = 0), false) FROM pg_namespace n,
          aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
    WHERE n.nspname = %(schema)s),
  ARRAY(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
           AND (has_table_privilege(%(role)s, c.oid, 'INSERT')
                OR has_table_privilege(%(role)s, c.oid, 'UPDATE')
                OR has_table_privilege(%(role)s, c.oid, 'DELETE'))
         ORDER BY 1)
"""


def _v2_checks(conninfo: str, names: TenantNames) -> list[Check]:
    params = {"schema": names.schema, "role": names.runtime_role, "ddl": names.ddl_role}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        has_schema, nologin_roles, owned, public_usage, open_tables = conn.execute(
            _V2_FACTS, params
        ).fetchone()
    checks = [
        Check(
            "schema",
            "PASS" if has_schema else "FAIL",
            f"schema {names.schema} {'exists' if has_schema else 'is missing'}",
            "" if has_schema else "recreate the project (flux nuke, flux create)",
        ),
        Check(
            "roles",
            "PASS" if nologin_roles == 2 else "FAIL",
            f"{nologin_roles}/2 tenant roles present and NOLOGIN",
            "" if nologin_roles == 2 else "the tenant roles were altered; recreate them",
        ),
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
    ]
    if open_tables:
        checks.append(
            Check(
                "rls-on-writable-tables",
                "WARN",
                "writable without row level security: " + ", ".join(open_tables),
                "any valid project token can change every row: enable RLS with policies, "
                "or revoke the write grants",
            )
        )
    else:
        checks.append(
            Check(
                "rls-on-writable-tables",
                "PASS",
                "every table the API can write has row level security",
            )
        )
    return checks


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

"""Plans and project quotas belong to the operator: everyone may read the plans and their own
quota (`GET plans`; admins are exempt from theirs); only admins assign a plan to a project (`POST projects/{hash}/plan`) or
set a user's project quota (`POST users/quota`). Both changes are audited; a plan change
evicts the project's cached route so the gateway applies the new limits at once.

What a non-admin may choose at create time, and the quota check, live in `projects.py`
beside the create flow they guard.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from flux.catalog import audit, plans, users
from flux.catalog.plans import DEFAULT_PLAN, Plan
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput, Forbidden, NotFound


class PlanBody(BaseModel):
    plan: str = Field(min_length=1, max_length=100)


class QuotaBody(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    quota: int = Field(ge=0, le=1_000_000)


def require_admin(user: User, what: str) -> None:
    if not user.is_admin:
        raise Forbidden(
            f"only an admin can {what}", hint="plans and quotas are assigned by the operator"
        )


def plan_json(plan: Plan) -> dict:
    return {
        "name": plan.name,
        "default": plan.name == DEFAULT_PLAN,
        "rateLimitPerMinute": plan.rate_limit_per_minute,
        "statementTimeoutMs": plan.statement_timeout_ms,
        "connectionLimit": plan.connection_limit,
        "maxRows": plan.max_rows,
    }


def list_plans(ctx: ControlContext, user: User) -> dict:
    with ctx.catalog.connection() as conn:
        every = plans.list_plans(conn)
        allowance = users.project_allowance(conn, user.id)
    return {
        "default": DEFAULT_PLAN,
        "plans": [plan_json(p) for p in every],
        "quota": {"owned": allowance.owned, "limit": allowance.quota, "exempt": user.is_admin},
    }


def set_plan(ctx: ControlContext, admin: User, project: Project, plan_name: str) -> bool:
    """Move a project to another plan; False when it was already on it (nothing recorded)."""
    with ctx.catalog.transaction() as conn:
        plan = plans.get_plan(conn, plan_name)
        if plan is None:
            known = ", ".join(plans.plan_names(conn))
            raise BadInput(f"unknown plan {plan_name!r}", hint=f"use one of: {known}")
        if plan.name == project.plan:
            return False
        if not plans.assign_plan(conn, project.tenant_id, plan.name):
            raise NotFound(f"no project with hash {project.hash}", hint="see `flux list`")
        audit.record(
            conn,
            user_id=admin.id,
            action="project.plan.set",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
            details={"from": project.plan, "to": plan.name},
        )
    project.plan = plan.name
    ctx.project_changed(project)
    return True


def set_quota(ctx: ControlContext, admin: User, email: str, quota: int) -> User:
    with ctx.catalog.transaction() as conn:
        target = users.set_project_quota(conn, email, quota)
        if target is None:
            raise NotFound(f"no user with email {email!r}")
        audit.record(
            conn,
            user_id=admin.id,
            action="user.quota.set",
            target=target.email,
            details={"projectQuota": quota},
        )
    return target


def register_plan_routes(router: APIRouter) -> None:
    @router.get("/plans")
    def get_plans(request: Request, user: User = Depends(authenticate)) -> dict:
        return list_plans(request.app.state.ctx, user)

    @router.post("/projects/{hash_}/plan")
    def assign(
        hash_: str, body: PlanBody, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        require_admin(user, "assign a plan to a project")
        project = svc.get_owned(ctx, user, hash_)
        previous = project.plan
        changed = set_plan(ctx, user, project, body.plan)
        return {"project": svc.summarize(ctx, project), "previous": previous, "changed": changed}

    @router.post("/users/quota")
    def quota(body: QuotaBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        require_admin(user, "set a user's project quota")
        target = set_quota(ctx, user, body.email, body.quota)
        return {"email": target.email, "projectQuota": body.quota}

"""Project lifecycle: services and routes for start/stop/repair, suspend/resume and the REST env.

- start/stop/repair act on an engine's processes (engines that have them: v1_dedicated); the
  engine updates `project.runner_data` (desired state, ports) and this module persists it.
- suspend/resume work for every engine: they flip `projects.status` between `suspended` and
  `active`; the gateway answers 503 for suspended projects.
- `restore_dedicated(ctx)` is what `flux up` calls after start-up: projects whose desired state
  is running come back, stopped ones stay stopped.
Every mutation writes an audit row.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from flux.catalog import audit
from flux.catalog import projects as catalog_projects
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput

Action = Literal["start", "stop", "repair", "suspend", "resume"]
PROCESS_ACTIONS = ("start", "stop", "repair")
SUSPENDED, ACTIVE = "suspended", "active"


class LifecycleBody(BaseModel):
    action: Action


def _persist(ctx: ControlContext, user: User | None, project: Project, action: str, **details):
    with ctx.catalog.transaction() as conn:
        catalog_projects.set_runner_data(conn, project.tenant_id, project.runner_data)
        catalog_projects.set_status(conn, project.tenant_id, project.status)
        audit.record(
            conn,
            user_id=user.id if user else None,
            action=f"project.{action}",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
            details=details or None,
        )
    ctx.project_changed(project)


def run_action(ctx: ControlContext, user: User, project: Project, action: str) -> dict:
    """Apply one lifecycle action; returns `{slug, hash, action, status, done}`."""
    engine = ctx.engine_for(project.mode)
    done: list[str] = []
    if action in ("suspend", "resume"):
        project.status = SUSPENDED if action == "suspend" else ACTIVE
        _persist(ctx, user, project, action)
    elif action in PROCESS_ACTIONS:
        method = getattr(engine, action, None)
        if method is None:
            raise BadInput(
                f"{action} applies to projects with their own processes (v1_dedicated); "
                f"{project.slug!r} is {project.mode}",
                hint="use suspend/resume for v2_shared projects",
            )
        before = dict(project.runner_data)
        try:
            done = method(project) or []
        except BaseException:
            if project.runner_data != before:  # e.g. a port moved before the failure
                with ctx.catalog.transaction() as conn:
                    catalog_projects.set_runner_data(conn, project.tenant_id, project.runner_data)
            raise
        _persist(ctx, user, project, action, done=done)
    else:
        raise BadInput(
            f"unknown lifecycle action {action!r}", hint="start|stop|repair|suspend|resume"
        )
    return {
        "slug": project.slug,
        "hash": project.hash,
        "action": action,
        "status": svc.summarize(ctx, project)["status"],
        "done": done,
    }


def rest_env(ctx: ControlContext, project: Project) -> dict[str, str]:
    """The REST process environment of a dedicated project, secrets hidden."""
    env_of = getattr(ctx.engine_for(project.mode), "env", None)
    if env_of is None:
        raise BadInput(
            f"{project.slug!r} is {project.mode}: it has no REST process of its own",
            hint="v2_shared projects are served by the shared REST pool behind the gateway",
        )
    return env_of(project)


def restore_dedicated(ctx: ControlContext) -> list[tuple[Project, str | None]]:
    """`flux up` start-up: bring back the projects that were running; persist moved ports."""
    with ctx.catalog.connection() as conn:
        projects = catalog_projects.list_all(conn)
    outcome: list[tuple[Project, str | None]] = []
    for mode, engine in ctx.engines.items():
        restore = getattr(engine, "restore_running", None)
        if restore is None:
            continue
        mine = [p for p in projects if p.mode == mode]
        before = {p.tenant_id: dict(p.runner_data) for p in mine}
        outcome += restore(mine)
        with ctx.catalog.transaction() as conn:
            for project in mine:
                if project.runner_data != before[project.tenant_id]:
                    catalog_projects.set_runner_data(conn, project.tenant_id, project.runner_data)
    for project, _ in outcome:
        ctx.project_changed(project)
    return outcome


def register_lifecycle_routes(router: APIRouter) -> None:
    """`POST projects/{hash}/lifecycle` and `GET projects/{hash}/env` on the CLI router."""

    @router.post("/projects/{hash_}/lifecycle")
    def lifecycle(
        hash_: str, body: LifecycleBody, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return run_action(ctx, user, svc.get_owned(ctx, user, hash_), body.action)

    @router.get("/projects/{hash_}/env")
    def env(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        return {"slug": project.slug, "hash": project.hash, "env": rest_env(ctx, project)}

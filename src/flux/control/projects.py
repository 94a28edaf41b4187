"""Project services: create, describe, list, link, delete, credentials, secret rotation.

Provisioning spans two databases (the tenant's cluster and the catalog); the catalog row is
inserted in a transaction that commits only after the engine succeeded, and the engine's work
is undone if the catalog commit fails, so nothing is left half-created.
"""

from __future__ import annotations

import secrets

import psycopg

from flux.catalog import audit, clusters, plans, users
from flux.catalog import projects as catalog_projects
from flux.catalog.plans import DEFAULT_PLAN
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control.context import ControlContext
from flux.errors import BadInput, Conflict, Forbidden, NotFound
from flux.naming import (
    is_valid_hash,
    new_hash,
    new_tenant_id,
    path_service_url,
    service_url,
    slugify,
)

MODES = ("v2_shared", "v1_dedicated")


def new_jwt_secret() -> str:
    return secrets.token_urlsafe(48)


def summarize(ctx: ControlContext, project: Project) -> dict:
    engine = ctx.engines.get(project.mode)
    schema = engine.names(project).schema if engine else None
    status_of = getattr(engine, "status", None)  # engines with processes report their own
    summary = {
        "slug": project.slug,
        "hash": project.hash,
        "mode": project.mode,
        "status": status_of(project)
        if status_of and project.status == "active"
        else project.status,
        "lifecycleState": project.lifecycle_state,
        "plan": project.plan,
        "apiUrl": service_url(
            project.slug, project.hash, ctx.base_domain, scheme=ctx.scheme, port=ctx.gateway_port
        ),
        "apiSchema": schema,
        "createdAt": project.created_at.isoformat(),
    }
    if ctx.base_domain == "localhost":
        summary["apiUrlPath"] = path_service_url(
            project.slug, project.hash, ctx.gateway_host, scheme=ctx.scheme, port=ctx.gateway_port
        )
    return summary


def _check_plan_choice(user: User, plan_name: str) -> None:
    """Plans belong to the operator: a non-admin gets the default plan and nothing else."""
    if plan_name != DEFAULT_PLAN and not user.is_admin:
        raise Forbidden(
            f"only an admin can put a project on plan {plan_name!r}; "
            f"new projects start on {DEFAULT_PLAN!r}",
            hint=f"create it without --plan, then ask an admin to run "
            f"`flux plan set <slug> {plan_name} --hash <hash>`",
        )


def _check_quota(conn: psycopg.Connection, user: User) -> None:
    """Refuse a create beyond the user's project quota. Admins are exempt: they set quotas, so
    one on themselves would be no boundary (and the operator's own tooling creates hundreds).

    Call inside the create transaction: the user row stays locked until it ends."""
    if user.is_admin:
        return
    allowance = users.project_allowance(conn, user.id, lock=True)
    if allowance.owned >= allowance.quota:
        raise Forbidden(
            f"project quota reached: you own {allowance.owned} projects and your quota "
            f"is {allowance.quota}",
            hint="delete a project you no longer need (`flux nuke <slug>`), "
            "or ask an admin to raise it (`flux plan quota <email> <n>`)",
        )


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise BadInput(f"unknown mode {mode!r}", hint="use v2_shared or v1_dedicated")
    return mode


def create_project(
    ctx: ControlContext,
    user: User,
    name: str,
    *,
    mode: str | None = None,
    plan_name: str | None = None,
    slug: str | None = None,
) -> tuple[Project, dict]:
    """Provision a project; returns it and the one-time secrets of its engine."""
    mode = _check_mode(mode or ctx.default_mode)
    slug = slug or slugify(name)
    plan_name = plan_name or DEFAULT_PLAN
    engine = ctx.engine_for(mode)
    tenant_id = new_tenant_id()
    jwt_secret = new_jwt_secret()
    duplicate = Conflict(
        f"you already have a project with slug {slug!r}",
        hint="pick another name, or use `flux init` to link it",
    )
    provisioned = False
    try:
        # one transaction: it holds the user row locked by the quota check, commits only after
        # the engine succeeded, and a failed commit undoes the engine's work below
        with ctx.catalog.transaction() as conn:
            plan = plans.get_plan(conn, plan_name)
            if plan is None:
                known = ", ".join(plans.plan_names(conn))
                raise BadInput(f"unknown plan {plan_name!r}", hint=f"use one of: {known}")
            _check_plan_choice(user, plan.name)
            cluster_id = None
            if mode == "v2_shared":
                cluster = clusters.pick_shared_cluster(conn)
                if cluster is None:
                    raise Conflict(
                        "no shared cluster has capacity left",
                        hint="register another shared cluster",
                    )
                cluster_id = cluster.id
            _check_quota(conn, user)
            if catalog_projects.get_by_slug(conn, user.id, slug):
                raise duplicate
            project = _insert_with_fresh_hash(
                conn,
                tenant_id=tenant_id,
                slug=slug,
                owner_id=user.id,
                mode=mode,
                plan=plan.name,
                cluster_id=cluster_id,
                jwt_secret=jwt_secret,
            )
            audit.record(
                conn,
                user_id=user.id,
                action="project.create",
                tenant_id=tenant_id,
                target=f"{slug}/{project.hash}",
                details={"mode": mode, "plan": plan.name},
            )
            engine.provision(project, plan)
            provisioned = True
            catalog_projects.set_runner_data(conn, project.tenant_id, project.runner_data)
    except BaseException as exc:
        if provisioned:
            engine.delete(project)
        if isinstance(exc, psycopg.errors.UniqueViolation):
            raise duplicate from None
        raise
    ctx.project_changed(project)
    return project, engine.credentials(project)


def _insert_with_fresh_hash(conn: psycopg.Connection, **fields) -> Project:
    for _ in range(20):
        candidate = new_hash()
        if catalog_projects.hash_taken(conn, candidate):
            continue
        return catalog_projects.insert_project(conn, hash_=candidate, **fields)
    raise Conflict("could not allocate a unique project hash", hint="try again")


def get_owned(ctx: ControlContext, user: User, hash_: str, *, slug: str | None = None) -> Project:
    if not is_valid_hash(hash_):
        raise BadInput(f"invalid project hash {hash_!r}", hint="a hash is 7 lower-case hex chars")
    with ctx.catalog.connection() as conn:
        project = catalog_projects.get_by_hash(conn, hash_)
    if project is None:
        raise NotFound(f"no project with hash {hash_}", hint="see `flux list`")
    if project.owner_id != user.id and not user.is_admin:
        raise Forbidden(f"project {hash_} is not yours")
    if slug is not None and slug != project.slug:
        raise Conflict(
            f"hash {hash_} belongs to project {project.slug!r}, not {slug!r}",
            hint="fix the slug or the hash (see `flux list`)",
        )
    return project


def list_projects(ctx: ControlContext, user: User) -> list[Project]:
    with ctx.catalog.connection() as conn:
        return catalog_projects.list_for_owner(conn, user.id)


def init_project(
    ctx: ControlContext, user: User, slug: str, hash_: str | None, mode: str | None = None
) -> tuple[str, Project, dict | None]:
    """Link an existing project (by hash, or by slug) or create one with that slug."""
    if hash_:
        return "linked", get_owned(ctx, user, hash_, slug=slug), None
    clean = slugify(slug)
    with ctx.catalog.connection() as conn:
        existing = catalog_projects.get_by_slug(conn, user.id, clean)
    if existing:
        return "linked", existing, None
    project, secrets_ = create_project(ctx, user, clean, mode=mode, slug=clean)
    return "created", project, secrets_


def delete_project(ctx: ControlContext, user: User, project: Project) -> None:
    ctx.engine_for(project.mode).delete(project)
    with ctx.catalog.transaction() as conn:
        catalog_projects.delete_project(conn, project.tenant_id)
        audit.record(
            conn,
            user_id=user.id,
            action="project.delete",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
        )
    ctx.project_changed(project)


def credentials(ctx: ControlContext, project: Project) -> dict:
    creds = ctx.engine_for(project.mode).credentials(project)
    summary = summarize(ctx, project)
    creds.update({"apiUrl": summary["apiUrl"], "apiSchema": summary["apiSchema"]})
    if "apiUrlPath" in summary:
        creds["apiUrlPath"] = summary["apiUrlPath"]
    creds["howToMint"] = (
        f"flux token mint -p {project.slug} --hash {project.hash} "
        "--sub <user-id> --ttl 1h  (HS256, signed with jwtSecret; "
        "send as Authorization: Bearer <token>)"
    )
    return creds


def rotate_secret(ctx: ControlContext, user: User, project: Project) -> str:
    secret = new_jwt_secret()
    with ctx.catalog.transaction() as conn:
        catalog_projects.set_jwt_secret(conn, project.tenant_id, secret)
        audit.record(
            conn,
            user_id=user.id,
            action="project.secrets.rotate",
            tenant_id=project.tenant_id,
            target=f"{project.slug}/{project.hash}",
        )
    project.jwt_secret = secret
    rotate = getattr(ctx.engine_for(project.mode), "after_secret_rotation", None)
    if rotate is not None:
        rotate(project)
    ctx.project_changed(project)
    return secret

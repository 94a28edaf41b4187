"""Migration routes: `POST push` and `GET projects/{hash}/migrations` (SPEC §4, §7).

The CLI reads and discovers files locally and sends their text; the service in
`flux.migrations` plans, guards and applies them. Before a push that applied anything answers,
the project's REST schema cache is refreshed (ControlContext.schema_changed), so the next
request sees it; other REST workers are told by the NOTIFY each applied v2 file commits with.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator

from flux.catalog import audit
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.migrations import service as migrations
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile

MAX_FILES = 2000


class PushFile(BaseModel):
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00]+$")
    sql: str = Field(max_length=MAX_FILE_BYTES + 1)
    path: str | None = Field(default=None, max_length=1024)


class PushBody(BaseModel):
    slug: str | None = None
    hash: str
    mode: Literal["raw", "versioned", "repeatable"]
    files: list[PushFile] | None = Field(default=None, max_length=MAX_FILES)
    sql: str | None = Field(default=None, max_length=MAX_FILE_BYTES + 1)
    filename: str | None = None
    scriptId: str | None = None
    force: bool = False
    plan: bool = False
    dryRun: bool = False

    @model_validator(mode="after")
    def one_source(self) -> PushBody:
        if self.files is None and (self.sql is None or not self.filename):
            raise ValueError("send either files=[{filename, sql}] or sql with filename")
        if self.files is not None and self.sql is not None:
            raise ValueError("send files or sql, not both")
        if self.files is not None and not self.files:
            raise ValueError("files is empty")
        return self

    def migration_files(self) -> list[MigrationFile]:
        if self.files is None:
            return [MigrationFile.from_text(self.filename or "", self.sql or "")]
        return [MigrationFile.from_text(f.filename, f.sql, f.path) for f in self.files]


def push_target(ctx: ControlContext, project: Project) -> migrations.PushTarget:
    engine = ctx.engine_for(project.mode)
    names = engine.names(project)
    return migrations.PushTarget(
        engine=project.mode,
        conninfo=engine.admin_conninfo(project),
        schema=names.schema,
        runtime_role=names.runtime_role,
        ddl_role=names.ddl_role,
        ledger_key=names.schema,
    )


def register_migration_routes(router: APIRouter) -> None:
    @router.post("/push")
    def push(body: PushBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, body.hash, slug=body.slug)
        files = body.migration_files()
        report = migrations.push(
            push_target(ctx, project),
            files,
            mode=body.mode,
            force=body.force,
            script_id=body.scriptId,
            plan=body.plan,
            dry_run=body.dryRun,
            applied_by=user.email,
            after_push=lambda: ctx.schema_changed(project),
        )
        if report.operation == "push":
            with ctx.catalog.transaction() as conn:
                audit.record(
                    conn,
                    user_id=user.id,
                    action="project.push",
                    tenant_id=project.tenant_id,
                    target=f"{project.slug}/{project.hash}",
                    details={
                        "mode": body.mode,
                        "files": [f.name for f in files],
                        "applied": report.applied,
                        "ok": report.ok,
                    },
                )
        return report.to_json()

    @router.get("/projects/{hash_}/migrations")
    def ledger(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        rows = migrations.ledger(push_target(ctx, project))
        return {
            "slug": project.slug,
            "hash": project.hash,
            "migrations": [row.to_json() for row in rows],
        }

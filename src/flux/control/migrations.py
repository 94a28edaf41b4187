"""Migration routes: `POST push` and `GET projects/{hash}/migrations` (SPEC §4, §7).

The CLI reads and discovers files locally and sends their text; the service in
`flux.migrations` plans, guards and applies them. Before a push that applied anything answers,
the project's REST schema cache is refreshed (ControlContext.schema_changed), so the next
request sees it; other REST workers are told by the NOTIFY each applied v2 file commits with.

A push is audited before it runs: its input is validated in full (422 for anything the catalog
could not store), then its `project.push` audit row is committed, then the files run on the
project database, then the outcome is added to the row (`flux.catalog.audit`). It runs on a
worker thread under the platform's push limits while the endpoint, on the event loop, watches
the connection: a client that disconnects has its push cancelled (the running file rolled
back, the push lock released).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from flux.catalog import audit
from flux.catalog.db import CatalogUnavailable
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.control.inputs import Filename, Hash, Slug
from flux.migrations import service as migrations
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile

MAX_FILES = 2000
DISCONNECT_POLL = 0.25  # seconds between checks that the pushing client is still there

log = logging.getLogger(__name__)


class PushFile(BaseModel):
    filename: Filename
    sql: str = Field(max_length=MAX_FILE_BYTES + 1)
    path: str | None = Field(default=None, max_length=1024)


class PushBody(BaseModel):
    slug: Slug | None = None
    hash: Hash
    mode: Literal["raw", "versioned", "repeatable"]
    files: list[PushFile] | None = Field(default=None, max_length=MAX_FILES)
    sql: str | None = Field(default=None, max_length=MAX_FILE_BYTES + 1)
    filename: Filename | None = None
    scriptId: str | None = Field(default=None, min_length=1, max_length=255)
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


def _push(ctx: ControlContext, user: User, body: PushBody, cancelled: threading.Event) -> dict:
    project = svc.get_owned(ctx, user, body.hash, slug=body.slug)
    files = body.migration_files()
    target = push_target(ctx, project)
    entry = None
    if not (body.plan or body.dryRun):
        with ctx.catalog.transaction() as conn:
            entry = audit.record(
                conn,
                user_id=user.id,
                action="project.push",
                tenant_id=project.tenant_id,
                target=f"{project.slug}/{project.hash}",
                details={"mode": body.mode, "files": [f.name for f in files], "outcome": "started"},
            )
    report = migrations.push(
        target,
        files,
        mode=body.mode,
        force=body.force,
        script_id=body.scriptId,
        plan=body.plan,
        dry_run=body.dryRun,
        applied_by=user.email,
        after_push=lambda: ctx.schema_changed(project),
        limits=ctx.push_limits,
        cancelled=cancelled,
    )
    if entry is not None:
        outcome = {
            "outcome": "done" if report.ok else "failed",
            "applied": report.applied,
            "ok": report.ok,
            "errors": [e.code for e in report.errors],
        }
        try:
            with ctx.catalog.transaction() as conn:
                audit.amend(conn, entry, outcome)
        except CatalogUnavailable:  # the row already records the push; keep its report
            log.warning("could not record the outcome of push audit entry %s", entry)
    return report.to_json()


def register_migration_routes(router: APIRouter) -> None:
    @router.post("/push")
    async def push(body: PushBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        cancelled = threading.Event()
        work = asyncio.ensure_future(run_in_threadpool(_push, ctx, user, body, cancelled))
        try:
            while not work.done():
                await asyncio.wait({work}, timeout=DISCONNECT_POLL)
                if not work.done() and await request.is_disconnected():
                    cancelled.set()
            return work.result()
        finally:
            if not work.done():  # this handler was cancelled: do not leave the push running
                cancelled.set()

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

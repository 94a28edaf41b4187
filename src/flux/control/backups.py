"""Backups: the service and its routes under `/api/cli/v1/projects/{hash}/backups…` (issue 13).

A backup is taken, validated and restore-verified in one call (each step moves its catalog
row along `validating → created → verified | verify_failed`); verification can be re-run.
Every mutation is audited. Restores and `flux nuke` pass the backup gate: a restore-verified
backup newer than the project's last change (an applied push or a restore), unless the caller
skips it, which is audited too. After a successful verification, retention keeps the newest
`FLUX_BACKUP_KEEP` backups of the project (never the newest verified one). `run_schedule`,
called by `flux up` off the request path, backs up each project once per
`FLUX_BACKUP_INTERVAL_HOURS` (default daily).

Restores replace the project's data in one transaction (`flux.backups.restore`); afterwards
`ControlContext.schema_changed` runs: the REST schema cache is reloaded and temporary
database logins get their privileges on the restored objects again (`flux.control.db_access`).
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from flux.backups import artefacts, offsite
from flux.backups.dump import dump
from flux.backups.restore import current_schema_grantees, platform_side, restore_into
from flux.backups.verify import restore_verify, validate
from flux.catalog import audit
from flux.catalog import backups as catalog_backups
from flux.catalog import projects as catalog_projects
from flux.catalog.backups import CREATED, VALIDATING, VERIFIED, VERIFY_FAILED, Backup
from flux.catalog.projects import Project
from flux.catalog.users import User
from flux.control import projects as svc
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import BadInput, Conflict, FluxError, NotFound

log = logging.getLogger(__name__)

LABELS = {
    VALIDATING: "Validating backup artifact",
    CREATED: "Created, not restore-verified",
    VERIFIED: "Restorable",
    VERIFY_FAILED: "Restore verification failed",
}
NO_BACKUPS = "No backups"
UPLOAD_MAX_BYTES = int(os.environ.get("FLUX_BACKUP_UPLOAD_MAX_BYTES", str(8 << 30)))
UPLOAD_CHUNK = 1 << 20


def keep_count() -> int:
    return max(1, int(os.environ.get("FLUX_BACKUP_KEEP", "7")))


def _target(project: Project) -> str:
    return f"{project.slug}/{project.hash}"


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def backup_json(backup: Backup) -> dict:
    tables = backup.meta.get("tables") or {}
    return {
        "id": str(backup.id),
        "state": backup.state,
        "label": LABELS[backup.state],
        "kind": backup.kind,
        "trigger": backup.trigger,
        "sizeBytes": backup.size_bytes,
        "sha256": backup.sha256,
        "createdAt": backup.created_at.isoformat(),
        "createdAtMs": _ms(backup.created_at),
        "verifiedAt": backup.verified_at.isoformat() if backup.verified_at else None,
        "tables": len(tables),
        "rows": sum(tables.values()),
        "error": backup.error,
        "offsite": {"at": backup.offsite_at.isoformat(), "uri": backup.offsite_uri}
        if backup.offsite_at
        else None,
    }


def project_label(backups: list[Backup]) -> str:
    """The project's backup status: its newest backup's label, Restorable if any is."""
    if not backups:
        return NO_BACKUPS
    if any(b.state == VERIFIED for b in backups):
        return LABELS[VERIFIED]
    return LABELS[backups[0].state]


def _record(ctx: ControlContext, user: User | None, project: Project, action: str, **details):
    with ctx.catalog.transaction() as conn:
        return audit.record(
            conn,
            user_id=user.id if user else None,
            action=action,
            tenant_id=project.tenant_id,
            target=_target(project),
            details=details,
        )


def _amend(ctx: ControlContext, entry: int, **details) -> None:
    with ctx.catalog.transaction() as conn:
        audit.amend(conn, entry, details)


def get_backup(ctx: ControlContext, project: Project, backup_id: str) -> Backup:
    try:
        key = uuid.UUID(backup_id)
    except ValueError:
        raise BadInput(
            f"invalid backup id {backup_id!r}", hint="see `flux backup list` for the ids"
        ) from None
    with ctx.catalog.connection() as conn:
        backup = catalog_backups.get(conn, key)
    if backup is None or backup.tenant_id != project.tenant_id:
        raise NotFound(
            f"no backup {backup_id} for project {project.slug}", hint="see `flux backup list`"
        )
    return backup


def list_backups(ctx: ControlContext, project: Project) -> list[Backup]:
    with ctx.catalog.connection() as conn:
        return catalog_backups.for_tenant(conn, project.tenant_id)


def _new_row(ctx: ControlContext, user: User | None, project: Project, trigger: str) -> Backup:
    backup_id = uuid.uuid4()
    path = artefacts.artefact_path(ctx.backups_root, project.tenant_id, backup_id)
    spec_kind = ctx.engine_for(project.mode).backup_spec(project).kind
    with ctx.catalog.transaction() as conn:
        backup = catalog_backups.insert(
            conn,
            backup_id=backup_id,
            tenant_id=project.tenant_id,
            kind=spec_kind,
            path=str(path),
            project_slug=project.slug,
            project_hash=project.hash,
            trigger=trigger,
        )
        audit.record(
            conn,
            user_id=user.id if user else None,
            action="backup.create",
            tenant_id=project.tenant_id,
            target=_target(project),
            details={"backup": str(backup_id), "trigger": trigger},
        )
    return backup


def _discard(ctx: ControlContext, backup: Backup) -> None:
    Path(backup.path).unlink(missing_ok=True)
    with ctx.catalog.transaction() as conn:
        catalog_backups.delete(conn, backup.id)


def create_backup(
    ctx: ControlContext,
    user: User | None,
    project: Project,
    *,
    trigger: str = "manual",
    verify: bool = True,
) -> Backup:
    """Dump, validate and (unless `verify` is False) restore-verify; the backup's row."""
    spec = ctx.engine_for(project.mode).backup_spec(project)
    backup = _new_row(ctx, user, project, trigger)
    path = Path(backup.path)
    try:
        artefacts.new_private_file(path)
        meta = dump(spec, path)
        with ctx.catalog.transaction() as conn:
            catalog_backups.set_artefact(
                conn,
                backup.id,
                sha256=artefacts.sha256_file(path),
                size_bytes=path.stat().st_size,
                meta=meta,
            )
    except BaseException:
        _discard(ctx, backup)
        raise
    return _check(ctx, user, project, backup.id, verify=verify)


def store_upload(ctx: ControlContext, user: User, project: Project, upload: Path) -> Backup:
    """An uploaded archive (`flux db restore FILE`) becomes a backup of the project: moved
    into place, validated and restore-verified (its counts are taken from that test)."""
    backup = _new_row(ctx, user, project, "upload")
    path = Path(backup.path)
    try:
        artefacts.private_folder(path.parent)
        os.replace(upload, path)
        os.chmod(path, 0o600)
        with ctx.catalog.transaction() as conn:
            catalog_backups.set_artefact(
                conn,
                backup.id,
                sha256=artefacts.sha256_file(path),
                size_bytes=path.stat().st_size,
                meta={},
            )
    except BaseException:
        _discard(ctx, backup)
        raise
    return _check(ctx, user, project, backup.id, verify=True)


def _check(
    ctx: ControlContext, user: User | None, project: Project, backup_id: uuid.UUID, *, verify: bool
) -> Backup:
    """Validate (→ created) and optionally restore-verify (→ verified | verify_failed)."""
    spec = ctx.engine_for(project.mode).backup_spec(project)
    with ctx.catalog.connection() as conn:
        backup = catalog_backups.get(conn, backup_id)
    assert backup is not None
    path = Path(backup.path)
    try:
        entries = validate(spec, path, backup.sha256)
        state, error = CREATED, None
        if verify:
            found = restore_verify(spec, path, entries, backup.meta)
            state = VERIFIED
            if backup.meta.get("tables") is None:
                with ctx.catalog.transaction() as conn:
                    catalog_backups.set_artefact(
                        conn,
                        backup.id,
                        sha256=backup.sha256 or "",
                        size_bytes=backup.size_bytes or 0,
                        meta={**backup.meta, "tables": found},
                    )
    except FluxError as exc:
        state, error = VERIFY_FAILED, exc.message
    with ctx.catalog.transaction() as conn:
        catalog_backups.set_state(conn, backup.id, state, error=error)
        audit.record(
            conn,
            user_id=user.id if user else None,
            action="backup.verify",
            tenant_id=project.tenant_id,
            target=_target(project),
            details={"backup": str(backup.id), "state": state, "error": error},
        )
        backup = catalog_backups.get(conn, backup.id)
    assert backup is not None
    if state == VERIFIED:
        backup = replicate(ctx, project, backup)
        apply_retention(ctx, project)
    return backup


def replicate(ctx: ControlContext, project: Project, backup: Backup) -> Backup:
    """Copy a verified artefact offsite when a target is configured (a failure is audited and
    leaves the backup Restorable, without the offsite mark)."""
    target = offsite.configured()
    if target is None:
        return backup
    key = f"{backup.tenant_id}/{backup.id}.dump"
    try:
        uri = target.put(Path(backup.path), key, backup.sha256 or "")
    except FluxError as exc:
        log.warning("offsite copy of backup %s failed: %s", backup.id, exc.message)
        _record(ctx, None, project, "backup.offsite", backup=str(backup.id), error=exc.message)
        return backup
    with ctx.catalog.transaction() as conn:
        catalog_backups.set_offsite(conn, backup.id, uri)
        audit.record(
            conn,
            user_id=None,
            action="backup.offsite",
            tenant_id=project.tenant_id,
            target=_target(project),
            details={"backup": str(backup.id), "uri": uri},
        )
        fresh = catalog_backups.get(conn, backup.id)
    assert fresh is not None
    return fresh


def verify_backup(ctx: ControlContext, user: User, project: Project, backup: Backup) -> Backup:
    return _check(ctx, user, project, backup.id, verify=True)


def apply_retention(ctx: ControlContext, project: Project) -> list[str]:
    """Delete backups beyond the newest `keep_count()`; never the newest verified one, never
    one still being validated. Returns the ids deleted."""
    backups = list_backups(ctx, project)
    newest_verified = next((b.id for b in backups if b.state == VERIFIED), None)
    doomed = [
        b for b in backups[keep_count() :] if b.id != newest_verified and b.state != VALIDATING
    ]
    for backup in doomed:
        _discard(ctx, backup)
    if doomed:
        _record(ctx, None, project, "backup.retention", deleted=[str(b.id) for b in doomed])
    return [str(b.id) for b in doomed]


def last_change(ctx: ControlContext, project: Project) -> datetime | None:
    """When the project's schema last changed through Flux: an applied push or a restore."""
    with ctx.catalog.connection() as conn:
        row = conn.execute(
            "SELECT max(at) AS at FROM audit_log WHERE tenant_id = %s AND ("
            " (action = 'project.push' AND coalesce((details->>'applied')::int, 0) > 0)"
            " OR (action = 'backup.restore' AND details->>'outcome' = 'done'))",
            (project.tenant_id,),
        ).fetchone()
    return row["at"] if row else None


def require_verified_backup(
    ctx: ControlContext, user: User, project: Project, *, skip: bool, action: str
) -> None:
    """The backup gate of `flux nuke`, `flux backup restore`, `flux db restore`."""
    if skip:
        _record(ctx, user, project, "backup.gate.skipped", operation=action)
        return
    with ctx.catalog.connection() as conn:
        newest = catalog_backups.newest_verified(conn, project.tenant_id)
    changed = last_change(ctx, project)
    if newest is not None and (changed is None or newest.created_at > changed):
        return
    why = (
        "it has no restore-verified backup"
        if newest is None
        else "its newest restore-verified backup is older than its last push"
    )
    raise Conflict(
        f"refusing to {action} {project.slug} ({project.hash}): {why}",
        hint=f"take one first: `flux backup create -p {project.slug} --hash {project.hash}`, "
        "or pass --skip-backup-check",
    )


def restore_backup(
    ctx: ControlContext, user: User, project: Project, backup: Backup, *, skip_check: bool
) -> dict:
    if backup.state not in (CREATED, VERIFIED):
        raise Conflict(
            f"backup {backup.id} is not restorable ({LABELS[backup.state]})",
            hint="verify it again (`flux backup verify`) or pick another",
        )
    require_verified_backup(ctx, user, project, skip=skip_check, action="restore")
    spec = ctx.engine_for(project.mode).backup_spec(project)
    path = Path(backup.path)
    entries = validate(spec, path, backup.sha256)
    entry = _record(ctx, user, project, "backup.restore", backup=str(backup.id), outcome="started")
    grantees = current_schema_grantees(spec) if spec.shared else None
    try:
        with platform_side(spec, backup.meta.get("ledger")):
            restore_into(spec, path, entries, backup.meta or None, allowed_grantees=grantees)
    except BaseException as exc:
        message = exc.message if isinstance(exc, FluxError) else type(exc).__name__
        _amend(ctx, entry, outcome="failed", error=message)
        raise
    _amend(ctx, entry, outcome="done")
    ctx.schema_changed(project)  # REST schema cache; live database logins' privileges
    tables = backup.meta.get("tables") or {}
    return {
        "restored": True,
        "backup": str(backup.id),
        "tables": len(tables),
        "rows": sum(tables.values()),
        "ledger": "replaced"
        if spec.shared and backup.meta.get("ledger") is not None
        else ("from the archive" if not spec.shared else "unchanged (the file carries none)"),
    }


def _list_answer(ctx: ControlContext, project: Project) -> dict:
    backups = list_backups(ctx, project)
    return {
        "slug": project.slug,
        "hash": project.hash,
        "label": project_label(backups),
        "now": datetime.now(UTC).isoformat(),
        "backups": [backup_json(b) for b in backups],
    }


async def _receive_upload(request: Request, folder: Path) -> Path:
    artefacts.private_folder(folder)
    path = folder / f".upload-{uuid.uuid4()}"
    artefacts.new_private_file(path)
    size = 0
    try:
        with open(path, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > UPLOAD_MAX_BYTES:
                    raise BadInput(
                        f"the upload is over {UPLOAD_MAX_BYTES} bytes",
                        hint="raise FLUX_BACKUP_UPLOAD_MAX_BYTES on the platform",
                    )
                handle.write(chunk)
        if size == 0:
            raise BadInput("the upload is empty", hint="send a pg_dump -Fc archive")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def register_backup_routes(router: APIRouter, raw_router: APIRouter) -> None:
    """JSON routes on the checked CLI router; the binary upload on `raw_router`."""

    @router.get("/projects/{hash_}/backups")
    def list_route(hash_: str, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        return _list_answer(ctx, svc.get_owned(ctx, user, hash_))

    @router.post("/projects/{hash_}/backups", status_code=201)
    def create_route(
        hash_: str, request: Request, verify: bool = True, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        return {"backup": backup_json(create_backup(ctx, user, project, verify=verify))}

    @router.get("/projects/{hash_}/backups/{backup_id}")
    def describe_route(
        hash_: str, backup_id: str, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        return {"backup": backup_json(get_backup(ctx, project, backup_id))}

    @router.post("/projects/{hash_}/backups/{backup_id}/verify")
    def verify_route(
        hash_: str, backup_id: str, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        backup = verify_backup(ctx, user, project, get_backup(ctx, project, backup_id))
        return {"backup": backup_json(backup)}

    @router.get("/projects/{hash_}/backups/{backup_id}/download")
    def download_route(
        hash_: str, backup_id: str, request: Request, user: User = Depends(authenticate)
    ) -> FileResponse:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        backup = get_backup(ctx, project, backup_id)
        artefacts.check_sha256(Path(backup.path), backup.sha256)
        _record(ctx, user, project, "backup.download", backup=str(backup.id))
        return FileResponse(
            backup.path,
            media_type="application/octet-stream",
            filename=f"{project.slug}-{project.hash}-{backup.id}.dump",
            headers={"X-Flux-Sha256": backup.sha256 or ""},
        )

    @router.post("/projects/{hash_}/backups/{backup_id}/restore")
    def restore_route(
        hash_: str,
        backup_id: str,
        request: Request,
        skipBackupCheck: bool = False,  # noqa: N803 (the API's query parameter)
        user: User = Depends(authenticate),
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = svc.get_owned(ctx, user, hash_)
        backup = get_backup(ctx, project, backup_id)
        return restore_backup(ctx, user, project, backup, skip_check=skipBackupCheck)

    @raw_router.post("/projects/{hash_}/backups/upload", status_code=201)
    async def upload_route(
        hash_: str, request: Request, user: User = Depends(authenticate)
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        project = await run_in_threadpool(svc.get_owned, ctx, user, hash_)
        folder = ctx.backups_root / str(project.tenant_id)
        upload = await _receive_upload(request, folder)
        try:
            backup = await run_in_threadpool(store_upload, ctx, user, project, upload)
        finally:
            upload.unlink(missing_ok=True)
        return {"backup": backup_json(backup)}


def schedule_interval() -> timedelta | None:
    """How often each project is backed up by `flux up` (FLUX_BACKUP_INTERVAL_HOURS, default
    24; 0 turns the schedule off)."""
    hours = float(os.environ.get("FLUX_BACKUP_INTERVAL_HOURS", "24"))
    return timedelta(hours=hours) if hours > 0 else None


def due_projects(ctx: ControlContext, interval: timedelta) -> list[Project]:
    """Active projects whose newest backup (or, without one, whose creation) is older than
    `interval`: a new project gets its first backup one interval after it was created."""
    with ctx.catalog.connection() as conn:
        rows = conn.execute(
            "SELECT p.hash FROM projects p WHERE p.status = 'active'"
            " AND greatest(p.created_at, (SELECT max(b.created_at) FROM backups b"
            "   WHERE b.tenant_id = p.tenant_id)) < now() - %s"
            " ORDER BY p.created_at",
            (interval,),
        ).fetchall()
        found = [catalog_projects.get_by_hash(conn, row["hash"]) for row in rows]
    return [p for p in found if p is not None]


def run_schedule(ctx: ControlContext) -> list[str]:
    """One round of the schedule: back up (and verify) every due project, one at a time, off
    the request path; a failure is logged and retried next round. Returns the hashes done."""
    interval = schedule_interval()
    if interval is None:
        return []
    done = []
    for project in due_projects(ctx, interval):
        try:
            create_backup(ctx, None, project, trigger="schedule")
            done.append(project.hash)
        except FluxError as exc:
            log.warning("scheduled backup of %s failed: %s", project.slug, exc.message)
    return done

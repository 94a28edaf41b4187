"""`flux backup create|list|verify|download|restore` (routes `projects/{hash}/backups…`).

A backup is taken, validated and restore-verified by the platform in one call (a spinner on a
terminal while it runs); `list` shows the trust label of each one with its timestamps as
`unixMs · ISO UTC · human UTC · relative`; `restore` passes the backup gate (a restore-verified
backup newer than the last push) unless `--skip-backup-check`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.client import LONG_TIMEOUT, ApiClient
from flux.cli.commands.confirm import confirm_by_typing
from flux.cli.commands.selection import ProjectOption, choose, label
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import ProjectRef
from flux.cli.state import get_state
from flux.cli.timestamps import four_part

backup_app = typer.Typer(help="Backups you can trust, and restores.", no_args_is_help=True)

BackupId = Annotated[str, typer.Argument(help="Backup id (see `flux backup list`).")]
SkipCheck = Annotated[
    bool, typer.Option(help="Restore even without a recent verified backup (audited).")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def describe_backup(backup: dict[str, Any], now: datetime | None = None) -> list[tuple[str, Any]]:
    rows = [
        ("id", backup.get("id")),
        ("status", backup.get("label")),
        ("created", four_part(backup["createdAt"], now)),
        ("size", _size(backup.get("sizeBytes"))),
        ("tables", f"{backup.get('tables')} ({backup.get('rows')} rows)"),
        ("sha256", backup.get("sha256")),
    ]
    if backup.get("verifiedAt"):
        rows.append(("verified", four_part(backup["verifiedAt"], now)))
    if backup.get("offsite"):
        rows.append(("offsite", backup["offsite"].get("uri")))
    if backup.get("error"):
        rows.append(("error", backup["error"]))
    return rows


def take_backup(client: ApiClient, ref: ProjectRef, *, verify: bool = True) -> dict[str, Any]:
    """Ask the platform for a backup of `ref` (spinner while it dumps and verifies)."""
    query = "" if verify else "?verify=false"
    with output.working(f"Backing up {label(ref)} (dump, validate, test restore)"):
        return client.post(f"projects/{ref.hash}/backups{query}")["backup"]


def report_backup(backup: dict[str, Any], title: str) -> None:
    output.key_values(title, describe_backup(backup))
    if backup.get("state") != "verified":
        output.warn(f"this backup is not restorable yet: {backup.get('label')}")


@backup_app.command("create")
def create(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the test restore (state: Created).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Take a backup, validate it and restore it into a disposable database to prove it."""
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        backup = take_backup(client, ref, verify=not no_verify)
    if json_:
        output.print_json({"backup": backup})
        return
    report_backup(backup, f"Backup of {label(ref)}")


@backup_app.command("list")
def list_backups(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """List a project's backups with their trust labels."""
    with get_state(ctx).client() as client:
        ref = choose(client, None, project, hash_)
        answer = client.get(f"projects/{ref.hash}/backups")
    if json_:
        output.print_json(answer)
        return
    backups = [b for b in answer.get("backups") or [] if isinstance(b, dict)]
    output.line(f"{label(ref)}: {answer.get('label')}")
    if not backups:
        output.line(f"Take one with `flux backup create -p {ref.slug or ''} --hash {ref.hash}`.")
        return
    now = datetime.fromisoformat(answer["now"]) if answer.get("now") else None
    output.rows_table(
        ["id", "status", "created", "size", "rows", "offsite"],
        [
            [
                b.get("id"),
                b.get("label"),
                four_part(b["createdAt"], now),
                _size(b.get("sizeBytes")),
                b.get("rows"),
                "yes" if b.get("offsite") else "",
            ]
            for b in backups
        ],
    )


@backup_app.command("verify")
def verify(
    ctx: typer.Context,
    backup_id: BackupId,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Check a backup again: checksum, archive readable, test restore with row counts."""
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        with output.working(f"Verifying backup {backup_id}"):
            backup = client.post(f"projects/{ref.hash}/backups/{backup_id}/verify")["backup"]
    if json_:
        output.print_json({"backup": backup})
        return
    report_backup(backup, f"Backup of {label(ref)}")


@backup_app.command("download")
def download(
    ctx: typer.Context,
    backup_id: BackupId,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: <id>.dump).")
    ] = None,
    project: ProjectOption = None,
    hash_: HashOption = None,
) -> None:
    """Download a backup's archive (a pg_dump custom-format file, written 0600)."""
    target = out or Path(f"{backup_id}.dump")
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        with output.working(f"Downloading backup {backup_id}"):
            size = client.download(f"projects/{ref.hash}/backups/{backup_id}/download", target)
    output.line(f"Wrote {target} ({_size(size)}). Inspect it with `pg_restore --list {target}`.")


def restore_report(answer: dict[str, Any], ref: ProjectRef) -> None:
    output.line(
        f"Restored {label(ref)} from backup {answer.get('backup')}: "
        f"{answer.get('tables')} tables, {answer.get('rows')} rows; ledger {answer.get('ledger')}."
    )


@backup_app.command("restore")
def restore(
    ctx: typer.Context,
    backup_id: BackupId,
    project: ProjectOption = None,
    hash_: HashOption = None,
    yes: YesOption = False,
    skip_backup_check: SkipCheck = False,
    json_: JsonOption = False,
) -> None:
    """Replace the project's data with a backup's, in one step that fully succeeds or
    changes nothing."""
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        if not yes:
            name = ref.slug or ref.hash
            output.note(f"This replaces every table of {label(ref)} with backup {backup_id}.")
            confirm_by_typing(name, f"Type the project slug ({name}) to confirm", "restore")
        query = "?skipBackupCheck=true" if skip_backup_check else ""
        with output.working(f"Restoring {label(ref)} from {backup_id}"):
            answer = client.post(f"projects/{ref.hash}/backups/{backup_id}/restore{query}")
    if json_:
        output.print_json(answer)
        return
    restore_report(answer, ref)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")

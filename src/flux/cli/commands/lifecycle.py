"""Lifecycle commands: `flux start|stop|repair|suspend|resume` (POST projects/{hash}/lifecycle)
and `flux nuke` (DELETE projects/{hash}), which asks for the slug to be typed unless --yes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.client import LONG_TIMEOUT, ApiClient
from flux.cli.commands.backup import take_backup
from flux.cli.commands.confirm import confirm_by_typing, interactive
from flux.cli.commands.selection import ProjectOption, choose, label
from flux.cli.manifest import find_manifest
from flux.cli.options import HashOption, JsonOption, SlugArgument
from flux.cli.project_ref import ProjectRef, describe
from flux.cli.state import get_state
from flux.errors import FluxError

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

# action -> (progress text, past tense, help)
_ACTIONS = {
    "start": (
        "Starting",
        "Started",
        "Start a dedicated project's Postgres and REST processes.",
    ),
    "stop": ("Stopping", "Stopped", "Stop a dedicated project's processes; data stays on disk."),
    "repair": (
        "Repairing",
        "Repaired",
        "Recreate a dedicated project's missing processes, re-run its bootstrap, fix ports.",
    ),
    "suspend": (
        "Suspending",
        "Suspended",
        "Suspend a project: its Service URL answers 503 until resumed.",
    ),
    "resume": ("Resuming", "Resumed", "Resume a suspended project."),
}


def _lifecycle_command(action: str) -> Any:
    progress, past, help_text = _ACTIONS[action]

    def command(
        ctx: typer.Context,
        slug: SlugArgument = None,
        project: ProjectOption = None,
        hash_: HashOption = None,
        json_: JsonOption = False,
    ) -> None:
        with get_state(ctx).client() as client:
            ref = choose(client, slug, project, hash_)
            with output.working(f"{progress} {label(ref)}"):
                answer = client.post(f"projects/{ref.hash}/lifecycle", {"action": action})
        if json_:
            output.print_json(answer)
            return
        name = answer.get("slug") or ref.slug
        output.line(
            f"{past} {name} ({answer.get('hash', ref.hash)}); status {answer.get('status')}."
        )
        for step in answer.get("done") or []:
            output.line(f"  - {step}")

    command.__doc__ = help_text
    command.__name__ = action
    return command


def _notify_manifest(ref: ProjectRef, slug: str | None) -> None:
    manifest = find_manifest(Path.cwd())
    if manifest is None:
        return
    if manifest.hash == ref.hash or (not manifest.hash and slug and manifest.slug == slug):
        output.note(
            f"note: {manifest.path} still links this folder to the deleted project; "
            "run `flux init` to create or link another"
        )


def nuke(
    ctx: typer.Context,
    slug: SlugArgument = None,
    project: ProjectOption = None,
    hash_: HashOption = None,
    yes: YesOption = False,
    skip_backup_check: Annotated[
        bool, typer.Option(help="Delete even without a recent verified backup (audited).")
    ] = False,
    backup: Annotated[
        bool, typer.Option("--backup", help="Take a verified backup first (kept after delete).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Delete a project and everything it holds (asks you to type the slug unless --yes).

    Refused without a restore-verified backup newer than the last push; on a terminal it
    offers to take one."""
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, slug, project, hash_)
        if not yes:
            name = ref.slug or str(describe(client, ref.hash).get("slug"))
            output.note(f"This permanently deletes {name} ({ref.hash}) and all its data.")
            confirm_by_typing(name, f"Type the project slug ({name}) to confirm", "delete it")
        if backup:
            take_backup(client, ref)
        path = f"projects/{ref.hash}" + ("?skipBackupCheck=true" if skip_backup_check else "")
        answer = _delete(client, ref, path, offer_backup=not yes and not backup)
    slug = answer.get("slug") or ref.slug
    if json_:
        output.print_json(answer)
    else:
        output.line(f"Deleted {slug} ({answer.get('hash', ref.hash)}).")
    _notify_manifest(ref, slug)


def _delete(client: ApiClient, ref: ProjectRef, path: str, *, offer_backup: bool) -> dict:
    """DELETE the project; refused by the backup gate, offer (on a terminal) to take one."""
    try:
        with output.working(f"Deleting {label(ref)}"):
            return client.request("DELETE", path)
    except FluxError as refused:
        if refused.status != 409 or not offer_backup or not interactive():
            raise
        output.note(refused.message)
        if not typer.confirm("Take a verified backup now, then delete?", default=True):
            raise
    backup = take_backup(client, ref)
    if backup.get("state") != "verified":
        raise FluxError(
            f"the backup did not verify ({backup.get('label')}): {backup.get('error')}",
            code="backup_failed",
            hint="nothing was deleted",
        )
    output.note(f"Backup {backup.get('id')} is Restorable.")
    with output.working(f"Deleting {label(ref)}"):
        return client.request("DELETE", path)


def register(app: typer.Typer) -> None:
    for action in _ACTIONS:
        app.command(action)(_lifecycle_command(action))
    app.command()(nuke)

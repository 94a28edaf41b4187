"""`flux migrations list`: the remote ledger of a project (GET projects/{hash}/migrations)."""

from __future__ import annotations

from typing import Any

import typer

from flux.cli import output
from flux.cli.commands.selection import ProjectOption, fetch_project_resource, label
from flux.cli.options import HashOption, JsonOption

migrations_app = typer.Typer(help="The migrations ledger of a project.", no_args_is_help=True)

SHORT_CHECKSUM = 12


def _duration(ms: Any) -> str:
    return f"{ms} ms" if isinstance(ms, int) else ""


def _row(entry: dict[str, Any]) -> list[Any]:
    checksum = str(entry.get("checksum") or "")
    return [
        entry.get("version"),
        entry.get("kind"),
        checksum[:SHORT_CHECKSUM],
        entry.get("appliedAt"),
        entry.get("appliedBy"),
        _duration(entry.get("durationMs")),
    ]


@migrations_app.command("list")
def list_migrations(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """List applied migrations and repeatable scripts, with checksums and times."""
    ref, answer = fetch_project_resource(ctx, project, hash_, "migrations")
    if json_:
        output.print_json(answer)
        return
    entries = [m for m in answer.get("migrations") or [] if isinstance(m, dict)]
    if not entries:
        output.line(f"No migrations applied to {label(ref)} yet. Apply some with `flux push`.")
        return
    output.rows_table(
        ["version", "kind", "checksum", "applied at", "applied by", "duration"],
        [_row(m) for m in entries],
        title=f"Migrations of {label(ref)}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(migrations_app, name="migrations")

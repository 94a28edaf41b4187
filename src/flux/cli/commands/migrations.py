"""`flux migrations list`: the remote ledger of a project (GET projects/{hash}/migrations).
`flux migration new <name>`: a new, empty, timestamped migration file in the local migrations
folder (like `supabase migration new`); `migration` and `migrations` name the same group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.commands.selection import ProjectOption, fetch_project_resource, label
from flux.cli.manifest import migrations_source
from flux.cli.options import HashOption, JsonOption
from flux.errors import FluxError

migrations_app = typer.Typer(
    help="Migrations: a project's ledger, and new local migration files.", no_args_is_help=True
)

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


@migrations_app.command("new")
def new_migration(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_todos.")],
    json_: JsonOption = False,
) -> None:
    """Create an empty migration file <UTC timestamp>_<name>.sql to edit, then `flux push`."""
    from flux.migrations.discovery import new_migration_path

    cwd = Path.cwd()
    root, configured = migrations_source(cwd)
    path = new_migration_path(root, name, configured)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(f"-- {path.stem}\n")
    except FileExistsError:
        raise FluxError(f"{path} already exists", code="exists", hint="wait a second") from None
    shown = path.relative_to(cwd) if path.is_relative_to(cwd) else path
    if json_:
        output.print_json({"path": str(path)})
        return
    output.line(f"Created {shown}")


def register(app: typer.Typer) -> None:
    app.add_typer(migrations_app, name="migrations")
    app.add_typer(migrations_app, name="migration", hidden=True)

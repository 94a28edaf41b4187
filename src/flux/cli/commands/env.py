"""`flux env list`: the REST process environment of a dedicated project, as the server shows it
(GET projects/{hash}/env, secrets already hidden there; the CLI prints nothing else)."""

from __future__ import annotations

from typing import Any

import typer

from flux.cli import output
from flux.cli.commands.selection import ProjectOption, fetch_project_resource, label
from flux.cli.options import HashOption, JsonOption

env_app = typer.Typer(help="A dedicated project's REST process environment.", no_args_is_help=True)


def _pairs(env: Any) -> list[tuple[str, Any]]:
    """{"K": "v"} or [{"name": "K", "value": "v"}] → sorted (name, value) pairs."""
    if isinstance(env, dict):
        return sorted(env.items())
    if isinstance(env, list):
        return sorted(
            (str(item.get("name")), item.get("value")) for item in env if isinstance(item, dict)
        )
    return []


@env_app.command("list")
def list_env(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Show the REST process environment (PGRST_*), secrets hidden."""
    ref, answer = fetch_project_resource(ctx, project, hash_, "env")
    if json_:
        output.print_json(answer)
        return
    pairs = _pairs(answer.get("env"))
    if not pairs:
        output.line(f"{label(ref)} has no REST process environment.")
        return
    for name, value in pairs:
        output.line(f"{name}={'' if value is None else value}")


def register(app: typer.Typer) -> None:
    app.add_typer(env_app, name="env")

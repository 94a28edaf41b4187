"""`flux secrets rotate`: a new project JWT secret (POST projects/{hash}/secrets/rotate),
printed once as the env lines an app reads; tokens signed with the old secret stop working."""

from __future__ import annotations

from typing import Annotated

import typer

from flux.cli import output
from flux.cli.commands.confirm import confirm
from flux.cli.commands.projects import env_name
from flux.cli.commands.selection import ProjectOption, choose, label
from flux.cli.options import HashOption, JsonOption, SlugArgument
from flux.cli.state import get_state

secrets_app = typer.Typer(help="Project secrets.", no_args_is_help=True)

_NOT_SECRETS = {"rotatedAt", "slug", "hash", "mode"}


@secrets_app.command("rotate")
def rotate(
    ctx: typer.Context,
    slug: SlugArgument = None,
    project: ProjectOption = None,
    hash_: HashOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_: JsonOption = False,
) -> None:
    """Rotate a project's JWT secret (dedicated projects also get new anon/service keys)."""
    with get_state(ctx).client() as client:
        ref = choose(client, slug, project, hash_)
        if not yes:
            confirm(
                f"Rotate the JWT secret of {label(ref)}? Tokens signed with the old one stop working.",
                "rotate the secret",
            )
        answer = client.post(f"projects/{ref.hash}/secrets/rotate")
    if json_:
        output.print_json(answer)
        return
    output.line(f"Rotated the JWT secret of {label(ref)}.")
    for key, value in output.flatten(answer).items():
        if key not in _NOT_SECRETS:
            output.line(f"{env_name(key)}={value}")
    output.warn(
        "the new secret is shown only once; update your app's environment now "
        "(tokens signed with the old secret are rejected)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")

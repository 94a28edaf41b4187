"""The `flux` Typer application and its entry point `main()`.

The root group is the CLI's single error boundary: any FluxError raised by a command becomes
one `error:` line plus a `hint:` line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from flux.cli import output
from flux.cli.commands import (
    auth,
    backup,
    dashboard,
    db,
    doctor,
    domains,
    env,
    lifecycle,
    migrations,
    plans,
    platform,
    projects,
    push,
    secrets,
    token,
)
from flux.cli.settings import Flags
from flux.cli.state import CliState
from flux.errors import FluxError


class FluxGroup(TyperGroup):
    """Root command group that renders FluxErrors instead of raising them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FluxError as error:
            output.render_error(error)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="flux",
    cls=FluxGroup,
    help="Flux: PostgreSQL-first backends for many projects, from one control plane.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens and secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    api_base: Annotated[
        str | None, typer.Option(help="Control-plane API base (overrides FLUX_API_BASE).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token (overrides FLUX_API_TOKEN).")] = None,
) -> None:
    """Flux: PostgreSQL-first backends for many projects, from one control plane."""
    ctx.obj = CliState(Flags(api_base=api_base, token=token))


for module in (
    platform,
    auth,
    projects,
    token,
    push,
    migrations,
    secrets,
    env,
    lifecycle,
    backup,
    db,
    domains,
    doctor,
    plans,
    dashboard,
):
    module.register(app)


def main() -> None:
    """Console-script entry point (`flux`)."""
    app()

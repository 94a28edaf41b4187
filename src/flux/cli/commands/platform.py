"""Commands that run Flux itself rather than calling the API: `flux up`, `flux rest`, `flux version`."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

import flux
from flux.cli import output
from flux.cli.options import JsonOption
from flux.errors import FluxError


def _load(module: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise FluxError(
                f"{what} is not available in this installation ({module} missing)",
                code="not_installed",
                hint="reinstall flux: pip install -e .",
            ) from exc
        raise


def _finish(result: object) -> None:
    if isinstance(result, int) and result != 0:
        raise typer.Exit(result)


def up(
    home: Annotated[
        Path | None,
        typer.Option(help="State directory (default: $FLUX_HOME or ~/.local/share/flux)."),
    ] = None,
    api_port: Annotated[
        int | None, typer.Option(help="Control-plane port (default: $FLUX_API_PORT or 8080).")
    ] = None,
    gateway_port: Annotated[
        int | None, typer.Option(help="Gateway port (default: $FLUX_GATEWAY_PORT or 8000).")
    ] = None,
) -> None:
    """Start the embedded platform (Postgres, catalog, control plane, gateway) until Ctrl-C."""
    _finish(_load("flux.up", "`flux up`").main(home, api_port, gateway_port))


def rest(
    config_file: Annotated[
        Path | None, typer.Argument(help="PostgREST-style config file (PGRST_* override it).")
    ] = None,
) -> None:
    """Run the standalone PostgREST-compatible REST engine, configured by PGRST_* variables."""
    _finish(
        _load("flux.rest.server", "`flux rest`").main([str(config_file)] if config_file else [])
    )


def version(json_: JsonOption = False) -> None:
    """Show the Flux version."""
    if json_:
        output.print_json({"version": flux.__version__})
    else:
        output.line(f"flux {flux.__version__}")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(rest)
    app.command()(version)

"""Commands that run Flux itself rather than calling the API: `flux up`, `flux rest`, `flux version`.

`flux up` takes the home's lock and checks its ports before it imports the platform (a heavy
import), so a refused start answers at once, in one line, having changed nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

import flux
from flux.cli import output
from flux.cli.options import JsonOption
from flux.config import Settings
from flux.errors import FluxError
from flux.homelock import HomeLock
from flux.postgres.ports import port_is_free


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
    """Start the embedded platform (Postgres, catalog, control plane, gateway) until Ctrl-C.

    One per state directory: a second `flux up` on the same home exits, naming the first."""
    options = (("home", home), ("api_port", api_port), ("gateway_port", gateway_port))
    settings = Settings(**{key: value for key, value in options if value is not None})
    with HomeLock.acquire(settings.home) as lock:
        lock.record(api_port=settings.api_port, gateway_port=settings.gateway_port)
        _check_ports(settings)
        _finish(_load("flux.up", "`flux up`").main(settings))


def _check_ports(settings: Settings) -> None:
    """Refuse, in one line and before anything starts, ports that are taken or the same."""
    s = settings
    if s.api_port == s.gateway_port:
        raise FluxError(
            f"the API and the gateway cannot share port {s.api_port}; "
            "pass different --api-port/--gateway-port",
            code="ports_busy",
        )
    busy = [
        f"{port} ({what})"
        for what, port in (("API", s.api_port), ("gateway", s.gateway_port))
        if not port_is_free(port, s.host)
    ]
    if busy:
        raise FluxError(
            f"port{'s' if len(busy) > 1 else ''} already in use on {s.host}: {', '.join(busy)}; "
            "free them or pass --api-port/--gateway-port",
            code="ports_busy",
        )


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

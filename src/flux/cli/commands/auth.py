"""`flux login`, `flux logout`, `flux whoami`: the API base and token the CLI uses."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.client import ApiClient
from flux.cli.options import JsonOption
from flux.cli.settings import CliSettings, Flags, resolve_settings
from flux.cli.state import get_state
from flux.cli.user_config import load_user_config, update_user_config
from flux.errors import FluxError

_SOURCE_LABELS = {
    "flag": "command-line flag",
    "env": "shell environment",
    "dotenv": ".env next to flux.json",
    "config": "~/.flux/config.json",
    "default": "built-in default",
}


def _verify(settings: CliSettings) -> dict[str, Any]:
    with ApiClient(settings) as client:
        return client.get("auth/verify")


def _read_token() -> str:
    """Prompt without echo on a terminal; read one line from a pipe (`echo $T | flux login`)."""
    if sys.stdin.isatty():
        return typer.prompt("API token", hide_input=True).strip()
    return sys.stdin.readline().strip()


def login(
    ctx: typer.Context,
    api_base: Annotated[
        str | None, typer.Option(help="Control-plane API base, e.g. http://127.0.0.1:8080/api.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token (flx_live_...); prompted for when missing.")
    ] = None,
) -> None:
    """Verify an API token against the control plane and store both in ~/.flux/config.json."""
    flags = get_state(ctx).flags
    api_base = api_base or flags.api_base
    token = token or flags.token
    resolved = resolve_settings(Flags(api_base=api_base))
    if not token and resolved.sources.get("token") in ("env", "dotenv"):
        token = resolved.token
    if not token:
        token = _read_token()
    if not token:
        raise FluxError(
            "no API token given",
            code="no_token",
            hint="pass --token flx_live_... (printed by `flux up`)",
        )
    settings = resolve_settings(Flags(api_base=resolved.api_base, token=token))
    answer = _verify(settings)

    stored = load_user_config(settings.config_file)
    dashboard = None
    if settings.sources.get("dashboard_base") in ("flag", "env", "dotenv"):
        dashboard = settings.dashboard_base
    elif stored.get("apiBase") == settings.api_base:
        dashboard = stored.get("dashboardBase")
    update_user_config(
        settings.config_file, apiBase=settings.api_base, token=token, dashboardBase=dashboard
    )
    email = (answer.get("user") or {}).get("email", "?")
    output.line(f"Logged in as {email} at {settings.api_base}", style="green")
    output.note(f"Saved to {settings.config_file}")


def logout(ctx: typer.Context) -> None:
    """Forget the stored API token (the API base is kept)."""
    settings = get_state(ctx).settings
    stored = load_user_config(settings.config_file)
    if stored.get("token"):
        update_user_config(settings.config_file, token=None)
        output.line(f"Logged out (token removed from {settings.config_file})")
    else:
        output.line("Not logged in (no token stored).")
    source = settings.sources.get("token")
    if source in ("env", "dotenv"):
        output.warn(f"FLUX_API_TOKEN is still set ({_SOURCE_LABELS[source]}) and will be used")


def whoami(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show who the configured token belongs to, and where the configuration came from."""
    settings = get_state(ctx).settings
    answer = _verify(settings)
    if json_:
        output.print_json(
            {**answer, "apiBase": settings.api_base, "tokenSource": settings.sources.get("token")}
        )
        return
    user = answer.get("user") or {}
    output.key_values(
        "Flux account",
        [
            ("user", f"{user.get('email', '?')} (id {user.get('id', '?')})"),
            ("plan", answer.get("plan")),
            ("default mode", answer.get("defaultMode")),
            ("API base", f"{settings.api_base}  [{_SOURCE_LABELS[settings.sources['api_base']]}]"),
            ("token from", _SOURCE_LABELS.get(settings.sources.get("token", ""), "none")),
        ],
    )


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)

"""`flux open`: print the dashboard URL (FLUX_DASHBOARD_BASE or the stored dashboardBase) and
open it in a browser when a display is available."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Annotated

import typer

from flux.cli import output
from flux.cli.state import get_state


def display_available() -> bool:
    """A graphical session exists (always on macOS/Windows; X11 or Wayland elsewhere)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_dashboard(
    ctx: typer.Context,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the URL.")] = False,
) -> None:
    """Open the Flux dashboard (prints its URL; opens a browser when there is a display)."""
    url = get_state(ctx).settings.dashboard_base + "/"
    output.line(url)
    if not no_browser and display_available() and not webbrowser.open(url):
        output.note("could not open a browser; copy the URL above")


def register(app: typer.Typer) -> None:
    app.command("open")(open_dashboard)

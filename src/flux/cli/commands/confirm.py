"""Confirmation of destructive commands: prompts on a terminal, and an error telling the
user to pass `--yes` when nobody can answer (pipes, CI)."""

from __future__ import annotations

import sys

import typer

from flux.errors import FluxError


def interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def _need_yes(what: str) -> FluxError:
    return FluxError(
        f"refusing to {what} without confirmation (not a terminal)",
        code="confirmation_required",
        hint="pass --yes to confirm",
    )


def confirm(question: str, what: str) -> None:
    """Ask a yes/no question; anything but yes is a FluxError (nothing done)."""
    if not interactive():
        raise _need_yes(what)
    if not typer.confirm(question, default=False):
        raise FluxError(f"cancelled; did not {what}", code="cancelled")


def confirm_by_typing(expected: str, prompt: str, what: str) -> None:
    """Make the user type `expected` (e.g. the project slug) to go on."""
    if not interactive():
        raise _need_yes(what)
    answer = typer.prompt(prompt, default="", show_default=False).strip()
    if answer != expected:
        raise FluxError(
            f"confirmation did not match '{expected}'; did not {what}",
            code="cancelled",
            hint=f"type exactly {expected}, or pass --yes",
        )

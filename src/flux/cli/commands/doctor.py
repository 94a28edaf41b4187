"""`flux doctor`: the server's health and security checks of a project
(POST projects/{hash}/doctor), each PASS/WARN/FAIL with its remediation; exit 1 on any FAIL."""

from __future__ import annotations

from typing import Any

import typer

from flux.cli import output
from flux.cli.commands.selection import ProjectOption, choose, label
from flux.cli.options import HashOption, JsonOption, SlugArgument
from flux.cli.state import get_state

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}


def _print_check(check: dict[str, Any]) -> None:
    status = str(check.get("status") or "?").upper()
    output.line(
        f"{status:<4}  {check.get('name', '?')}: {check.get('message', '')}",
        style=_STYLE.get(status),
    )
    if status != "PASS" and check.get("remediation"):
        output.line(f"      fix: {check['remediation']}", style="dim")


def doctor(
    ctx: typer.Context,
    slug: SlugArgument = None,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Check a project's health and security; exits 1 if any check FAILs."""
    with get_state(ctx).client() as client:
        ref = choose(client, slug, project, hash_)
        with output.working(f"Checking {label(ref)}"):
            answer = client.post(f"projects/{ref.hash}/doctor")
    checks = [c for c in answer.get("checks") or [] if isinstance(c, dict)]
    if json_:
        output.print_json(answer)
    else:
        for check in checks:
            _print_check(check)
        counts = {s: sum(1 for c in checks if str(c.get("status")).upper() == s) for s in _STYLE}
        output.line(
            f"{label(ref)}: {counts['PASS']} passed, {counts['WARN']} "
            f"{'warning' if counts['WARN'] == 1 else 'warnings'}, "
            f"{counts['FAIL']} failed."
        )
    if any(str(c.get("status")).upper() == "FAIL" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)

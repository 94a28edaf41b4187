"""`flux push` (SPEC §7): find the SQL files locally, send them in one `POST push`, print the
report's lines exactly as the server wrote them, then each error with its SQLSTATE, message,
file line/column and hint. The exit code is the report's.

Discovery, the 4 MiB limit and UTF-8 decoding run client-side (`flux.migrations.discovery`).
A file over the limit is never sent: a push refuses before any request, while `--plan` and
`--dry-run` list it as blocked next to the server's plan for the other files.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from flux.cli import output
from flux.cli.client import ApiClient
from flux.cli.commands.selection import ProjectOption, label
from flux.cli.manifest import migrations_source
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import select_project
from flux.cli.state import get_state
from flux.errors import FluxError
from flux.migrations.discovery import discover
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile

# a push runs every file server-side before answering; long DDL must not hit the 60 s default
PUSH_TIMEOUT = httpx.Timeout(1800.0, connect=5.0)


class PushMode(StrEnum):
    """How pushed files are tracked (SPEC §7)."""

    raw = "raw"
    versioned = "versioned"
    repeatable = "repeatable"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _too_large_message(file: MigrationFile) -> str:
    return f"{file.name} is {_mib(file.size)}, over the {_mib(MAX_FILE_BYTES)} limit"


def _too_large_error(file: MigrationFile) -> dict[str, Any]:
    return {
        "code": "file_too_large",
        "message": _too_large_message(file),
        "sqlstate": None,
        "file": file.name,
        "line": None,
        "column": None,
        "detail": None,
        "hint": "split it into several files",
        "statement": None,
    }


def _empty_plan(operation: str, mode: str) -> dict[str, Any]:
    """The report of a plan with nothing sent (every file was over the limit)."""
    title = "Plan" if operation == "plan" else "Dry run"
    return {
        "ok": True,
        "exitCode": 0,
        "operation": operation,
        "engine": None,
        "mode": mode,
        "applied": 0,
        "skipped": 0,
        "files": [],
        "lines": [f"{title}: 0 to apply, 0 skipped, 0 blocked."],
        "errors": [],
        "warnings": [],
        "missingLocally": [],
    }


def with_oversized(report: dict[str, Any], big: list[MigrationFile]) -> dict[str, Any]:
    """A plan/dry-run report with the files that were not sent (over the limit) added as blocked:
    one line each before the summary, whose blocked count they join, an error each, exit 1."""
    if not big:
        return report
    lines = list(report.get("lines") or [])
    summary = lines.pop() if lines else ""
    summary = re.sub(
        r"(\d+) blocked\.$", lambda m: f"{int(m.group(1)) + len(big)} blocked.", summary
    )
    files = list(report.get("files") or [])
    for file in big:
        lines.append(f"✗ {_too_large_message(file)}")
        files.append(
            {"name": file.name, "path": file.path, "action": "too_large", "sizeBytes": file.size}
        )
    return {
        **report,
        "ok": False,
        "exitCode": max(int(report.get("exitCode") or 0), 1),
        "files": files,
        "lines": [*lines, summary] if summary else lines,
        "errors": [*(report.get("errors") or []), *(_too_large_error(f) for f in big)],
    }


def _refuse_oversized(big: list[MigrationFile]) -> FluxError:
    names = "; ".join(_too_large_message(f) for f in big)
    return FluxError(
        f"push refused, nothing was sent: {names}",
        code="file_too_large",
        hint="split large files into several (`flux push --dry-run` lists them all)",
    )


def _where(error: dict[str, Any]) -> str:
    place = str(error.get("file") or "")
    if error.get("line") is not None:
        place += f" line {error['line']}"
        if error.get("column") is not None:
            place += f", column {error['column']}"
    return place.strip()


def print_errors(errors: list[dict[str, Any]]) -> None:
    """Each error on stderr: file line/column, SQLSTATE and message, then detail and hint."""
    for error in errors:
        where = _where(error)
        state = f"SQLSTATE {error['sqlstate']}: " if error.get("sqlstate") else ""
        prefix = f"{where}: " if where else ""
        output.note(f"error: {prefix}{state}{error.get('message', '')}", style="bold red")
        if error.get("detail"):
            output.note(f"  detail: {error['detail']}")
        if error.get("hint"):
            output.note(f"  hint: {error['hint']}", style="dim")


def print_warnings(warnings: list[Any]) -> None:
    for warning in warnings:
        if isinstance(warning, dict):
            output.warn(str(warning.get("message") or warning))
            if warning.get("remediation"):
                output.note(f"  fix: {warning['remediation']}", style="dim")
        else:
            output.warn(str(warning))


def push(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A .sql file or a folder of them (default: migrations/, flux/migrations/, "
            "sql/, then schema.sql at the project root).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        PushMode | None,
        typer.Option(
            help="raw (no ledger), versioned (default for folders and migrations/ files) or "
            "repeatable (re-run when changed)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-run a repeatable script even if unchanged.")
    ] = False,
    script_id: Annotated[
        str | None,
        typer.Option("--id", help="Key of a repeatable script (default: its repo-relative path)."),
    ] = None,
    plan: Annotated[
        bool,
        typer.Option("--plan", help="Show what would run (with a DDL summary); apply nothing."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Like --plan, for CI: exits non-zero on conflicts or oversized files."
        ),
    ] = False,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Apply SQL migrations to a project: skip applied files, refuse changed ones (SPEC §7)."""
    cwd = Path.cwd()
    root, configured = migrations_source(cwd)
    discovery = discover(None if path is None else cwd / path, root, configured)
    mode_value = mode.value if mode else discovery.default_mode
    operation = "plan" if plan else "dry_run" if dry_run else "push"
    big = [f for f in discovery.files if f.oversized]
    if big and operation == "push":
        raise _refuse_oversized(big)
    sendable = [f for f in discovery.files if not f.oversized]
    state = get_state(ctx)
    with ApiClient(state.settings, timeout=PUSH_TIMEOUT) as client:
        ref = select_project(client, project, hash_)
        body: dict[str, Any] = {
            "hash": ref.hash,
            "mode": mode_value,
            "files": [{"filename": f.name, "sql": f.sql, "path": f.path} for f in sendable],
            "force": force,
            "plan": plan,
            "dryRun": dry_run and not plan,
        }
        if ref.slug:
            body["slug"] = ref.slug
        if script_id:
            body["scriptId"] = script_id
        if sendable:
            count = len(sendable)
            verb = "Pushing" if operation == "push" else "Planning"
            with output.working(
                f"{verb} {count} file{'s' if count != 1 else ''} ({discovery.source}) "
                f"to {label(ref)}"
            ):
                report = client.post("push", body)
        else:
            report = _empty_plan(operation, mode_value)
    report = with_oversized(report, big)
    if json_:
        output.print_json(report)
    else:
        for text in report.get("lines") or []:
            output.line(str(text))
        print_errors(report.get("errors") or [])
        print_warnings(report.get("warnings") or [])
    # --plan only shows; --dry-run (for CI) and a real push report failure through the exit code
    code = 0 if plan else int(report.get("exitCode") or 0)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command()(push)

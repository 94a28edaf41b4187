"""The public face of `flux.migrations`: push (with plan / dry run), ledger, v1 audit.

The control plane's push route and `flux doctor` call these; the CLI renders `PushReport`
(`lines` for humans, `to_json()` for `--json`, `exit_code` for the process). A push runs under
`PushLimits` (the platform maxima) and stops, rolling back the running file, when its
`cancelled` event is set (the control plane sets it when the HTTP client disconnects).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

from flux.errors import BadInput
from flux.migrations.audit import Finding, audit_v1
from flux.migrations.executor import LockBusy, PushSession, PushStopped, connect, shared_policy
from flux.migrations.files import MAX_FILE_BYTES, MODES, MigrationFile, Mode
from flux.migrations.guard import SharedPolicy, Violation, check_file
from flux.migrations.ledger_tables import LedgerKind, LedgerRow, read_ledger
from flux.migrations.lexer import parse
from flux.migrations.planner import Plan, PlannedFile, make_plan
from flux.migrations.report import Operation, PushError, PushEvent, PushReport
from flux.migrations.target import PushLimits, PushTarget

__all__ = [
    "Finding",
    "LedgerRow",
    "MigrationFile",
    "PushError",
    "PushEvent",
    "PushLimits",
    "PushReport",
    "PushTarget",
    "audit_v1",
    "ledger",
    "push",
]


def _short(digest: str | None) -> str:
    return (digest or "")[:12] + "…"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _violation_error(item: PlannedFile, v: Violation) -> PushError:
    return PushError(v.code, v.message, v.sqlstate, item.file.name, v.line, v.column, hint=v.hint)


def _static_errors(items: list[PlannedFile], policy: SharedPolicy | None) -> list[PushError]:
    errors = []
    for item in items:
        if item.action == "apply" and (found := check_file(parse(item.file.sql), policy)):
            errors.append(_violation_error(item, found[1]))
    return errors


def _blocked_errors(plan: Plan) -> list[PushError]:
    errors = []
    for item in plan.blocked:
        if item.action == "conflict":
            errors.append(
                PushError(
                    "checksum_conflict",
                    f"{item.file.name} was changed after it was applied "
                    f"(applied checksum {item.remote_checksum}, local checksum {item.file.checksum})",
                    file=item.file.name,
                    hint="applied migrations are immutable: restore the file and add a new one",
                )
            )
        else:
            errors.append(
                PushError(
                    "file_too_large",
                    f"{item.file.name} is {_mib(item.file.size)}, over the "
                    f"{_mib(MAX_FILE_BYTES)} limit",
                    file=item.file.name,
                    hint="split it into several files",
                )
            )
    return errors


def _blocked_line(item: PlannedFile) -> str:
    if item.action == "conflict":
        return (
            f"✗ {item.file.name} checksum conflict (applied {_short(item.remote_checksum)},"
            f" local {_short(item.file.checksum)})"
        )
    return f"✗ {item.file.name} is {_mib(item.file.size)}, over the {_mib(MAX_FILE_BYTES)} limit"


def _file_json(item: PlannedFile, status: str, duration_ms: int | None = None) -> dict[str, Any]:
    data = item.to_json()
    data["status"] = status
    data["durationMs"] = duration_ms
    return data


def _report_missing(report: PushReport, plan: Plan) -> None:
    report.missing_locally = plan.missing_locally
    for version in plan.missing_locally:
        report.say(
            "missing", version, f"? {version} is in the remote ledger but not in local files"
        )


def _plan_report(report: PushReport, plan: Plan, policy: SharedPolicy | None) -> None:
    counts = {"apply": 0, "skip": 0}
    for item in plan.items:
        name = item.file.name
        if item.action == "skip":
            report.say("skip", name, f"✓ {name} already applied")
        elif item.action == "apply":
            summary = item.summary.describe() if item.summary else ""
            report.say("plan", name, f"→ {name} would apply ({summary})")
            for drop in item.summary.destructive if item.summary else []:
                report.say("destructive", name, f"  ! {drop}")
        else:
            report.say(item.action, name, _blocked_line(item))
        counts[item.action] = counts.get(item.action, 0) + 1
        report.files.append(_file_json(item, item.action))
    _report_missing(report, plan)
    report.errors.extend(_blocked_errors(plan))
    for error in _static_errors(plan.items, policy):
        report.errors.append(error)
        report.say("failed", error.file, f"✗ {error.file} would be refused{error.describe()}")
    label = "Plan" if report.operation == "plan" else "Dry run"
    report.skipped = counts["skip"]
    report.say(
        "summary",
        None,
        f"{label}: {counts['apply']} to apply, {counts['skip']} skipped, "
        f"{len(plan.blocked)} blocked.",
    )


def _refuse(report: PushReport, plan: Plan, errors: list[PushError], why: str) -> None:
    for item in plan.items:
        report.files.append(_file_json(item, item.action if item in plan.blocked else "not_run"))
    for item in plan.blocked:
        report.say(item.action, item.file.name, _blocked_line(item))
    for error in errors:
        if error.code not in ("checksum_conflict", "file_too_large"):
            report.say("failed", error.file, f"✗ {error.file} refused{error.describe()}")
    report.errors.extend(errors)
    report.say("summary", None, f"Push refused: {why}; nothing was applied.")


def _execute(
    report: PushReport,
    session: PushSession,
    plan: Plan,
    applied_by: str,
    after_push: Callable[[], None] | None,
) -> None:
    kind: LedgerKind | None = (
        None if plan.mode == "raw" else ("repeatable" if plan.mode == "repeatable" else "versioned")
    )
    failed = False
    try:
        for item in plan.items:
            name = item.file.name
            if failed:
                report.files.append(_file_json(item, "not_run"))
                continue
            if item.action == "skip":
                report.skipped += 1
                report.say("skip", name, f"✓ {name} already applied")
                report.files.append(_file_json(item, "skipped"))
                continue
            report.say("applying", name, f"→ {name} applying...")
            result = session.apply(
                name, item.file.sql, item.key, kind, item.file.checksum, applied_by
            )
            if session.target.engine == "v1_dedicated" and result.error is None:
                report.warnings = [f.to_json() for f in result.warnings]
            if result.error is not None:
                failed = True
                report.errors.append(result.error)
                report.say("failed", name, f"✗ {name} failed{result.error.describe()}")
                report.files.append(_file_json(item, "failed", result.duration_ms))
                continue
            report.applied += 1
            report.say("applied", name, f"✓ {name} applied")
            report.files.append(_file_json(item, "applied", result.duration_ms))
    finally:
        if after_push is not None and report.applied:
            # Once, before the push answers — also when a later file failed or the connection
            # dropped (SPEC §7 reload guarantee). Reloading after every file made a push of N
            # files re-read a schema of up to N tables N times.
            after_push()
    _report_missing(report, plan)
    verdict = "Failed" if failed else "Done"
    report.say("summary", None, f"{verdict}. {report.applied} applied, {report.skipped} skipped.")


def push(
    target: PushTarget,
    files: list[MigrationFile],
    *,
    mode: Mode,
    force: bool = False,
    script_id: str | None = None,
    plan: bool = False,
    dry_run: bool = False,
    applied_by: str,
    on_event: Callable[[PushEvent], None] | None = None,
    after_push: Callable[[], None] | None = None,
    limits: PushLimits | None = None,
    cancelled: threading.Event | None = None,
) -> PushReport:
    """Plan, dry-run or apply `files` to `target` (SPEC §7). Raises BadInput for bad arguments;
    database failures, conflicts and refusals are reported in the returned PushReport."""
    if mode not in MODES:
        raise BadInput(f"unknown mode {mode!r} (raw, versioned, repeatable)", code="bad_mode")
    operation: Operation = "plan" if plan else "dry_run" if dry_run else "push"
    report = PushReport(operation, target.engine, mode, on_event=on_event)
    try:
        if operation != "push":
            with connect(target) as conn:
                rows = read_ledger(conn, target.ledger_key)
                policy = shared_policy(conn, target)
            the_plan = make_plan(
                files, rows, mode, force=force, script_id=script_id, with_summary=True
            )
            _plan_report(report, the_plan, policy)
            return report
        with PushSession.open(target, limits or PushLimits(), cancelled) as session:
            the_plan = make_plan(files, session.ledger(), mode, force=force, script_id=script_id)
            if the_plan.blocked:
                conflicts = sum(1 for i in the_plan.blocked if i.action == "conflict")
                why = (
                    f"{conflicts} checksum conflict{'s' if conflicts != 1 else ''}"
                    if conflicts
                    else "a file is over the size limit"
                )
                _refuse(report, the_plan, _blocked_errors(the_plan), why)
                return report
            if static := _static_errors(the_plan.items, session.policy):
                _refuse(report, the_plan, static, "a file contains a statement Flux does not run")
                return report
            _execute(report, session, the_plan, applied_by, after_push)
    except LockBusy as busy:
        report.errors.append(
            PushError(
                "push_locked", str(busy), hint="wait for the other push to finish, then retry"
            )
        )
        report.say("failed", None, f"✗ {busy}")
    except PushStopped as stopped:
        report.errors.append(PushError("push_cancelled", str(stopped), "57014"))
        report.say("failed", None, f"✗ {stopped}")
    except psycopg.OperationalError as exc:
        report.errors.append(
            PushError(
                "database_unavailable",
                str(exc).strip().splitlines()[0]
                if str(exc)
                else "cannot reach the project database",
            )
        )
        report.say("failed", None, "✗ cannot reach the project database")
    return report


def ledger(target: PushTarget) -> list[LedgerRow]:
    """The remote ledger of a project (versioned rows, then repeatable scripts)."""
    with connect(target) as conn:
        return read_ledger(conn, target.ledger_key)

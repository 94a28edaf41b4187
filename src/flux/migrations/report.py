"""The result of a push, plan or dry run: printable lines plus structured, JSON-ready fields.

Lines are exactly what the CLI prints (SPEC §7): `✓ 001_init.sql already applied`,
`→ 002_indexes.sql applying...`, `✓ 002_indexes.sql applied`, `Done. 1 applied, 1 skipped.`
Each line is also emitted as a `PushEvent` to an optional callback for progress displays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Operation = Literal["push", "plan", "dry_run"]


@dataclass(frozen=True, slots=True)
class PushEvent:
    kind: (
        str  # skip | applying | applied | failed | conflict | too_large | plan | missing | summary
    )
    file: str | None
    line: str


@dataclass(frozen=True, slots=True)
class PushError:
    """Why a push stopped; `sqlstate` is set for database errors, positions are 1-based."""

    code: str
    message: str
    sqlstate: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    detail: str | None = None
    hint: str | None = None
    statement: str | None = None

    def describe(self) -> str:
        where = f" at line {self.line}, column {self.column}" if self.line is not None else ""
        state = f"{self.sqlstate} " if self.sqlstate else ""
        return f"{where}: {state}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PushReport:
    operation: Operation
    engine: str
    mode: str
    files: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    errors: list[PushError] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    missing_locally: list[str] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0
    on_event: Callable[[PushEvent], None] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0 on success; 1 when the push failed or was refused (or a dry run found problems)."""
        return 0 if self.ok else 1

    def say(self, kind: str, file: str | None, line: str) -> None:
        self.lines.append(line)
        if self.on_event is not None:
            self.on_event(PushEvent(kind, file, line))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exitCode": self.exit_code,
            "operation": self.operation,
            "engine": self.engine,
            "mode": self.mode,
            "applied": self.applied,
            "skipped": self.skipped,
            "files": self.files,
            "lines": self.lines,
            "errors": [e.to_json() for e in self.errors],
            "warnings": self.warnings,
            "missingLocally": self.missing_locally,
        }

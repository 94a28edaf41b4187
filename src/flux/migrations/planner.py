"""Planning a push: local files + remote ledger → what happens to each file.

Per file: `skip` (applied with the same checksum, or an unchanged repeatable script),
`apply` (new, raw, changed repeatable, or forced), `conflict` (a versioned file already
applied with another checksum — the whole push is refused before anything runs), or
`too_large` (over the 4 MiB limit — also refuses the push). Versions in the ledger that are
not among the local files are reported as missing locally, which is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from flux.errors import BadInput
from flux.migrations.files import MigrationFile, Mode
from flux.migrations.ledger_tables import LedgerRow
from flux.migrations.lexer import parse
from flux.migrations.summary import DdlSummary, summarise

Action = Literal["skip", "apply", "conflict", "too_large"]


@dataclass
class PlannedFile:
    file: MigrationFile
    action: Action
    key: str  # ledger version (file name) or repeatable script id; the file name for raw
    remote_checksum: str | None = None
    summary: DdlSummary | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "path": self.file.path,
            "key": self.key,
            "action": self.action,
            "checksum": self.file.checksum or None,
            "remoteChecksum": self.remote_checksum,
            "sizeBytes": self.file.size,
            "summary": self.summary.to_json() if self.summary else None,
        }


@dataclass
class Plan:
    mode: Mode
    items: list[PlannedFile]
    missing_locally: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> list[PlannedFile]:
        """Items that refuse the whole push (conflicts and oversized files)."""
        return [i for i in self.items if i.action in ("conflict", "too_large")]

    @property
    def to_apply(self) -> list[PlannedFile]:
        return [i for i in self.items if i.action == "apply"]


def _validate(files: list[MigrationFile], mode: Mode, script_id: str | None) -> None:
    if not files:
        raise BadInput("nothing to push: no files", code="no_migrations")
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise BadInput("two files share a name; versions must be unique", code="duplicate_version")
    if script_id is not None and (mode != "repeatable" or len(files) != 1):
        raise BadInput(
            "--id applies to a single file pushed in repeatable mode", code="bad_script_id"
        )


def _decide(
    file: MigrationFile, mode: Mode, remote: LedgerRow | None, force: bool
) -> tuple[Action, str | None]:
    if file.oversized:
        return "too_large", None
    if mode == "raw" or remote is None:
        return "apply", None
    if remote.checksum == file.checksum:
        return ("apply" if mode == "repeatable" and force else "skip"), remote.checksum
    return ("apply" if mode == "repeatable" else "conflict"), remote.checksum


def make_plan(
    files: list[MigrationFile],
    ledger: list[LedgerRow],
    mode: Mode,
    *,
    force: bool = False,
    script_id: str | None = None,
    with_summary: bool = False,
) -> Plan:
    """Decide every file's fate; files run in lexicographic order of their names."""
    _validate(files, mode, script_id)
    kind = "repeatable" if mode == "repeatable" else "versioned"
    remote = {row.version: row for row in ledger if row.kind == kind}
    items = []
    for file in sorted(files, key=lambda f: f.name):
        key = (script_id or file.path) if mode == "repeatable" else file.name
        action, remote_checksum = _decide(file, mode, remote.get(key), force)
        summary = summarise(parse(file.sql)) if with_summary and not file.oversized else None
        items.append(PlannedFile(file, action, key, remote_checksum, summary))
    missing = []
    if mode == "versioned":
        local = {f.name for f in files}
        missing = sorted(v for v in remote if v not in local)
    return Plan(mode, items, missing)

"""Migrations: `flux push` planning and execution, the checksum ledger, SQL adaptation, audits.

Public API (see `flux.migrations.service`): `push`, `ledger`, `audit_v1`, `PushTarget`,
`PushLimits`, `PushReport`, `MigrationFile`, and `discover` for the CLI side.
"""

from flux.migrations.discovery import Discovery, discover
from flux.migrations.service import (
    Finding,
    LedgerRow,
    MigrationFile,
    PushError,
    PushEvent,
    PushLimits,
    PushReport,
    PushTarget,
    audit_v1,
    ledger,
    push,
)

__all__ = [
    "Discovery",
    "Finding",
    "LedgerRow",
    "MigrationFile",
    "PushError",
    "PushEvent",
    "PushLimits",
    "PushReport",
    "PushTarget",
    "audit_v1",
    "discover",
    "ledger",
    "push",
]

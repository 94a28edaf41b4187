"""Migrations: `flux push` planning and execution, the checksum ledger, SQL adaptation, audits.

Public API (see `flux.migrations.service`): `push`, `ledger`, `audit_v1`, `PushTarget`,
`PushLimits`, `PushReport`, `MigrationFile`, and `discover` for the CLI side.

Names are imported on first use (PEP 562), so the CLI, which only discovers and reads files,
never loads the database side (psycopg, the executor): every `flux` command starts faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_DISCOVERY = ("Discovery", "discover")
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


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "discovery" if name in _DISCOVERY else "service"
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

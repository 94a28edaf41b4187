"""Where a push goes: the engine, the project database, and the tenant's schema and roles.

The control plane builds a `PushTarget` from the catalog (through the Engine protocol);
migrations never look engines up themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from flux.errors import BadInput

Engine = Literal["v2_shared", "v1_dedicated"]


@dataclass(frozen=True)
class PushTarget:
    """`conninfo` is a superuser/owner libpq conninfo for the project database.

    v2: `schema` = `t_<s>_api`, `runtime_role` = `t_<s>_role`, `ddl_role` = `t_<s>_ddl`,
    `ledger_key` = the tenant schema. v1: `schema` = `api`, roles None, `ledger_key` = `api`.
    """

    engine: Engine
    conninfo: str = field(repr=False)
    schema: str
    runtime_role: str | None
    ddl_role: str | None
    ledger_key: str

    def __post_init__(self) -> None:
        if self.engine not in ("v2_shared", "v1_dedicated"):
            raise BadInput(f"unknown engine {self.engine!r}", code="bad_engine")
        if self.shared and not (self.runtime_role and self.ddl_role):
            raise BadInput("a v2_shared target needs runtime_role and ddl_role", code="bad_target")

    @property
    def shared(self) -> bool:
        return self.engine == "v2_shared"


@dataclass(frozen=True)
class PushLimits:
    """Time limits of a push, in seconds: the platform maxima (`flux.config`).

    `statement_timeout` and `lock_timeout` are set in each file's transaction and enforced
    from outside by the push's watchdog as well, so pushed SQL can lower them, never raise
    them (`SET statement_timeout = 0` included).
    """

    lock_timeout: float = 30.0  # waiting for a table lock inside a file
    statement_timeout: float = 300.0  # any single statement of a file
    push_lock_wait: float = 30.0  # waiting for another push to the same project


def interval(seconds: float) -> str:
    """`seconds` as a PostgreSQL time setting (whole milliseconds, at least 1)."""
    return f"{max(1, round(seconds * 1000))}ms"

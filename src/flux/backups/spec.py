"""A project's database as the backup code sees it; engines build one (`backup_spec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TENANT_EXPORT, PROJECT_DB = "tenant_export", "project_db"


@dataclass(frozen=True)
class DatabaseSpec:
    """`kind` tenant_export (v2: one schema of a shared database, restored with the tenant's
    DDL role through a temporary login that is a member of that role only) or project_db (v1:
    the whole database of a dedicated cluster, restored as the project's owner).

    `platform_conninfo` reaches the project's database as the cluster's superuser: it dumps,
    counts and creates disposable databases, and never runs anything an archive holds.
    `disposable_sql` prepares a disposable database (as the superuser) so that the archive
    restores there exactly as it would in the project's database."""

    kind: Literal["tenant_export", "project_db"]
    platform_conninfo: str
    schema: str  # the API schema (v2: the tenant schema, the only one dumped)
    ledger_key: str  # the push lock / ledger key of the project
    disposable_sql: str
    ddl_role: str | None = None  # v2: owner of the tenant's objects
    runtime_role: str | None = None  # v2: the role the REST pool logs in as
    owner_conninfo: str | None = None  # v1: the owner's login
    disposable_owner: str | None = None  # v1: the owner owns its disposable database

    @property
    def shared(self) -> bool:
        return self.kind == TENANT_EXPORT

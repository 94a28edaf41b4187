"""The Engine protocol: what the control plane asks of `v2_shared` and `v1_dedicated`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flux.backups.spec import DatabaseSpec
from flux.catalog.plans import Plan
from flux.catalog.projects import Project


@dataclass(frozen=True)
class TenantNames:
    """Where a project's objects live inside its database."""

    schema: str
    runtime_role: str | None
    ddl_role: str | None


class Engine(Protocol):
    mode: str

    def provision(self, project: Project, plan: Plan) -> None:
        """Create the project's database surface; all-or-nothing."""

    def delete(self, project: Project) -> None:
        """Remove everything the project owns; idempotent."""

    def names(self, project: Project) -> TenantNames:
        """Schema and roles of the project."""

    def admin_conninfo(self, project: Project) -> str:
        """A privileged libpq conninfo for the project's database (migrations, audits)."""

    def credentials(self, project: Project) -> dict:
        """Engine-aware credentials (secrets included; the caller decides who sees them)."""

    def backup_spec(self, project: Project) -> DatabaseSpec:
        """The project's database as backups and restores see it (flux.backups)."""

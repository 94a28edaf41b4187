"""What the control plane's services need: the catalog, the engines, URL settings, the
platform's bounds (push time limits, concurrent calls per user), hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flux.catalog.db import Catalog
from flux.catalog.projects import Project
from flux.control.limits import CallLimiter
from flux.engines.base import Engine
from flux.migrations.target import PushLimits


@dataclass
class ControlContext:
    catalog: Catalog
    engines: dict[str, Engine]
    base_domain: str = "localhost"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    scheme: str = "http"
    default_mode: str = "v2_shared"
    push_limits: PushLimits = field(default_factory=PushLimits)
    call_limiter: CallLimiter = field(default_factory=CallLimiter)
    # where backup artefacts live (flux.backups.artefacts.backups_root)
    backups_root: Path = field(default_factory=lambda: Path("backups"))
    # `flux db --read-write` hands out writable logins only when the operator allows it
    db_access_readwrite: bool = False
    # called after a project's routing/auth data changed (gateway cache eviction)
    on_project_changed: list[Callable[[Project], None]] = field(default_factory=list)
    # called after a project's schema changed (REST schema-cache reload)
    on_schema_changed: list[Callable[[Project], None]] = field(default_factory=list)
    # called after a custom domain was added or removed (gateway cache eviction)
    on_domain_changed: list[Callable[[str], None]] = field(default_factory=list)

    def engine_for(self, mode: str) -> Engine:
        from flux.errors import BadInput

        try:
            return self.engines[mode]
        except KeyError:
            known = ", ".join(sorted(self.engines))
            raise BadInput(
                f"engine mode {mode!r} is not available here", hint=f"use one of: {known}"
            ) from None

    def project_changed(self, project: Project) -> None:
        for hook in self.on_project_changed:
            hook(project)

    def domain_changed(self, hostname: str) -> None:
        for hook in self.on_domain_changed:
            hook(hostname)

    def schema_changed(self, project: Project) -> None:
        for hook in self.on_schema_changed:
            hook(project)

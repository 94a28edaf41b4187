"""Per-invocation CLI state: the global flags and, lazily, the resolved settings and API client."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import typer

from flux.cli.client import TIMEOUT, ApiClient
from flux.cli.settings import CliSettings, Flags, resolve_settings


@dataclass
class CliState:
    """What the root command collected; commands read settings through it."""

    flags: Flags = field(default_factory=Flags)
    _settings: CliSettings | None = None

    @property
    def settings(self) -> CliSettings:
        if self._settings is None:
            self._settings = resolve_settings(self.flags)
        return self._settings

    def client(self, timeout: httpx.Timeout = TIMEOUT) -> ApiClient:
        return ApiClient(self.settings, timeout=timeout)


def get_state(ctx: typer.Context) -> CliState:
    """The CliState stored on the root context (created empty when a command runs alone)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj

"""CLI configuration resolution (SPEC §5), highest wins:

1. command flags,
2. the shell environment,
3. `.env` then `.env.local` next to the nearest `flux.json` walking up from the cwd
   (only the whitelisted FLUX_* keys below are read from them),
4. `~/.flux/config.json` (apiBase, token, dashboardBase),
5. built-in defaults.

Every resolved value remembers its source so commands can say where a setting came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flux.cli.dotenv import read_dotenv
from flux.cli.manifest import find_manifest_path
from flux.cli.user_config import config_path, load_user_config

DEFAULT_API_BASE = "http://127.0.0.1:8080/api"
DOTENV_KEYS = frozenset(
    {
        "FLUX_API_BASE",
        "FLUX_DASHBOARD_BASE",
        "FLUX_API_TOKEN",
        "FLUX_DEFAULT_MODE",
        "FLUX_GATEWAY_JWT_SECRET",
    }
)
# setting name -> (env var, config.json key or None)
_SOURCES = {
    "api_base": ("FLUX_API_BASE", "apiBase"),
    "dashboard_base": ("FLUX_DASHBOARD_BASE", "dashboardBase"),
    "token": ("FLUX_API_TOKEN", "token"),
    "default_mode": ("FLUX_DEFAULT_MODE", None),
    "gateway_jwt_secret": ("FLUX_GATEWAY_JWT_SECRET", None),
}


@dataclass(frozen=True)
class Flags:
    """Settings given as command-line flags (None = not given)."""

    api_base: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class CliSettings:
    """The resolved CLI configuration."""

    api_base: str
    dashboard_base: str
    token: str | None
    default_mode: str | None
    gateway_jwt_secret: str | None
    debug: bool
    config_file: Path
    sources: dict[str, str] = field(default_factory=dict)


def dotenv_values(cwd: Path) -> dict[str, str]:
    """Whitelisted keys from `.env` / `.env.local` next to the nearest flux.json (local wins)."""
    manifest = find_manifest_path(cwd)
    if manifest is None:
        return {}
    merged = read_dotenv(manifest.parent / ".env")
    merged.update(read_dotenv(manifest.parent / ".env.local"))
    return {key: value for key, value in merged.items() if key in DOTENV_KEYS}


def _debug_enabled(environ: Mapping[str, str]) -> bool:
    value = environ.get("FLUX_DEBUG", "").strip()
    return value not in ("", "0")


def _dashboard_default(api_base: str) -> str:
    return api_base[: -len("/api")] if api_base.endswith("/api") else api_base


def resolve_settings(
    flags: Flags | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> CliSettings:
    """Resolve every setting from flags, env, dotenv and the user config (in that order)."""
    flags = flags or Flags()
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    cfg_path = config_path(home)
    layers: list[tuple[str, Mapping[str, object]]] = [
        ("flag", {"api_base": flags.api_base, "token": flags.token}),
        ("env", {name: environ.get(var) for name, (var, _) in _SOURCES.items()}),
    ]
    dotenv = dotenv_values(cwd)
    layers.append(("dotenv", {name: dotenv.get(var) for name, (var, _) in _SOURCES.items()}))
    stored = load_user_config(cfg_path)
    layers.append(("config", {name: stored.get(key) for name, (_, key) in _SOURCES.items() if key}))

    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for name in _SOURCES:
        for source, layer in layers:
            value = layer.get(name)
            if isinstance(value, str) and value.strip():
                values[name] = value.strip()
                sources[name] = source
                break

    api_base = (values.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    sources.setdefault("api_base", "default")
    dashboard_base = (values.get("dashboard_base") or _dashboard_default(api_base)).rstrip("/")
    sources.setdefault("dashboard_base", "default")
    return CliSettings(
        api_base=api_base,
        dashboard_base=dashboard_base,
        token=values.get("token"),
        default_mode=values.get("default_mode"),
        gateway_jwt_secret=values.get("gateway_jwt_secret"),
        debug=_debug_enabled(environ),
        config_file=cfg_path,
        sources=sources,
    )

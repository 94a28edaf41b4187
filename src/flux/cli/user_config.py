"""The per-user CLI config `~/.flux/config.json` (keys apiBase, token, dashboardBase).

Written by `flux login` and by `flux up`; always mode 0600 inside a 0700 directory, replaced
atomically so a crash never leaves a half-written token file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flux.jsonfile import load_json_object, write_private_json

CONFIG_KEYS = ("apiBase", "token", "dashboardBase")


def config_path(home: Path | None = None) -> Path:
    """Where the CLI config lives for the user whose home is `home` (default: current user)."""
    return (home or Path.home()) / ".flux" / "config.json"


def load_user_config(path: Path) -> dict[str, Any]:
    """The stored config; a missing file is empty, a corrupt one is a FluxError."""
    return load_json_object(
        path, kind="config", hint="delete it and run `flux login`", missing_ok=True
    )


def save_user_config(path: Path, data: dict[str, Any]) -> None:
    """Write the config with mode 0600 (keys whose value is None are dropped)."""
    write_private_json(path, {key: value for key, value in data.items() if value is not None})


def update_user_config(path: Path, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into the stored config (a None value removes the key) and save it."""
    data = load_user_config(path)
    data.update(changes)
    save_user_config(path, data)
    return {key: value for key, value in data.items() if value is not None}

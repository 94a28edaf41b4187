"""The per-user CLI config `~/.flux/config.json` (keys apiBase, token, dashboardBase).

Written by `flux login` and by `flux up`; always mode 0600 inside a 0700 directory, replaced
atomically so a crash never leaves a half-written token file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from flux.errors import FluxError

CONFIG_KEYS = ("apiBase", "token", "dashboardBase")


def config_path(home: Path | None = None) -> Path:
    """Where the CLI config lives for the user whose home is `home` (default: current user)."""
    return (home or Path.home()) / ".flux" / "config.json"


def load_user_config(path: Path) -> dict[str, Any]:
    """The stored config; a missing file is empty, a corrupt one is a FluxError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FluxError(
            f"{path} is not valid JSON",
            code="config_invalid",
            hint="delete it and run `flux login`",
        ) from exc
    except OSError as exc:
        raise FluxError(f"cannot read {path}: {exc.strerror}", code="config_unreadable") from exc
    if not isinstance(data, dict):
        raise FluxError(
            f"{path} must hold a JSON object",
            code="config_invalid",
            hint="delete it and run `flux login`",
        )
    return data


def save_user_config(path: Path, data: dict[str, Any]) -> None:
    """Write the config with mode 0600 (keys whose value is None are dropped)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    clean = {key: value for key, value in data.items() if value is not None}
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(clean, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_user_config(path: Path, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into the stored config (a None value removes the key) and save it."""
    data = load_user_config(path)
    data.update(changes)
    save_user_config(path, data)
    return {key: value for key, value in data.items() if value is not None}

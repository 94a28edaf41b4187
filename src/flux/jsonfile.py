"""Small JSON files on disk: private (0600) atomic writes, tolerant reads, and strict reads
of a JSON object that fail with a FluxError."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from flux.errors import FluxError


def write_private_json(path: Path, data: dict) -> None:
    """Write JSON readable by the owner only (created 0600, replaced atomically)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load_json_object(path: Path, *, kind: str, hint: str, missing_ok: bool = False) -> dict:
    """A JSON object from `path`; a FluxError coded `<kind>_unreadable` or `<kind>_invalid`
    (with `hint`) otherwise. A missing file is `{}` when `missing_ok`."""
    code = f"{kind}_invalid"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        if missing_ok:
            return {}
        raise FluxError(f"cannot read {path}: {exc.strerror}", code=f"{kind}_unreadable") from exc
    except json.JSONDecodeError as exc:
        raise FluxError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})", code=code, hint=hint
        ) from exc
    except UnicodeDecodeError as exc:
        raise FluxError(f"{path} is not valid JSON (not UTF-8)", code=code, hint=hint) from exc
    except OSError as exc:
        raise FluxError(f"cannot read {path}: {exc.strerror}", code=f"{kind}_unreadable") from exc
    if not isinstance(data, dict):
        raise FluxError(f"{path} must hold a JSON object", code=code, hint=hint)
    return data

"""The project manifest `flux.json` at a repository root: finding, reading and writing it.

It links a folder to a project (`slug`, `hash`, optional `apiUrl`, `mode`, `apiSchema`), may
name the migrations folder (`migrations`), and never holds secrets. Unknown keys written by other tools are preserved on rewrite.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flux.errors import FluxError
from flux.jsonfile import load_json_object
from flux.naming import PLACEHOLDER_HASH

MANIFEST_NAME = "flux.json"
LINK_KEYS = ("slug", "hash", "apiUrl", "mode", "apiSchema")


@dataclass
class Manifest:
    """A parsed flux.json and where it lives."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str | None:
        value = self.data.get("slug")
        return value if isinstance(value, str) and value else None

    @property
    def hash(self) -> str | None:
        value = self.data.get("hash")
        return value if isinstance(value, str) and value else None

    @property
    def mode(self) -> str | None:
        value = self.data.get("mode")
        return value if isinstance(value, str) and value else None

    @property
    def migrations(self) -> str | None:
        """The migrations folder the repository names (`"migrations": "<dir>"`), if any."""
        value = self.data.get("migrations")
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or Path(value).is_absolute():
            raise FluxError(
                f'{self.path}: "migrations" must be a folder path relative to it, '
                f"not {json.dumps(value)}",
                code="bad_manifest",
                hint='e.g. "migrations": "db/migrations"',
            )
        return value

    @property
    def has_placeholder_hash(self) -> bool:
        return self.hash == PLACEHOLDER_HASH


def find_manifest_path(start: Path) -> Path | None:
    """The nearest flux.json in `start` or one of its parents."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    return None


def load_manifest(path: Path) -> Manifest:
    """Read and validate flux.json; malformed content is a FluxError naming the file."""
    data = load_json_object(path, kind="manifest", hint='expected {"slug": "...", "hash": "..."}')
    return Manifest(path, data)


def find_manifest(start: Path) -> Manifest | None:
    path = find_manifest_path(start)
    return load_manifest(path) if path else None


def migrations_source(cwd: Path) -> tuple[Path, str | None]:
    """The project root (the folder of the nearest flux.json, else `cwd`) and the migrations
    folder its flux.json names, if any: where `flux push` and `flux migration new` look."""
    manifest = find_manifest(cwd)
    if manifest is None:
        return cwd, None
    return manifest.path.parent, manifest.migrations


def write_manifest(
    path: Path, link: dict[str, Any], previous: dict[str, Any] | None = None
) -> None:
    """Write flux.json: the link keys from `link` (None values dropped) over `previous`."""
    data = dict(previous or {})
    for key in LINK_KEYS:
        if link.get(key) is not None:
            data[key] = link[key]
    text = json.dumps(data, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".flux.json.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

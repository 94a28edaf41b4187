"""Where backup artefacts live: `<root>/<tenant_id>/<backup_id>.dump`, root
`$FLUX_BACKUPS_LOCAL_DIR` or `$FLUX_HOME/backups`; folders 0700, files 0600; sha256."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from flux.errors import FluxError

CHUNK = 1 << 20


class CorruptArtefact(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="backup_corrupt", hint=hint, status=409)


def backups_root(home: Path) -> Path:
    configured = os.environ.get("FLUX_BACKUPS_LOCAL_DIR")
    return Path(configured) if configured else home / "backups"


def artefact_path(root: Path, tenant_id: uuid.UUID, backup_id: uuid.UUID) -> Path:
    return root / str(tenant_id) / f"{backup_id}.dump"


def private_folder(path: Path) -> Path:
    """Create `path` 0700 (and any missing parent, 0700 too); narrow `path` if it is wider."""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:  # created meanwhile by another request
                continue
            os.chmod(folder, 0o700)  # whatever the umask
    os.chmod(path, 0o700)
    return path


def new_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (before anything is written to it)."""
    private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise CorruptArtefact(
            f"the backup artefact {path.name} is missing", hint="take a new backup"
        ) from None
    return digest.hexdigest()


def check_sha256(path: Path, expected: str | None) -> None:
    actual = sha256_file(path)
    if expected is None or actual != expected:
        raise CorruptArtefact(
            f"the backup artefact {path.name} does not match its recorded checksum",
            hint="it was changed or damaged on disk; take a new backup",
        )

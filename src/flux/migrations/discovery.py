"""Finding the SQL a push sends: explicit file or directory, or the conventional locations.

With no path, the folder flux.json names (`"migrations": "<dir>"`) is used; without one, the
first existing of `migrations/`, `flux/migrations/`, `db/migrations/`, `supabase/migrations/`,
`sql/`, `schema.sql` (relative to the project root). A directory contributes its `*.sql` files
(not recursive) in lexicographic order. Default modes (SPEC §7): directories and files under a
migrations folder (`migrations/`, `flux/migrations/`, `db/migrations/`, `supabase/migrations/`,
`sql/migrations/`) are `versioned`; any other single file is `raw`. Files larger than the limit
are not read (the plan reports them).

`new_migration_path` names the file `flux migration new` creates: `<timestamp>_<name>.sql` in
the configured folder, else the first existing migrations folder, else `migrations/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flux.errors import BadInput
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile, Mode

MIGRATION_DIRS = ("migrations", "flux/migrations", "db/migrations", "supabase/migrations")
CONVENTIONAL = (*MIGRATION_DIRS, "sql", "schema.sql")
VERSIONED_DIRS = (*MIGRATION_DIRS, "sql/migrations")
_MIGRATION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


@dataclass(frozen=True)
class Discovery:
    source: str  # repo-relative path of the file or directory pushed
    is_directory: bool
    default_mode: Mode
    files: list[MigrationFile]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _load(path: Path, root: Path) -> MigrationFile:
    rel = _relative(path, root)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return MigrationFile(path.name, rel, "", size)
    return MigrationFile.from_bytes(path.name, path.read_bytes(), rel)


def _under_versioned_dir(rel: str) -> bool:
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return any(parent == d or parent.endswith("/" + d) for d in VERSIONED_DIRS)


def _configured_folder(root: Path, configured: str) -> Path:
    folder = root / configured
    if not folder.is_dir():
        raise BadInput(
            f'flux.json names the migrations folder "{configured}", which is not a directory',
            code="no_migrations",
            hint=f'create it, or change "migrations" in {root / "flux.json"}',
        )
    return folder


def find_default(root: Path, configured: str | None = None) -> Path:
    """The location to push when no path is given: the configured folder, else a convention."""
    if configured is not None:
        return _configured_folder(root, configured)
    for candidate in CONVENTIONAL:
        path = root / candidate
        if path.exists():
            return path
    raise BadInput(
        "no migrations found (looked for "
        + ", ".join(f"{c}/" if c != "schema.sql" else c for c in CONVENTIONAL)
        + ")",
        code="no_migrations",
        hint="pass a file or directory (flux push path/to/file.sql), "
        "or start one with: flux migration new <name>",
    )


def new_migration_path(root: Path, name: str, configured: str | None = None) -> Path:
    """Where `flux migration new <name>` writes: `<UTC timestamp>_<name>.sql`."""
    slug = re.sub(r"[\s-]+", "_", name.strip().lower())
    if not _MIGRATION_NAME.fullmatch(slug):
        raise BadInput(
            f"invalid migration name {name!r}",
            code="bad_name",
            hint="use letters, digits, '_' or '-' (up to 100), e.g. flux migration new add_todos",
        )
    if configured is not None:
        folder = root / configured
    else:
        existing = (root / d for d in MIGRATION_DIRS)
        folder = next((d for d in existing if d.is_dir()), root / MIGRATION_DIRS[0])
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return folder / f"{stamp}_{slug}.sql"


def discover(path: Path | None, root: Path, configured: str | None = None) -> Discovery:
    """Load the files to push from `path` (or, without one, the configured folder or the
    conventional locations under `root`)."""
    if path is None:
        target = find_default(root, configured)
    else:
        target = path if path.is_absolute() else root / path
    if not target.exists():
        raise BadInput(f"{target} does not exist", code="not_found")
    rel = _relative(target, root)
    if target.is_dir():
        files = sorted(
            (p for p in target.iterdir() if p.is_file() and p.suffix == ".sql"),
            key=lambda p: p.name,
        )
        if not files:
            raise BadInput(f"{rel}/ contains no .sql files", code="no_migrations")
        return Discovery(rel, True, "versioned", [_load(p, root) for p in files])
    mode: Mode = "versioned" if _under_versioned_dir(rel) else "raw"
    return Discovery(rel, False, mode, [_load(target, root)])

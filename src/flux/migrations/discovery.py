"""Finding the SQL a push sends: explicit file or directory, or the conventional locations.

With no path the first existing of `migrations/`, `flux/migrations/`, `sql/`, `schema.sql`
(relative to the project root) is used. A directory contributes its `*.sql` files (not
recursive) in lexicographic order. Default modes (SPEC §7): directories and files under
`migrations/`, `flux/migrations/` or `sql/migrations/` are `versioned`; any other single
file is `raw`. Files larger than the limit are not read (the plan reports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flux.errors import BadInput
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile, Mode

CONVENTIONAL = ("migrations", "flux/migrations", "sql", "schema.sql")
VERSIONED_DIRS = ("migrations", "flux/migrations", "sql/migrations")


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


def find_default(root: Path) -> Path:
    """The conventional location to push when no path is given."""
    for candidate in CONVENTIONAL:
        path = root / candidate
        if path.exists():
            return path
    raise BadInput(
        "no migrations found (looked for migrations/, flux/migrations/, sql/, schema.sql)",
        code="no_migrations",
        hint="pass a file or directory: flux push path/to/file.sql",
    )


def discover(path: Path | None, root: Path) -> Discovery:
    """Load the files to push from `path` (or the conventional locations under `root`)."""
    target = find_default(root) if path is None else (path if path.is_absolute() else root / path)
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

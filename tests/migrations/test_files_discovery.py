"""Discovery, default modes, size limit, UTF-8 refusal and line-ending-normalised checksums."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from flux.errors import BadInput
from flux.migrations import discover
from flux.migrations.discovery import new_migration_path
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile, checksum


def write(root: Path, rel: str, content: str | bytes = "select 1;\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("present", "source", "is_dir", "mode"),
    [
        (["migrations/001.sql", "sql/x.sql", "schema.sql"], "migrations", True, "versioned"),
        (["flux/migrations/001.sql", "sql/x.sql"], "flux/migrations", True, "versioned"),
        (
            ["db/migrations/001.sql", "supabase/migrations/1.sql"],
            "db/migrations",
            True,
            "versioned",
        ),
        (["supabase/migrations/1.sql", "sql/x.sql"], "supabase/migrations", True, "versioned"),
        (["sql/x.sql", "schema.sql"], "sql", True, "versioned"),
        (["schema.sql"], "schema.sql", False, "raw"),
    ],
)
def test_discovery_order(tmp_path: Path, present, source, is_dir, mode) -> None:
    for rel in present:
        write(tmp_path, rel)
    found = discover(None, tmp_path)
    assert (found.source, found.is_directory, found.default_mode) == (source, is_dir, mode)


def test_nothing_to_discover(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        discover(None, tmp_path)
    assert err.value.code == "no_migrations" and "migrations/" in err.value.message


def test_directory_files_sorted_and_only_sql(tmp_path: Path) -> None:
    for rel in ["db/010_b.sql", "db/002_a.sql", "db/README.md", "db/sub/003.sql"]:
        write(tmp_path, rel)
    found = discover(Path("db"), tmp_path)
    assert [f.name for f in found.files] == ["002_a.sql", "010_b.sql"]
    assert [f.path for f in found.files] == ["db/002_a.sql", "db/010_b.sql"]
    assert found.default_mode == "versioned"


@pytest.mark.parametrize(
    ("rel", "mode"),
    [
        ("migrations/001.sql", "versioned"),
        ("flux/migrations/001.sql", "versioned"),
        ("sql/migrations/001.sql", "versioned"),
        ("db/migrations/001.sql", "versioned"),
        ("supabase/migrations/20240101000000_init.sql", "versioned"),
        ("app/sql/migrations/001.sql", "versioned"),
        ("sql/seed.sql", "raw"),
        ("seed.sql", "raw"),
        ("mymigrations/001.sql", "raw"),
    ],
)
def test_single_file_default_mode(tmp_path: Path, rel: str, mode: str) -> None:
    write(tmp_path, rel)
    assert discover(Path(rel), tmp_path).default_mode == mode


def test_the_configured_folder_wins_over_conventions(tmp_path: Path) -> None:
    write(tmp_path, "migrations/001.sql")
    write(tmp_path, "app/schema/001_init.sql")
    found = discover(None, tmp_path, "app/schema")
    assert (found.source, found.default_mode) == ("app/schema", "versioned")
    assert [f.path for f in found.files] == ["app/schema/001_init.sql"]
    with pytest.raises(BadInput) as err:
        discover(None, tmp_path, "nowhere")
    assert err.value.code == "no_migrations" and '"nowhere"' in err.value.message


def test_new_migration_path(tmp_path: Path) -> None:
    first = new_migration_path(tmp_path, "Add todos")
    assert first.parent == tmp_path / "migrations"
    assert re.fullmatch(r"\d{14}_add_todos\.sql", first.name)
    write(tmp_path, "supabase/migrations/1_init.sql")
    assert new_migration_path(tmp_path, "x").parent == tmp_path / "supabase/migrations"
    assert new_migration_path(tmp_path, "x", "db/sql").parent == tmp_path / "db/sql"
    for bad in ("", "../up", "a/b", "x" * 101, "é"):
        with pytest.raises(BadInput):
            new_migration_path(tmp_path, bad)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        discover(Path("nope.sql"), tmp_path)


def test_non_utf8_is_refused_clearly(tmp_path: Path) -> None:
    write(tmp_path, "migrations/001.sql", b"select 'caf\xe9';\n")
    with pytest.raises(BadInput) as err:
        discover(None, tmp_path)
    assert err.value.code == "not_utf8"
    assert err.value.message == "migrations/001.sql is not valid UTF-8 (byte 0xe9 at offset 11)"


def test_oversized_file_is_kept_but_flagged(tmp_path: Path) -> None:
    write(tmp_path, "migrations/big.sql", b"-" * (MAX_FILE_BYTES + 1))
    write(tmp_path, "migrations/ok.sql", b"-" * MAX_FILE_BYTES)
    big, ok = discover(None, tmp_path).files
    assert big.oversized and big.sql == "" and big.size == MAX_FILE_BYTES + 1
    assert not ok.oversized


def test_checksum_normalises_line_endings_and_bom() -> None:
    lf = "create table t (id int);\nselect 1;\n"
    digest = hashlib.sha256(lf.encode()).hexdigest()
    assert checksum(lf) == checksum(lf.replace("\n", "\r\n")) == checksum(lf.replace("\n", "\r"))
    assert checksum(lf) == digest
    assert MigrationFile.from_bytes("a.sql", b"\xef\xbb\xbf" + lf.encode()).checksum == digest
    assert checksum(lf) != checksum(lf + " ")

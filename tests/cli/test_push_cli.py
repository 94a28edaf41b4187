"""`flux push` and `flux migrations list` against the contract HTTP double: what is sent in the
one POST push, the report's lines printed verbatim, errors, exit codes and client-side refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux.migrations.files import MAX_FILE_BYTES

from .conftest import FakeControlPlane, Flux


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def repo(logged_in: FakeControlPlane, isolated_user: Path) -> Path:
    project = logged_in.add("shop", "abc1234")
    (isolated_user / "flux.json").write_text(json.dumps({"slug": "shop", "hash": project["hash"]}))
    migrations = isolated_user / "migrations"
    migrations.mkdir()
    (migrations / "0002_indexes.sql").write_text("create index on items (name);\n")
    (migrations / "0001_init.sql").write_text("create table items (id int, name text);\n")
    (migrations / "notes.txt").write_text("not sql")
    return isolated_user


def _pushes(control: FakeControlPlane) -> list[dict]:
    return [body for method, path, body in control.bodies if path.endswith("/push")]


def test_push_sends_every_file_in_one_request_and_prints_the_lines(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    result = flux("push")
    assert result.exit_code == 0, result.output
    (body,) = _pushes(logged_in)
    assert body["slug"] == "shop" and body["hash"] == "abc1234" and body["mode"] == "versioned"
    assert [(f["filename"], f["path"]) for f in body["files"]] == [
        ("0001_init.sql", "migrations/0001_init.sql"),
        ("0002_indexes.sql", "migrations/0002_indexes.sql"),
    ]
    assert body["files"][0]["sql"] == "create table items (id int, name text);\n"
    assert (body["force"], body["plan"], body["dryRun"]) == (False, False, False)
    assert result.stdout.splitlines() == [
        "→ 0001_init.sql applying...",
        "✓ 0001_init.sql applied",
        "→ 0002_indexes.sql applying...",
        "✓ 0002_indexes.sql applied",
        "Done. 2 applied, 0 skipped.",
    ]


def test_push_from_a_subfolder_uses_the_flux_json_root_and_explicit_options(
    flux: Flux, repo: Path, logged_in: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "db").mkdir()
    (repo / "db" / "views.sql").write_text("create view v as select 1;\n")
    monkeypatch.chdir(repo / "db")
    result = flux("push", "views.sql", "--mode", "repeatable", "--id", "views", "--force")
    assert result.exit_code == 0, result.output
    (body,) = _pushes(logged_in)
    assert body["mode"] == "repeatable" and body["scriptId"] == "views" and body["force"]
    assert body["files"] == [
        {"filename": "views.sql", "sql": "create view v as select 1;\n", "path": "db/views.sql"}
    ]
    # a single file outside the migration folders defaults to raw
    assert flux("push", "views.sql").exit_code == 0
    assert _pushes(logged_in)[-1]["mode"] == "raw"


def test_failed_push_shows_sqlstate_line_and_hint_and_its_exit_code(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    logged_in.canned["push"] = {
        "ok": False,
        "exitCode": 1,
        "operation": "push",
        "lines": [
            "✓ 0001_init.sql already applied",
            "→ 0002_indexes.sql applying...",
            '✗ 0002_indexes.sql failed at line 3, column 1: 42601 syntax error at or near "creat"',
            "Failed. 0 applied, 1 skipped.",
        ],
        "errors": [
            {
                "code": "sql_error",
                "message": 'syntax error at or near "creat"',
                "sqlstate": "42601",
                "file": "0002_indexes.sql",
                "line": 3,
                "column": 1,
                "detail": None,
                "hint": "check the statement",
                "statement": "creat table x ()",
            }
        ],
        "warnings": [{"level": "warn", "message": "api.t has RLS enabled but no policies"}],
    }
    result = flux("push")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == logged_in.canned["push"]["lines"]
    assert (
        'error: 0002_indexes.sql line 3, column 1: SQLSTATE 42601: syntax error at or near "creat"'
        in result.stderr
    )
    assert "hint: check the statement" in result.stderr
    assert "warning: api.t has RLS enabled but no policies" in result.stderr
    _no_traceback(result)


def test_json_prints_the_report_and_keeps_the_exit_code(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    logged_in.canned["push"] = {"ok": False, "exitCode": 1, "lines": ["x"], "errors": []}
    result = flux("push", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == logged_in.canned["push"]


def test_plan_and_dry_run_flags_reach_the_server(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    plan = flux("push", "--plan")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.splitlines()[-1] == "Plan: 2 to apply, 0 skipped, 0 blocked."
    dry = flux("push", "--dry-run")
    assert dry.stdout.splitlines()[-1] == "Dry run: 2 to apply, 0 skipped, 0 blocked."
    first, second = _pushes(logged_in)
    assert (first["plan"], first["dryRun"]) == (True, False)
    assert (second["plan"], second["dryRun"]) == (False, True)


def test_oversized_file_refuses_a_push_before_sending_anything(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    (repo / "migrations" / "0003_big.sql").write_bytes(b"-" * (MAX_FILE_BYTES + 1))
    result = flux("push")
    assert result.exit_code == 1
    assert "0003_big.sql is 4.0 MiB, over the 4.0 MiB limit" in result.stderr
    assert "nothing was sent" in result.stderr
    assert _pushes(logged_in) == []
    _no_traceback(result)

    dry = flux("push", "--dry-run")
    assert dry.exit_code == 1
    (body,) = _pushes(logged_in)
    assert [f["filename"] for f in body["files"]] == ["0001_init.sql", "0002_indexes.sql"]
    assert dry.stdout.splitlines()[-2:] == [
        "✗ 0003_big.sql is 4.0 MiB, over the 4.0 MiB limit",
        "Dry run: 2 to apply, 0 skipped, 1 blocked.",
    ]
    assert "hint: split it into several files" in dry.stderr

    report = json.loads(flux("push", "--plan", "--json").stdout)
    assert report["exitCode"] == 1 and report["errors"][-1]["code"] == "file_too_large"
    assert report["files"][-1]["action"] == "too_large"


def test_plan_of_only_oversized_files_needs_no_push_request(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    big = repo / "big.sql"
    big.write_bytes(b"-" * (MAX_FILE_BYTES + 10))
    result = flux("push", "big.sql", "--plan")
    assert result.exit_code == 0  # --plan only shows; --dry-run is the CI gate
    assert result.stdout.splitlines() == [
        "✗ big.sql is 4.0 MiB, over the 4.0 MiB limit",
        "Plan: 0 to apply, 0 skipped, 1 blocked.",
    ]
    assert _pushes(logged_in) == []


def test_non_utf8_file_and_missing_migrations_are_clear_errors(
    flux: Flux, repo: Path, logged_in: FakeControlPlane, tmp_path: Path
) -> None:
    (repo / "migrations" / "0003_latin1.sql").write_bytes(b"select 'caf\xe9';\n")
    result = flux("push")
    assert result.exit_code == 1
    assert "0003_latin1.sql is not valid UTF-8 (byte 0xe9 at offset 11)" in result.stderr
    assert "save the file as UTF-8" in result.stderr
    _no_traceback(result)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "flux.json").write_text('{"slug": "shop", "hash": "abc1234"}')
    missing = flux("push", str(empty / "nothing.sql"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert _pushes(logged_in) == []


def test_no_migrations_and_placeholder_manifest(
    flux: Flux, logged_in: FakeControlPlane, isolated_user: Path
) -> None:
    (isolated_user / "flux.json").write_text('{"slug": "a", "hash": "REPLACE_AFTER_FLUX_INIT"}')
    none = flux("push")
    assert none.exit_code == 1 and "no migrations found" in none.stderr
    (isolated_user / "schema.sql").write_text("select 1;")
    placeholder = flux("push")
    assert placeholder.exit_code == 1 and "flux init" in placeholder.stderr
    _no_traceback(placeholder)


def test_project_flags_select_another_project(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    other = logged_in.add("other")
    assert flux("push", "-p", "other").exit_code == 0
    assert _pushes(logged_in)[-1]["hash"] == other["hash"]
    mismatch = flux("push", "-p", "other", "--hash", "abc1234")
    assert mismatch.exit_code == 1 and "belongs to project 'shop'" in mismatch.stderr


def test_migrations_list_table_json_and_empty(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    empty = flux("migrations", "list")
    assert empty.exit_code == 0 and "No migrations applied to shop (abc1234) yet" in empty.stdout
    logged_in.ledger["abc1234"] = [
        {
            "kind": "versioned",
            "version": "0001_init.sql",
            "checksum": "a" * 64,
            "appliedAt": "2025-01-02T03:04:05+00:00",
            "appliedBy": "admin@localhost",
            "durationMs": 12,
        }
    ]
    table = flux("migrations", "list")
    assert table.exit_code == 0, table.output
    for text in ("0001_init.sql", "versioned", "a" * 12, "2025-01-02T03:04:05", "12 ms"):
        assert text in table.stdout
    assert "a" * 13 not in table.stdout
    data = json.loads(flux("migrations", "list", "--json").stdout)
    assert data["migrations"] == logged_in.ledger["abc1234"]


def test_push_uses_the_folder_flux_json_names(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    manifest = json.loads((repo / "flux.json").read_text())
    (repo / "flux.json").write_text(json.dumps({**manifest, "migrations": "db/schema"}))
    (repo / "db/schema").mkdir(parents=True)
    (repo / "db/schema/0001_only.sql").write_text("create table only_this (id int);\n")
    result = flux("push")
    assert result.exit_code == 0, result.output
    (body,) = _pushes(logged_in)
    assert [f["path"] for f in body["files"]] == ["db/schema/0001_only.sql"]
    (repo / "flux.json").write_text(json.dumps({**manifest, "migrations": 3}))
    refused = flux("push")
    assert refused.exit_code != 0 and '"migrations" must be a folder path' in refused.output
    _no_traceback(refused)


def test_migration_new_creates_a_timestamped_file_then_push_sends_it(
    flux: Flux, repo: Path, logged_in: FakeControlPlane
) -> None:
    created = flux("migration", "new", "add prices")
    assert created.exit_code == 0, created.output
    (path,) = (repo / "migrations").glob("*_add_prices.sql")
    assert created.stdout.strip() == f"Created migrations/{path.name}"
    path.write_text("alter table items add column price int;\n")
    assert flux("push").exit_code == 0
    (body,) = _pushes(logged_in)
    assert [f["filename"] for f in body["files"]][-1] == path.name
    bad = flux("migration", "new", "../escape")
    assert bad.exit_code != 0 and "invalid migration name" in bad.output
    _no_traceback(bad)

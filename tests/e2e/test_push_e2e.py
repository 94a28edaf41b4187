"""`flux push` and the wave-1 project commands as a new user runs them: the real CLI against a
real `flux up` (control plane, shared cluster, migrations service), in a repo with flux.json."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

INIT_SQL = """\
-- todos, readable and writable only by their owner
create table todos (
  id bigint generated always as identity primary key,
  owner_id text not null default auth.uid(),
  title text not null,
  done boolean not null default false
);
alter table todos enable row level security;
grant select, insert, update, delete on todos to authenticated;
create policy "own todos" on todos for all to authenticated
  using (owner_id = auth.uid()) with check (owner_id = auth.uid());
"""
INDEXES_SQL = "create index todos_owner_idx on todos (owner_id);\n"
MORE_SQL = "alter table todos add column due date;\n"
BAD_SQL = """\
-- the third line has a typo
create table notes (id int primary key);
selec 1;
"""


def _ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _fails(result, *fragments: str) -> str:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def _lines(result) -> list[str]:
    return result.stdout.splitlines()


@pytest.fixture
def repo(flux_up, tmp_path: Path) -> Path:
    """A repository folder linked with `flux init`, holding migrations/0001 and 0002."""
    repo = tmp_path / "todo-app"
    (repo / "migrations").mkdir(parents=True)
    (repo / "migrations" / "0001_init.sql").write_text(INIT_SQL)
    (repo / "migrations" / "0002_indexes.sql").write_text(INDEXES_SQL)
    _ok(flux_up.cli("init", cwd=repo))
    manifest = json.loads((repo / "flux.json").read_text())
    assert manifest["slug"] == "todo-app" and re.fullmatch(r"[0-9a-f]{7}", manifest["hash"])
    return repo


def _ledger(flux_up, repo: Path) -> dict[str, str]:
    answer = json.loads(_ok(flux_up.cli("migrations", "list", "--json", cwd=repo)))
    return {row["version"]: row["checksum"] for row in answer["migrations"]}


def test_push_skip_conflict_plan_dry_run_ledger_and_sql_errors(flux_up, repo: Path) -> None:
    first = flux_up.cli("push", cwd=repo)
    _ok(first)
    assert _lines(first) == [
        "→ 0001_init.sql applying...",
        "✓ 0001_init.sql applied",
        "→ 0002_indexes.sql applying...",
        "✓ 0002_indexes.sql applied",
        "Done. 2 applied, 0 skipped.",
    ]
    again = flux_up.cli("push", cwd=repo)
    _ok(again)
    assert _lines(again) == [
        "✓ 0001_init.sql already applied",
        "✓ 0002_indexes.sql already applied",
        "Done. 0 applied, 2 skipped.",
    ]

    # a new file: the plan shows it with a DDL summary and applies nothing
    (repo / "migrations" / "0003_due.sql").write_text(MORE_SQL)
    plan = flux_up.cli("push", "--plan", cwd=repo)
    _ok(plan)
    lines = _lines(plan)
    assert lines[:2] == ["✓ 0001_init.sql already applied", "✓ 0002_indexes.sql already applied"]
    assert lines[2].startswith("→ 0003_due.sql would apply (") and "alter" in lines[2]
    assert lines[-1] == "Plan: 1 to apply, 2 skipped, 0 blocked."
    assert "0003_due.sql" not in _ledger(flux_up, repo)

    # editing an applied file: push refuses before running anything, naming the file
    (repo / "migrations" / "0001_init.sql").write_text(INIT_SQL + "-- edited\n")
    refused = flux_up.cli("push", cwd=repo)
    text = _fails(refused, "0001_init.sql", "checksum conflict", "nothing was applied")
    assert "✗ 0001_init.sql checksum conflict" in refused.stdout, text
    assert "0003_due.sql" not in _ledger(flux_up, repo)
    dry = flux_up.cli("push", "--dry-run", cwd=repo)
    _fails(dry, "✗ 0001_init.sql checksum conflict", "Dry run: 1 to apply, 1 skipped, 1 blocked.")
    report = json.loads(flux_up.cli("push", "--dry-run", "--json", cwd=repo).stdout)
    assert report["operation"] == "dry_run" and report["exitCode"] != 0
    assert report["errors"][0]["code"] == "checksum_conflict"
    plan_conflict = flux_up.cli("push", "--plan", cwd=repo)
    assert "✗ 0001_init.sql checksum conflict" in plan_conflict.stdout
    assert plan_conflict.returncode == 0  # --plan only shows; --dry-run is the CI gate
    assert "0003_due.sql" not in _ledger(flux_up, repo)

    # restored: the new file applies; the ledger lists all three with their checksums
    (repo / "migrations" / "0001_init.sql").write_text(INIT_SQL)
    assert _lines(flux_up.cli("push", cwd=repo))[-1] == "Done. 1 applied, 2 skipped."
    ledger = _ledger(flux_up, repo)
    assert list(ledger) == ["0001_init.sql", "0002_indexes.sql", "0003_due.sql"]
    assert ledger["0001_init.sql"] == hashlib.sha256(INIT_SQL.encode()).hexdigest()
    table = _ok(flux_up.cli("migrations", "list", cwd=repo))
    for version, digest in ledger.items():
        assert version in table and digest[:12] in table
    assert "admin@localhost" in table

    # a syntax error on line 3: non-zero exit, SQLSTATE 42601 and the line; no ledger row
    (repo / "migrations" / "0004_bad.sql").write_text(BAD_SQL)
    bad = flux_up.cli("push", cwd=repo)
    _fails(bad, "42601", "0004_bad.sql", "line 3")
    assert "SQLSTATE 42601" in bad.stderr and "0004_bad.sql line 3" in bad.stderr
    assert _lines(bad)[-1] == "Failed. 0 applied, 3 skipped."
    assert "0004_bad.sql" not in _ledger(flux_up, repo)
    # fixed: the whole file applies (its first statement was rolled back with the failure)
    (repo / "migrations" / "0004_bad.sql").write_text(BAD_SQL.replace("selec 1", "select 1"))
    assert _lines(flux_up.cli("push", cwd=repo))[-1] == "Done. 1 applied, 3 skipped."


def test_doctor_domains_rotate_lifecycle_and_nuke(flux_up, repo: Path) -> None:
    _ok(flux_up.cli("push", cwd=repo))
    manifest = json.loads((repo / "flux.json").read_text())
    slug, hash_ = manifest["slug"], manifest["hash"]

    doctor = flux_up.cli("doctor", cwd=repo)
    assert "Traceback" not in doctor.stderr
    checks = json.loads(flux_up.cli("doctor", "--json", cwd=repo).stdout)["checks"]
    assert checks and all(c["status"] in ("PASS", "WARN", "FAIL") for c in checks)
    failed = any(c["status"] == "FAIL" for c in checks)
    assert doctor.returncode == (1 if failed else 0), doctor.stdout + doctor.stderr
    for check in checks:
        assert f"{check['status']:<4}  {check['name']}: {check['message']}" in doctor.stdout
    assert f"{slug} ({hash_}):" in doctor.stdout.splitlines()[-1]

    assert "No custom domains" in _ok(flux_up.cli("domains", "list", cwd=repo))
    added = _ok(flux_up.cli("domains", "add", "Todo.Example.com", cwd=repo))
    assert added.strip() == f"Added todo.example.com to {slug} ({hash_})."
    listed = json.loads(_ok(flux_up.cli("domains", "list", "--json", cwd=repo)))
    assert [d["hostname"] for d in listed["domains"]] == ["todo.example.com"]
    _fails(flux_up.cli("domains", "add", "x.localhost", cwd=repo), "local or special-use name")
    _ok(flux_up.cli("domains", "remove", "todo.example.com", cwd=repo))
    assert json.loads(_ok(flux_up.cli("domains", "list", "--json", cwd=repo)))["domains"] == []

    before = json.loads(_ok(flux_up.cli("project", "credentials", "--json", cwd=repo)))
    _fails(flux_up.cli("secrets", "rotate", cwd=repo), "--yes")
    rotated = _ok(flux_up.cli("secrets", "rotate", "--yes", cwd=repo))
    after = json.loads(_ok(flux_up.cli("project", "credentials", "--json", cwd=repo)))
    assert after["jwtSecret"] != before["jwtSecret"]
    assert f"FLUX_GATEWAY_JWT_SECRET={after['jwtSecret']}" in rotated.splitlines()

    suspended = _ok(flux_up.cli("suspend", cwd=repo))
    assert suspended.strip() == f"Suspended {slug} ({hash_}); status suspended."
    assert f"{hash_} │ v2_shared │ suspended" in _ok(flux_up.cli("list"))
    assert _ok(flux_up.cli("resume", slug)).strip() == f"Resumed {slug} ({hash_}); status active."
    _fails(flux_up.cli("stop", cwd=repo), "v1_dedicated", "suspend/resume")

    _fails(flux_up.cli("nuke", cwd=repo), "--yes")
    _fails(flux_up.cli("nuke", "--yes", cwd=repo), "no restore-verified backup")
    nuked = flux_up.cli("nuke", "--yes", "--skip-backup-check", cwd=repo)
    assert _ok(nuked).strip() == f"Deleted {slug} ({hash_})."
    assert "still links this folder" in nuked.stderr and (repo / "flux.json").exists()
    listed = json.loads(_ok(flux_up.cli("list", "--json")))
    assert hash_ not in [p["hash"] for p in listed["projects"]]
    _fails(flux_up.cli("push", cwd=repo), hash_)

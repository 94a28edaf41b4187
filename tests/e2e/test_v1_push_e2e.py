"""`flux push` to a dedicated (v1) project through the real `flux up`: files run as the database
owner, and the RLS write audit refuses a table in `api` that anon can write without RLS
(SQLSTATE 42501, rolled back, no ledger row). `flux doctor` classifies the same table the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import psycopg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ITEMS_SQL = """\
create table items (id int primary key, name text not null);
insert into items values (1, 'kept');
alter table items enable row level security;
grant select on items to anon;
create policy anon_read on items for select to anon using (true);
"""
OPEN_SQL = "create table open_notes (id int primary key);\ngrant insert on open_notes to anon;\n"


def _ok(result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _ledger(flux_up, h: str) -> list[str]:
    out = _ok(flux_up.cli("migrations", "list", "-p", "shop", "--hash", h, "--json"))
    return [row["version"] for row in json.loads(out)["migrations"]]


def test_v1_push_runs_as_owner_and_audit_refuses_writable_tables(flux_up, tmp_path: Path):
    out = _ok(flux_up.cli("create", "shop", "--mode", "v1_dedicated"))
    h = re.search(r"\b([0-9a-f]{7})\b", out).group(1)
    creds = json.loads(_ok(flux_up.cli("project", "credentials", "shop", "--hash", h, "--json")))
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_items.sql").write_text(ITEMS_SQL)
    ref = ("-p", "shop", "--hash", h)

    first = flux_up.cli("push", str(folder), *ref)
    assert _ok(first).splitlines() == [
        "→ 0001_items.sql applying...",
        "✓ 0001_items.sql applied",
        "Done. 1 applied, 0 skipped.",
    ]
    owner_url = creds["postgres"]["url"]
    with psycopg.connect(owner_url, autocommit=True) as conn:
        owner, me = conn.execute(
            "select tableowner::text, current_user::text from pg_tables"
            " where schemaname = 'api' and tablename = 'items'"
        ).fetchone()
    assert owner == me  # the database owner, as SPEC §7 v1 execution says
    res = httpx.get(
        f"http://127.0.0.1:{flux_up.gateway_port}/api--shop--{h}/items?select=id,name",
        headers={"Authorization": f"Bearer {creds['anonKey']}"},
        timeout=10,
    )
    assert res.status_code == 200 and res.json() == [{"id": 1, "name": "kept"}], res.text

    (folder / "0002_open.sql").write_text(OPEN_SQL)
    refused = flux_up.cli("push", str(folder), *ref, "--json")
    assert refused.returncode != 0, refused.stdout
    report = json.loads(refused.stdout)
    error = report["errors"][0]
    assert error["sqlstate"] == "42501" and error["file"] == "0002_open.sql", error
    assert "open_notes" in error["message"] and report["applied"] == 0
    assert _ledger(flux_up, h) == ["0001_items.sql"]
    with psycopg.connect(owner_url, autocommit=True) as conn:
        assert conn.execute("select to_regclass('api.open_notes')").fetchone()[0] is None
        # the same table made outside `flux push`: doctor must classify it the same way
        conn.execute(OPEN_SQL.replace("open_notes", "api.open_notes"))

    doctor = flux_up.cli("doctor", *ref, "--json")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    failing = [c for c in json.loads(doctor.stdout)["checks"] if c["status"].upper() == "FAIL"]
    assert [c["message"] for c in failing] == [error["message"]], failing

"""A dedicated project through the real `flux up`: create, read via the gateway with the anon
key, survive a platform restart, and leave nothing behind after nuke."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.slow


def _ok(result):
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def test_dedicated_project_lifecycle_through_flux_up(flux_up):
    out = _ok(flux_up.cli("create", "shop", "--mode", "v1_dedicated"))
    h = re.search(r"\b([0-9a-f]{7})\b", out).group(1)
    creds = json.loads(_ok(flux_up.cli("project", "credentials", "shop", "--hash", h, "--json")))
    password = _ok(
        flux_up.cli("project", "credentials", "shop", "--hash", h, "--field", "postgres.password")
    ).strip()
    assert password == creds["postgres"]["password"]
    with psycopg.connect(creds["postgres"]["url"], autocommit=True) as conn:
        conn.execute(
            "create table api.items (id int primary key, name text);"
            " insert into api.items values (1, 'kept');"
            " alter table api.items enable row level security;"
            " create policy anon_read on api.items for select to anon using (id > 1);"
        )
    url = f"http://127.0.0.1:{flux_up.gateway_port}/api--shop--{h}/items?select=id,name"

    def read(key: str) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)

    assert read(creds["anonKey"]).json() == []  # RLS hides id 1 from anon
    assert read(creds["serviceRoleKey"]).json() == [{"id": 1, "name": "kept"}]  # BYPASSRLS

    env = _ok(flux_up.cli("env", "list", "-p", "shop", "--hash", h))
    assert "PGRST_DB_SCHEMAS=api" in env and password not in env
    assert creds["jwtSecret"] not in env

    flux_up.stop()
    assert flux_up.postgres_pids() == []
    flux_up.start()  # dedicated projects come back in the background, within seconds
    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(_ok(flux_up.cli("list", "--json")))["projects"]
        if listed[0]["status"] == "running" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(p["slug"], p["status"]) for p in listed] == [("shop", "running")]
    assert read(creds["serviceRoleKey"]).json() == [{"id": 1, "name": "kept"}]

    _ok(flux_up.cli("nuke", "shop", "--hash", h, "--yes", "--skip-backup-check"))
    assert json.loads(_ok(flux_up.cli("list", "--json")))["projects"] == []
    assert not any((flux_up.flux_home / "projects").iterdir())
    leftovers = [
        pid
        for pid in flux_up.postgres_pids()
        if "projects" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    assert leftovers == []
    assert httpx.get(url, timeout=10).status_code == 404

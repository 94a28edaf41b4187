"""Issue 13, as a user checks it: a v2 and a v1 project through the real `flux up` and CLI get
tables with data, backups that become Restorable, damage, a restore that finds every row (and
the REST API serving the restored shape), and `nuke` refusing without a verified backup;
then `flux db shell` read-only (writes refused, another tenant's schema and the catalog
unreadable), read-write with the operator switch (data writable, DDL refused), and a login
that expired can no longer connect."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from flux.devserver import FluxUp

pytestmark = pytest.mark.slow

V2_INIT = """
create table items (id int primary key, name text not null);
create table notes (id bigserial primary key, item_id int references items(id), body text);
grant insert, update, delete on items to authenticated;
insert into items select g, 'item ' || g from generate_series(1, 500) g;
insert into notes (item_id, body) select 1 + g % 500, 'note ' || g from generate_series(1, 1200) g;
"""
V1_INIT = """
create table api.items (id int primary key, name text not null);
create table api.notes (id bigserial primary key, item_id int references api.items(id), body text);
alter table api.items enable row level security;
create policy read_all on api.items for select using (true);
alter table api.notes enable row level security;
create policy read_all on api.notes for select using (true);
insert into api.items select g, 'item ' || g from generate_series(1, 500) g;
insert into api.notes (item_id, body) select 1 + g % 500, 'note ' || g from generate_series(1, 1200) g;
"""
DAMAGE = {
    "v2_shared": "drop table notes; delete from items where id > 7;",
    "v1_dedicated": "drop table api.notes; delete from api.items where id > 7;",
}


def _ok(result) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def _fails(result, *fragments: str) -> str:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def _create(flux_up, name: str, mode: str) -> tuple[str, dict]:
    project = json.loads(_ok(flux_up.cli("create", name, "--mode", mode, "--json")))["project"]
    creds = json.loads(
        _ok(flux_up.cli("project", "credentials", name, "--hash", project["hash"], "--json"))
    )
    return project["hash"], creds


def _push(flux_up, folder: Path, name: str, h: str, file: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(sql)
    _ok(flux_up.cli("push", str(folder / file), "-p", name, "--hash", h))


def _headers(mode: str, creds: dict) -> dict:
    if mode == "v1_dedicated":
        return {"Authorization": f"Bearer {creds['serviceRoleKey']}"}
    now = int(time.time())
    token = jwt.encode(
        {"sub": "e2e", "role": "authenticated", "iat": now, "exp": now + 600},
        creds["jwtSecret"],
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}"}


def _rows(flux_up, name: str, h: str, mode: str, creds: dict, table: str) -> int | None:
    url = f"http://127.0.0.1:{flux_up.gateway_port}/api--{name}--{h}/{table}?select=id"
    answer = httpx.get(
        url, headers={**_headers(mode, creds), "Prefer": "count=exact", "Range": "0-0"}, timeout=20
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code in (200, 206), answer.text
    return int(answer.headers["Content-Range"].split("/")[1])


@pytest.mark.parametrize("mode", ["v2_shared", "v1_dedicated"])
def test_backup_damage_restore_every_row_back(flux_up, tmp_path: Path, mode: str) -> None:
    name = "keep-" + ("two" if mode == "v2_shared" else "one")
    h, creds = _create(flux_up, name, mode)
    sql_dir = tmp_path / "migrations"  # versioned: the ledger records each file
    _push(flux_up, sql_dir, name, h, "0001_init.sql", V2_INIT if mode == "v2_shared" else V1_INIT)
    assert _rows(flux_up, name, h, mode, creds, "items") == 500

    assert "No backups" in _ok(flux_up.cli("backup", "list", "-p", name, "--hash", h))
    _fails(flux_up.cli("nuke", name, "--hash", h, "--yes"), "no restore-verified backup")

    created = json.loads(_ok(flux_up.cli("backup", "create", "-p", name, "--hash", h, "--json")))
    first = created["backup"]
    assert first["label"] == "Restorable", first
    assert first["rows"] >= 1700  # v1 also counts its ledger rows
    listed = _ok(flux_up.cli("backup", "list", "-p", name, "--hash", h))
    assert f"{name} ({h}): Restorable" in listed and first["id"] in listed
    # unixMs · ISO UTC · human UTC · relative
    assert re.search(r"\d{13} · \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z · \w{3} .* UTC · ", listed)

    download = tmp_path / "first.dump"
    _ok(
        flux_up.cli("backup", "download", first["id"], "-o", str(download), "-p", name, "--hash", h)
    )
    assert download.stat().st_mode & 0o777 == 0o600 and download.stat().st_size > 1000

    _push(flux_up, sql_dir, name, h, "0002_damage.sql", DAMAGE[mode])
    assert _rows(flux_up, name, h, mode, creds, "items") == 7
    assert _rows(flux_up, name, h, mode, creds, "notes") is None

    # the backup predates the damaging push: the gate wants a fresh one first
    _fails(
        flux_up.cli("backup", "restore", first["id"], "-p", name, "--hash", h, "--yes"),
        "older than its last push",
    )
    safety = json.loads(_ok(flux_up.cli("backup", "create", "-p", name, "--hash", h, "--json")))
    assert safety["backup"]["label"] == "Restorable"
    restored = _ok(flux_up.cli("backup", "restore", first["id"], "-p", name, "--hash", h, "--yes"))
    assert f"Restored {name} ({h}) from backup {first['id']}" in restored
    assert _rows(flux_up, name, h, mode, creds, "items") == 500
    assert _rows(flux_up, name, h, mode, creds, "notes") == 1200
    ledger = json.loads(_ok(flux_up.cli("migrations", "list", "-p", name, "--hash", h, "--json")))
    assert [m["version"] for m in ledger["migrations"]] == ["0001_init.sql"]

    _fails(flux_up.cli("backup", "verify", "nope", "-p", name, "--hash", h), "invalid backup id")
    # nuke: the restore counts as a change, so the gate asks again; --backup takes one
    _fails(flux_up.cli("nuke", name, "--hash", h, "--yes"), "older than its last push")
    _ok(flux_up.cli("nuke", name, "--hash", h, "--yes", "--backup"))
    assert json.loads(_ok(flux_up.cli("list", "--json")))["projects"] == []


class _SwitchedOn(FluxUp):
    """`flux up` run by an operator who allows read-write database logins."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "FLUX_DB_ACCESS_ALLOW_READWRITE": "1",
            "FLUX_HOUSEKEEPING_SECONDS": "1",
        }


@pytest.fixture
def operator_up(tmp_path: Path, pg_templates: Path):
    platform = _SwitchedOn(tmp_path, pg_templates)
    platform.start()
    yield platform
    if platform.proc is not None:
        platform.stop()
    for pid in platform.postgres_pids():
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


def _psql(flux_up, name: str, h: str, sql: str, *flags: str):
    return flux_up.cli(
        "db",
        "shell",
        "-p",
        name,
        "--hash",
        h,
        *flags,
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-A",
        "-t",
        "-c",
        sql,
    )


def test_db_shell_read_only_read_write_and_expiry(operator_up, tmp_path: Path) -> None:
    up = operator_up
    h, _ = _create(up, "shelly", "v2_shared")
    other, _ = _create(up, "neighbour", "v2_shared")
    _push(up, tmp_path / "migrations", "shelly", h, "0001_init.sql", V2_INIT)
    _push(up, tmp_path / "other" / "migrations", "neighbour", other, "0001.sql", V2_INIT)
    other_schema = json.loads(
        _ok(up.cli("project", "credentials", "neighbour", "--hash", other, "--json"))
    )["apiSchema"]

    assert _ok(_psql(up, "shelly", h, "select count(*) from items")).strip() == "500"
    _fails(_psql(up, "shelly", h, "insert into items values (9999, 'no')"), "read-only")
    _fails(_psql(up, "shelly", h, f"select * from {other_schema}.items"), "permission denied")
    _fails(_psql(up, "shelly", h, "select prosrc from pg_proc limit 1"), "permission denied")
    _fails(_psql(up, "shelly", h, "select * from flux.flux_migrations"), "permission denied")

    rw = ("--read-write", "--ttl", "5m")
    _ok(_psql(up, "shelly", h, "insert into items values (9999, 'yes')", *rw))
    assert _ok(_psql(up, "shelly", h, "select name from items where id = 9999")).strip() == "yes"
    _fails(_psql(up, "shelly", h, "create table sneaky (id int)", *rw), "permission denied")
    _fails(_psql(up, "shelly", h, "alter table items add column x int", *rw), "must be owner")

    short = json.loads(
        _ok(up.cli("db", "url", "-p", "shelly", "--hash", h, "--ttl", "2s", "--json"))
    )
    time.sleep(3)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(short["url"], connect_timeout=5).close()
    deadline = time.monotonic() + 20
    while "expired" not in _ok(up.cli("db", "access", "list", "-p", "shelly", "--hash", h)):
        assert time.monotonic() < deadline, "the expired login was never swept"
        time.sleep(0.5)

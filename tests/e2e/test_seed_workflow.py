"""The seed workflow through the real gateway: up → create → push → mint → curl the Service URL."""

from __future__ import annotations

import json
import re
import time

import httpx
import psycopg
import pytest

from flux.cli.user_config import config_path, load_user_config
from flux.embedded import load_state

pytestmark = pytest.mark.slow

INIT = """
create table notes (id bigserial primary key, owner_id text not null default auth.uid(),
                    body text not null);
alter table notes enable row level security;
grant insert, update, delete on notes to authenticated;
grant usage on all sequences in schema public to authenticated;
create policy own_notes on notes to authenticated
  using (owner_id = auth.uid()) with check (owner_id = auth.uid());
"""


def _create(flux_up, name: str) -> str:
    result = flux_up.cli("create", name)
    assert result.returncode == 0, result.stderr
    return re.search(r"\b([0-9a-f]{7})\b", result.stdout).group(1)


def _push(flux_up, h: str, sql: str, filename: str = "0001_init.sql") -> dict:
    token = load_user_config(config_path(flux_up.home))["token"]
    res = httpx.post(
        f"{flux_up.api_base}/cli/v1/push",
        headers={"Authorization": f"Bearer {token}"},
        json={"hash": h, "mode": "versioned", "files": [{"filename": filename, "sql": sql}]},
        timeout=30,
    )
    res.raise_for_status()
    report = res.json()
    assert report["ok"], report
    return report


def _mint(flux_up, slug: str, h: str, sub: str) -> str:
    result = flux_up.cli("token", "mint", "-p", slug, "--hash", h, "--sub", sub)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _seed_as_superuser(flux_up, h: str, rows: list[tuple[str, str]]) -> None:
    state = load_state(flux_up.flux_home)
    with psycopg.connect(state.shared_conninfo(), autocommit=True) as conn:
        schema = conn.execute(
            "select nspname from pg_namespace n join pg_class c"
            " on c.relnamespace = n.oid where c.relname = 'notes'"
            " and nspname like 't\\_%%' order by c.oid desc limit 1"
        ).fetchone()[0]
        for owner, body in rows:
            conn.execute(
                f"insert into {schema}.notes (owner_id, body) values (%s, %s)", (owner, body)
            )


def test_first_request_works_through_every_url_form(flux_up):
    h = _create(flux_up, "percept")
    other = _create(flux_up, "other")
    _push(flux_up, h, INIT)
    _seed_as_superuser(flux_up, h, [("alice", "a1"), ("alice", "a2"), ("bob", "b1")])
    token = _mint(flux_up, "percept", h, "alice")
    port = flux_up.gateway_port
    auth = {"Authorization": f"Bearer {token}"}

    path_form = f"http://127.0.0.1:{port}/api--percept--{h}/notes?select=body&order=id"
    res = httpx.get(path_form, headers=auth)
    assert res.status_code == 200, res.text
    assert res.json() == [{"body": "a1"}, {"body": "a2"}]  # RLS: only alice's rows

    for host in (
        f"api--percept--{h}.localhost:{port}",
        f"API.percept.{h}.localhost:{port}",
        f"api--percept--{h}.localhost.:{port}",
    ):
        res = httpx.get(
            f"http://127.0.0.1:{port}/rest/v1/notes?select=body&order=id",
            headers={**auth, "Host": host},
        )
        assert res.status_code == 200, (host, res.text)
        assert [r["body"] for r in res.json()] == ["a1", "a2"]

    res = httpx.get(path_form)
    assert res.status_code == 401
    assert res.json()["error"] == "authorization required"
    assert res.headers["www-authenticate"].startswith("Bearer")

    foreign = _mint(flux_up, "other", other, "alice")
    assert httpx.get(path_form, headers={"Authorization": f"Bearer {foreign}"}).status_code == 401

    res = httpx.get(f"http://127.0.0.1:{port}/api--percept--abcdef1/notes", headers=auth)
    assert res.status_code == 404 and res.json()["error"] == "project not found"

    # activity reaches the catalog in batches (lossy by design, within seconds)
    catalog = load_state(flux_up.flux_home).catalog_conninfo()
    deadline = time.monotonic() + 20
    seen = None
    while seen is None and time.monotonic() < deadline:
        with psycopg.connect(catalog) as conn:
            seen = conn.execute(
                "select last_accessed_at from projects where hash = %s", (h,)
            ).fetchone()[0]
        time.sleep(0.5)
    assert seen is not None


def test_push_is_visible_on_the_very_next_request(flux_up):
    h = _create(flux_up, "fresh")
    token = _mint(flux_up, "fresh", h, "u1")
    base = f"http://127.0.0.1:{flux_up.gateway_port}/api--fresh--{h}"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/t1", headers=auth).status_code == 404
    for i in range(1, 6):
        _push(
            flux_up,
            h,
            f"create table t{i} (id int primary key, label text);",
            filename=f"{i:04d}.sql",
        )
        res = httpx.get(f"{base}/t{i}?select=id,label", headers=auth)
        assert res.status_code == 200, res.text
        assert json.loads(res.text) == []

"""`@supabase/supabase-js` (npm, run with Node.js) through a real `flux up` gateway.

A project is created with the real CLI, its schema pushed through the control API, a project
JWT minted with `flux token mint`; then `createClient(<path-form Service URL>, <JWT>)` runs
select/insert/update/delete/rpc (tests/js/supabase_cases.mjs). Write and RPC cases are
expected failures only while the server answers them with PGRST127 (REST part 2 in progress).
The client is created exactly as an app would, so its default `Accept-Profile: public` must
reach the tenant's schema.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from flux.cli.user_config import config_path, load_user_config
from flux.embedded import load_state

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

JS_DIR = Path(__file__).parents[1] / "js"
SCHEMA_SQL = """
create table notes (id bigserial primary key, owner_id text not null default auth.uid(),
                    body text not null, done boolean not null default false);
alter table notes enable row level security;
grant select, insert, update, delete on notes to authenticated;
grant usage on all sequences in schema public to authenticated;
create policy own_notes on notes to authenticated
  using (owner_id = auth.uid()) with check (owner_id = auth.uid());
create function add_numbers(a int, b int) returns int language sql immutable
  as $$ select a + b $$;
create function note_count() returns bigint language sql stable
  as $$ select count(*) from notes $$;
"""


def _project(flux_up, slug: str, sub: str) -> tuple[str, str]:
    """Create the project, push SCHEMA_SQL, mint a token for `sub`; (Service URL, JWT)."""
    created = flux_up.cli("create", slug)
    assert created.returncode == 0, created.stderr
    hash_ = re.search(r"\b([0-9a-f]{7})\b", created.stdout).group(1)
    admin = load_user_config(config_path(flux_up.home))["token"]
    pushed = httpx.post(
        f"{flux_up.api_base}/cli/v1/push",
        headers={"Authorization": f"Bearer {admin}"},
        json={
            "hash": hash_,
            "mode": "versioned",
            "files": [{"filename": "0001_notes.sql", "sql": SCHEMA_SQL}],
        },
        timeout=60,
    )
    assert pushed.status_code == 200 and pushed.json()["ok"], pushed.text
    minted = flux_up.cli("token", "mint", "-p", slug, "--hash", hash_, "--sub", sub)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip().splitlines()[-1]
    return f"http://127.0.0.1:{flux_up.gateway_port}/api--{slug}--{hash_}", token


def _seed_foreign_note(flux_up) -> None:
    """A row owned by someone else, written as superuser: RLS must hide it from the client."""
    with psycopg.connect(load_state(flux_up.flux_home).shared_conninfo(), autocommit=True) as conn:
        (schema,) = conn.execute(
            "select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relname = 'notes' and n.nspname like 't\\_%%'"
        ).fetchone()
        conn.execute(f"insert into {schema}.notes (owner_id, body) values ('bob', 'secret')")


def _run_supabase_js(url: str, token: str) -> dict:
    result = subprocess.run(
        ["node", str(JS_DIR / "run.mjs"), "supabase_cases.mjs", url, token],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=JS_DIR,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def ok(data: object, status: int = 200, count: int | None = None) -> dict:
    return {"status": status, "data": data, "count": count, "error": None}


EXPECTED = {
    "select_only_own_rows": ok([]),
    "insert_returning": ok(
        [{"body": "first", "owner_id": "alice"}, {"body": "second", "owner_id": "alice"}], 201
    ),
    "update_returning": ok([{"body": "first", "done": True}]),
    "delete_returning": ok([{"body": "second"}]),
    "select_after_writes": ok([{"body": "first", "done": True}]),
    "count_head": ok(None, count=1),
    "rpc_post": ok(5),
    "rpc_get": ok(42),
    "rpc_sees_own_rows": ok(1),
}


def _check(results: dict) -> None:
    """The first read must pass; the rest depends on writes and RPC (REST part 2)."""
    assert results["select_only_own_rows"] == EXPECTED["select_only_own_rows"]
    part2_missing = sorted(
        name
        for name, result in results.items()
        if (result.get("error") or {}).get("code") == "PGRST127"
    )
    if part2_missing:
        pytest.xfail(f"REST part 2 in progress: {part2_missing} answered PGRST127")
    assert results == EXPECTED


def test_supabase_js_through_the_gateway(flux_up):
    url, token = _project(flux_up, "jsapp", "alice")
    _seed_foreign_note(flux_up)
    _check(_run_supabase_js(url, token))

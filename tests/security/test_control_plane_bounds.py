"""Finding 4 (the control plane can be stalled) played against a real `flux up`, its limits
lowered through the environment to keep the test short: one user's flood of slow pushes is
bounded per user (429 + Retry-After beyond it) while another user's `list` stays prompt; pushed
SQL cannot lift the platform's statement maximum; a push whose client went away is cancelled
and releases the project's push lock."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from flux.catalog import tokens, users
from flux.embedded import load_state

STATEMENT_MAX = 4  # seconds: FLUX_PUSH_STATEMENT_TIMEOUT below
PER_USER = 4
FLUX_UP_ENV = {
    "FLUX_PUSH_STATEMENT_TIMEOUT": str(STATEMENT_MAX),
    "FLUX_CONTROL_CALLS_PER_USER": str(PER_USER),
}
FLOOD = 45


@pytest.fixture(scope="module")
def api(platform) -> str:
    return f"{platform.up.api_base}/cli/v1"


@pytest.fixture(scope="module")
def admin(platform) -> dict[str, str]:
    token = json.loads((platform.up.home / ".flux" / "config.json").read_text())["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def bob(platform) -> dict[str, str]:
    """Another user (there is no API to create users)."""
    conninfo = load_state(platform.up.flux_home).catalog_conninfo()
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        user = users.create_user(conn, f"bob-{uuid.uuid4().hex[:6]}@example.com", None)
        token = tokens.create_token(conn, user.id, "bounds test")
    return {"Authorization": f"Bearer {token}"}


def _push_body(tenant, sql: str) -> dict:
    name = f"{time.monotonic_ns()}.sql"
    return {"hash": tenant.hash, "mode": "raw", "files": [{"filename": name, "sql": sql}]}


def test_one_users_slow_pushes_are_bounded_and_others_stay_prompt(platform, api, admin, bob):
    tenant = platform.create("flood")
    barrier = threading.Barrier(FLOOD)

    def slow_push(_: int) -> httpx.Response:
        with httpx.Client(timeout=120) as http:
            barrier.wait(30)
            return http.post(
                f"{api}/push", json=_push_body(tenant, "select pg_sleep(15);"), headers=admin
            )

    with ThreadPoolExecutor(FLOOD) as pool:
        flood = [pool.submit(slow_push, i) for i in range(FLOOD)]
        time.sleep(1.0)  # the flood has arrived: PER_USER pushes run, the rest were refused
        latencies = []
        with httpx.Client(timeout=30) as http:
            for _ in range(5):
                started = time.monotonic()
                listed = http.get(f"{api}/list", headers=bob)
                latencies.append(time.monotonic() - started)
                assert listed.status_code == 200, listed.text
                time.sleep(0.2)
        print(f"bob's list under the flood: max {max(latencies) * 1000:.0f} ms")
        assert max(latencies) < 1.0, latencies
        answers = [f.result(timeout=90) for f in flood]

    refused = [a for a in answers if a.status_code == 429]
    served = [a for a in answers if a.status_code == 200]
    assert len(refused) == FLOOD - PER_USER and len(served) == PER_USER, [
        a.status_code for a in answers
    ]
    for answer in refused:
        assert answer.headers.get("retry-after") and "error" in answer.json()
    for answer in served:  # each ran into the platform's statement maximum, one at a time
        report = answer.json()
        assert not report["ok"] and report["errors"][0]["sqlstate"] == "57014", report
    with httpx.Client(timeout=30) as http:  # the slots were given back
        again = http.post(f"{api}/push", json=_push_body(tenant, "select 1;"), headers=admin)
    assert again.status_code == 200 and again.json()["ok"], again.text


def test_pushed_sql_cannot_lift_the_statement_maximum(platform, api, admin):
    tenant = platform.create("nolimit")
    sql = "set statement_timeout = 0;\nset lock_timeout = 0;\nselect pg_sleep(600);\n"
    started = time.monotonic()
    with httpx.Client(timeout=60) as http:
        answer = http.post(f"{api}/push", json=_push_body(tenant, sql), headers=admin)
        took = time.monotonic() - started
        assert took < STATEMENT_MAX + 4, f"the push ran {took:.1f}s"
        error = answer.json()["errors"][0]
        assert (error["code"], error["line"]) == ("push_timeout", 3), error
        after = http.post(f"{api}/push", json=_push_body(tenant, "select 1;"), headers=admin)
    assert after.json()["ok"], after.text  # the push lock was released


def test_a_push_whose_client_disconnects_is_cancelled(platform, api, admin):
    tenant = platform.create("gone")
    sql = "set statement_timeout = 0;\nselect pg_sleep(600);\n"
    started = time.monotonic()
    with httpx.Client(timeout=1.0) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{api}/push", json=_push_body(tenant, sql), headers=admin)
    with httpx.Client(timeout=60) as http:
        after = http.post(f"{api}/push", json=_push_body(tenant, "select 1;"), headers=admin)
    took = time.monotonic() - started
    assert after.json()["ok"], after.text
    # well before the statement maximum would have ended it: the disconnect cancelled it
    assert took < STATEMENT_MAX, f"the next push finished {took:.1f}s after the first started"
    conninfo = load_state(platform.up.flux_home).catalog_conninfo()
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT details->>'outcome', details->'errors' FROM audit_log"
            " WHERE action = 'project.push' AND target = %s ORDER BY id",
            (f"{tenant.slug}/{tenant.hash}",),
        ).fetchall()
    assert rows == [("failed", ["push_cancelled"]), ("done", [])]

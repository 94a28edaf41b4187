"""Finding 5 (a push can escape the audit log) played against a real `flux up`: input the
catalog cannot store (NUL, lone surrogates, invalid UTF-8, over-long or malformed names) is
refused with 422 before anything runs, on push and on every other mutating route; every push
that runs has its audit row, written before it ran, with its outcome."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest

from flux.embedded import load_state

PROBE = "create table probe (id int);"


@pytest.fixture(scope="module")
def api(platform) -> httpx.Client:
    token = json.loads((platform.up.home / ".flux" / "config.json").read_text())["token"]
    with httpx.Client(
        base_url=f"{platform.up.api_base}/cli/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def tenant(platform):
    return platform.create("audited")


def _audit_rows(platform, tenant) -> list[tuple]:
    conninfo = load_state(platform.up.flux_home).catalog_conninfo()
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT details FROM audit_log WHERE action = 'project.push' AND target = %s"
            " ORDER BY id",
            (f"{tenant.slug}/{tenant.hash}",),
        ).fetchall()


def _probe_exists(platform, tenant) -> bool:
    with psycopg.connect(load_state(platform.up.flux_home).shared_conninfo()) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f"{tenant.schema}.probe",)).fetchone()
    return row[0] is not None


def _refused(answer: httpx.Response) -> str:
    assert answer.status_code == 422, (answer.status_code, answer.text)
    return answer.json()["error"]


def test_unstorable_push_input_is_refused_before_anything_runs(platform, api, tenant):
    files = {"hash": tenant.hash, "mode": "raw"}
    bad_bodies = {
        "NUL in filename (single)": {**files, "sql": PROBE, "filename": "a\x00.sql"},
        "NUL in filename (files)": {**files, "files": [{"filename": "a\x00.sql", "sql": PROBE}]},
        "NUL in sql": {**files, "files": [{"filename": "a.sql", "sql": PROBE + "\x00"}]},
        "NUL in path": {**files, "files": [{"filename": "a.sql", "sql": PROBE, "path": "\x00"}]},
        "long filename": {**files, "files": [{"filename": "a" * 256, "sql": PROBE}]},
        "bad hash": {**files, "hash": "ZZZ", "files": [{"filename": "a.sql", "sql": PROBE}]},
        "bad slug": {**files, "slug": "Not A Slug", "files": [{"filename": "a.sql", "sql": PROBE}]},
    }
    for why, body in bad_bodies.items():
        assert "invalid request" in _refused(api.post("/push", json=body)), why
    body = {**files, "files": [{"filename": "SURROGATE.sql", "sql": PROBE}]}
    surrogate = json.dumps(body).replace("SURROGATE", "\\ud800")  # JSON's spelling of it
    headers = {"Content-Type": "application/json"}
    assert "surrogate" in _refused(api.post("/push", content=surrogate, headers=headers))
    not_utf8 = json.dumps(body).encode().replace(b"SURROGATE", b"\xff")
    assert "UTF-8" in _refused(api.post("/push", content=not_utf8, headers=headers))

    assert not _probe_exists(platform, tenant)
    assert _audit_rows(platform, tenant) == []


def test_every_mutating_route_refuses_unstorable_input(platform, api, tenant):
    assert "NUL" in _refused(api.post("/create", json={"name": "x\x00y"}))
    assert "NUL" in _refused(api.delete(f"/projects/{tenant.hash}%00"))
    assert "NUL" in _refused(api.post("/init", json={"slug": "x\x00"}))
    assert "NUL" in _refused(
        api.post(f"/projects/{tenant.hash}/domains", json={"hostname": "a\x00.example.com"})
    )
    assert tenant.hash in platform.ok("list", "--json")  # still there


def test_each_push_that_runs_is_audited_with_its_outcome(platform, api, tenant):
    ok = api.post(
        "/push", json={"hash": tenant.hash, "mode": "raw", "sql": PROBE, "filename": "p.sql"}
    )
    assert ok.status_code == 200 and ok.json()["ok"], ok.text
    bad = api.post(
        "/push",
        json={"hash": tenant.hash, "mode": "raw", "sql": "select nope;", "filename": "q.sql"},
    )
    assert bad.status_code == 200 and not bad.json()["ok"], bad.text
    assert _probe_exists(platform, tenant)
    rows = [row[0] for row in _audit_rows(platform, tenant)]
    assert [(r["files"], r["outcome"], r["applied"]) for r in rows] == [
        (["p.sql"], "done", 1),
        (["q.sql"], "failed", 0),
    ]

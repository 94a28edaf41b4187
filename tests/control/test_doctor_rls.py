"""`flux doctor` on v2 warns about every table the tenant's runtime role can read with row level
security off (readable by every project token), and stops warning once RLS is on."""

from __future__ import annotations

import psycopg


def _push(api, h: str, sql: str) -> None:
    res = api.post("/push", json={"hash": h, "mode": "raw", "filename": "x.sql", "sql": sql})
    assert res.status_code == 200, res.text


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def test_readable_tables_without_rls_warn_with_remediation(api):
    h = api.post("/create", json={"name": "readable"}).json()["project"]["hash"]
    fresh = api.post(f"/projects/{h}/doctor").json()
    assert fresh["status"] == "PASS"
    assert _check(fresh, "rls-on-readable-tables")["status"] == "PASS"

    _push(
        api,
        h,
        "create table notes (id int primary key, owner text);"
        "create table secrets (id int primary key);"
        "create table guarded (id int primary key, owner text);"
        "alter table guarded enable row level security;"
        "create policy mine on guarded using (owner = auth.uid()::text);"
        "create table hidden (id int);"
        "revoke select on hidden from authenticated;",
    )
    report = api.post(f"/projects/{h}/doctor").json()
    assert report["status"] == "WARN", report
    check = _check(report, "rls-on-readable-tables")
    assert check["status"] == "WARN"
    assert check["message"] == (
        "readable by every project token without row level security: notes, secrets"
    )
    assert "ENABLE ROW LEVEL SECURITY" in check["remediation"]
    assert "REVOKE SELECT" in check["remediation"] and "_role" in check["remediation"]
    # read-only tables are not writable: that check still passes
    assert _check(report, "rls-on-writable-tables")["status"] == "PASS"

    _push(
        api,
        h,
        "alter table notes enable row level security;"
        "alter table secrets enable row level security;",
    )
    fixed = api.post(f"/projects/{h}/doctor").json()
    assert fixed["status"] == "PASS", fixed


def test_materialized_views_count_and_column_grants_count(api):
    h = api.post("/create", json={"name": "matview"}).json()["project"]["hash"]
    _push(
        api,
        h,
        "create table base (id int, note text);"
        "alter table base enable row level security;"
        "create materialized view summary as select count(*) from base;"
        "create table partial (id int, note text);"
        "revoke select on partial from authenticated;"
        "grant select (id) on partial to authenticated;",
    )
    report = api.post(f"/projects/{h}/doctor").json()
    message = _check(report, "rls-on-readable-tables")["message"]
    assert message.endswith(": partial, summary"), message


def test_a_runtime_role_that_can_become_another_role_fails(api, control):
    h = api.post("/create", json={"name": "escape"}).json()["project"]["hash"]
    schema = api.get(f"/projects/{h}").json()["project"]["apiSchema"]
    role = schema.removesuffix("_api") + "_role"
    with psycopg.connect(control.engines["v2_shared"].conninfo, autocommit=True) as conn:
        conn.execute(f'GRANT flux_migrator TO "{role}"')
    try:
        check = _check(api.post(f"/projects/{h}/doctor").json(), "roles")
    finally:
        with psycopg.connect(control.engines["v2_shared"].conninfo, autocommit=True) as conn:
            conn.execute(f'REVOKE flux_migrator FROM "{role}"')
    assert check["status"] == "FAIL"
    assert f"{role} is a member of flux_migrator" in check["message"]
    assert f"FROM {role}" in check["remediation"]

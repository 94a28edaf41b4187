"""POST push and GET migrations through the control-plane API on a real v2 tenant."""

import psycopg

INIT = """
create table notes (id bigserial primary key, owner_id text not null default auth.uid(),
                    body text not null);
alter table notes enable row level security;
grant insert, update, delete on notes to authenticated;
grant usage on all sequences in schema public to authenticated;
create policy own_notes on notes to authenticated using (owner_id = auth.uid())
  with check (owner_id = auth.uid());
"""


def _files(*pairs):
    return [{"filename": name, "sql": sql} for name, sql in pairs]


def test_push_applies_skips_and_refuses_conflicts(api, embedded):
    project = api.post("/create", json={"name": "pushy"}).json()["project"]
    h, schema = project["hash"], project["apiSchema"]
    files = _files(("0001_init.sql", INIT), ("0002_idx.sql", "create index on notes (owner_id);"))
    first = api.post(
        "/push", json={"slug": "pushy", "hash": h, "mode": "versioned", "files": files}
    ).json()
    assert first["ok"] is True, first
    texts = [line["text"] if isinstance(line, dict) else line for line in first["lines"]]
    assert texts == [
        "→ 0001_init.sql applying...",
        "✓ 0001_init.sql applied",
        "→ 0002_idx.sql applying...",
        "✓ 0002_idx.sql applied",
        "Done. 2 applied, 0 skipped.",
    ]
    again = api.post("/push", json={"hash": h, "mode": "versioned", "files": files}).json()
    assert again["ok"] and again["applied"] == 0 and again["skipped"] == 2

    edited = _files(("0001_init.sql", INIT + "\n-- edited"), ("0003_more.sql", "select 1;"))
    refused = api.post("/push", json={"hash": h, "mode": "versioned", "files": edited}).json()
    assert refused["ok"] is False
    assert refused["errors"][0]["code"] == "checksum_conflict"
    ledger = api.get(f"/projects/{h}/migrations").json()["migrations"]
    assert [row["version"] for row in ledger] == ["0001_init.sql", "0002_idx.sql"]

    state, _ = embedded
    with psycopg.connect(state.shared_conninfo()) as conn:
        # the Supabase-style grant was adapted to the tenant role; RLS is forced
        role = schema.replace("_api", "_role")
        grants = conn.execute(
            "select privilege_type from information_schema.role_table_grants"
            " where table_schema = %s and table_name = 'notes' and grantee = %s order by 1",
            (schema, role),
        ).fetchall()
        assert [g[0] for g in grants] == ["DELETE", "INSERT", "SELECT", "UPDATE"]
        forced = conn.execute(
            "select relforcerowsecurity from pg_class where oid = %s::regclass",
            (f"{schema}.notes",),
        ).fetchone()[0]
        assert forced is True


def test_push_error_reports_sqlstate_and_line_and_rolls_back(api):
    h = api.post("/create", json={"name": "broken"}).json()["project"]["hash"]
    bad = "create table a (x int);\ncreate table b (y int);\ncreate tabel c (z int);\n"
    report = api.post(
        "/push", json={"hash": h, "mode": "versioned", "files": _files(("0001_bad.sql", bad))}
    ).json()
    assert report["ok"] is False
    error = report["errors"][0]
    assert error["sqlstate"] == "42601" and error["line"] == 3
    assert api.get(f"/projects/{h}/migrations").json()["migrations"] == []
    ok = api.post(
        "/push", json={"hash": h, "mode": "raw", "sql": "select 1", "filename": "probe.sql"}
    ).json()
    assert ok["ok"] is True


def test_push_bad_requests(api):
    h = api.post("/create", json={"name": "strict"}).json()["project"]["hash"]
    assert api.post("/push", json={"hash": h, "mode": "versioned"}).status_code == 422
    assert (
        api.post(
            "/push", json={"hash": h, "mode": "sideways", "sql": "x", "filename": "a.sql"}
        ).status_code
        == 422
    )
    assert (
        api.post(
            "/push", json={"hash": "abcdef0", "mode": "raw", "sql": "select 1", "filename": "a.sql"}
        ).status_code
        == 404
    )
    res = api.post(
        "/push",
        json={"slug": "other", "hash": h, "mode": "raw", "sql": "select 1", "filename": "a.sql"},
    )
    assert res.status_code == 409

"""Backups of a v2 tenant through the control-plane API: create → Restorable, damage, restore,
every row, grant and ledger row back; the gate; bad ids and corrupt artefacts."""

from pathlib import Path

import psycopg
import pytest

INIT = """
create table notes (id bigserial primary key, owner_id text not null default auth.uid(),
                    body text not null);
alter table notes enable row level security;
grant insert, update, delete on notes to authenticated;
grant usage on all sequences in schema public to authenticated;
create policy own_notes on notes to authenticated using (owner_id = auth.uid())
  with check (owner_id = auth.uid());
create table tags (id int primary key, note_id bigint references notes(id), name text);
create view note_bodies as select id, body from notes;
create function note_count() returns bigint language sql stable as $$ select count(*) from notes $$;
insert into notes (owner_id, body) select 'u' || g, 'body ' || g from generate_series(1, 250) g;
insert into tags select g, g, 't' || g from generate_series(1, 40) g;
"""


@pytest.fixture
def backups_api(api, control, tmp_path: Path):
    control.backups_root = tmp_path / "backups"
    return api


def _push(api, h: str, name: str, sql: str, mode: str = "versioned") -> dict:
    answer = api.post(
        "/push", json={"hash": h, "mode": mode, "files": [{"filename": name, "sql": sql}]}
    ).json()
    assert answer["ok"], answer
    return answer


def _counts(conninfo: str, schema: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        return {
            table: conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            for table in ("notes", "tags")
            if conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]
        }


def _grants(conninfo: str, schema: str) -> list:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "select table_name, privilege_type from information_schema.role_table_grants"
            " where table_schema = %s and grantee = %s order by 1, 2",
            (schema, schema.replace("_api", "_role")),
        ).fetchall()


def test_backup_restore_round_trip(backups_api, embedded, tmp_path: Path):
    api = backups_api
    state, _ = embedded
    shared = state.shared_conninfo()
    project = api.post("/create", json={"name": "keeper"}).json()["project"]
    h, schema = project["hash"], project["apiSchema"]
    assert api.get(f"/projects/{h}/backups").json()["label"] == "No backups"
    _push(api, h, "0001_init.sql", INIT)
    grants_before = _grants(shared, schema)

    created = api.post(f"/projects/{h}/backups")
    assert created.status_code == 201, created.text
    backup = created.json()["backup"]
    assert backup["state"] == "verified" and backup["label"] == "Restorable"
    assert backup["tables"] == 2 and backup["rows"] == 290 and len(backup["sha256"]) == 64
    artefact = tmp_path / "backups"
    files = list(artefact.rglob("*.dump"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    listed = api.get(f"/projects/{h}/backups").json()
    assert listed["label"] == "Restorable" and listed["backups"][0]["id"] == backup["id"]

    # damage: a table dropped, rows deleted, a migration the backup does not know
    _push(api, h, "0002_damage.sql", "drop table tags; truncate notes cascade;")
    assert _counts(shared, schema) == {"notes": 0}
    refused = api.post(f"/projects/{h}/backups/{backup['id']}/restore")
    assert refused.status_code == 409 and "older than its last push" in refused.json()["error"]

    restored = api.post(f"/projects/{h}/backups/{backup['id']}/restore?skipBackupCheck=true")
    assert restored.status_code == 200, restored.text
    assert _counts(shared, schema) == {"notes": 250, "tags": 40}
    assert _grants(shared, schema) == grants_before
    ledger = api.get(f"/projects/{h}/migrations").json()["migrations"]
    assert [row["version"] for row in ledger] == ["0001_init.sql"]
    with psycopg.connect(shared) as conn:
        forced, rls = conn.execute(
            "select relforcerowsecurity, relrowsecurity from pg_class where oid = %s::regclass",
            (f"{schema}.notes",),
        ).fetchone()
        assert forced and rls
        conn.execute(f"set search_path to {schema}")
        assert conn.execute("select note_count()").fetchone()[0] == 250
        # the sequence continues after the restored rows
        owner = conn.execute(
            f"select nextval(pg_get_serial_sequence('{schema}.notes', 'id'))"
        ).fetchone()[0]
        assert owner > 250
    # the same migration pushes again as already applied
    again = api.post(
        "/push",
        json={
            "hash": h,
            "mode": "versioned",
            "files": [{"filename": "0001_init.sql", "sql": INIT}],
        },
    ).json()
    assert again["ok"] and again["skipped"] == 1

    audit_actions = _audit(embedded, h)
    assert {"backup.create", "backup.verify", "backup.restore", "backup.gate.skipped"} <= set(
        audit_actions
    )

    # the gate: a fresh verified backup lets the project be deleted
    assert api.delete(f"/projects/{h}").status_code == 409
    api.post(f"/projects/{h}/backups")
    assert api.delete(f"/projects/{h}").status_code == 200


def _audit(embedded, h: str) -> list[str]:
    _, catalog = embedded
    with catalog.connection() as conn:
        rows = conn.execute(
            "select action from audit_log where target like %s", (f"%/{h}",)
        ).fetchall()
    return [r["action"] for r in rows]


def test_bad_ids_and_corrupt_artefacts(backups_api, tmp_path: Path):
    api = backups_api
    h = api.post("/create", json={"name": "fragile"}).json()["project"]["hash"]
    _push(api, h, "0001.sql", "create table t (id int primary key); insert into t values (1);")
    assert api.get(f"/projects/{h}/backups/not-a-uuid").status_code == 422
    missing = api.get(f"/projects/{h}/backups/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert api.get("/projects/0000000/backups").status_code == 404
    backup = api.post(f"/projects/{h}/backups").json()["backup"]
    path = next((tmp_path / "backups").rglob(f"{backup['id']}.dump"))
    with open(path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"garbage!")
    verified = api.post(f"/projects/{h}/backups/{backup['id']}/verify").json()["backup"]
    assert verified["state"] == "verify_failed" and "checksum" in verified["error"]
    assert verified["label"] == "Restore verification failed"
    refused = api.post(f"/projects/{h}/backups/{backup['id']}/restore?skipBackupCheck=true")
    assert refused.status_code == 409 and "not restorable" in refused.json()["error"]
    download = api.get(f"/projects/{h}/backups/{backup['id']}/download")
    assert download.status_code == 409 and "checksum" in download.json()["error"]


def test_schedule_and_retention(backups_api, control, embedded, monkeypatch):
    from flux.control.backups import run_schedule

    api = backups_api
    _, catalog = embedded
    h = api.post("/create", json={"name": "scheduled"}).json()["project"]["hash"]
    _push(api, h, "0001.sql", "create table t (id int primary key); insert into t values (1);")
    assert h not in run_schedule(control)  # a new project is not due before one interval
    with catalog.transaction() as conn:
        conn.execute(
            "update projects set created_at = now() - interval '2 days' where hash = %s", (h,)
        )
    assert h in run_schedule(control)
    listed = api.get(f"/projects/{h}/backups").json()
    assert [(b["trigger"], b["label"]) for b in listed["backups"]] == [("schedule", "Restorable")]
    assert h not in run_schedule(control)  # its newest backup is fresh

    monkeypatch.setenv("FLUX_BACKUP_KEEP", "2")
    ids = [api.post(f"/projects/{h}/backups").json()["backup"]["id"] for _ in range(2)]
    kept = [b["id"] for b in api.get(f"/projects/{h}/backups").json()["backups"]]
    assert kept == list(reversed(ids))

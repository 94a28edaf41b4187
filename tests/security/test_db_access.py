"""Attack tests for `flux db` and restores (issue 13) against a real `flux up`.

Temporary v2 logins: a read-only one reads its tenant's schema and nothing else (no writes,
no other tenant, no ledger, no catalog database, no definitions, no role switch); a
read-write one changes data but never the schema; expired or revoked logins cannot connect
and their open sessions are ended. Restores: an uploaded archive whose SQL attacks during the
real restore (role switch, another tenant's table, server programs, sharing its schema) runs
with the tenant's rights only, fails, and leaves both tenants as they were.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from flux.backups.tools import tool, tool_env
from flux.embedded import load_state

FLUX_UP_ENV = {"FLUX_DB_ACCESS_ALLOW_READWRITE": "1", "FLUX_HOUSEKEEPING_SECONDS": "1"}

SETUP = """
create table notes (id int primary key, body text not null);
insert into notes select g, 'note ' || g from generate_series(1, 20) g;
"""


@pytest.fixture(scope="module")
def tenants(platform):
    attacker = platform.create("attacker")
    victim = platform.create("victim")
    platform.push(attacker, SETUP)
    platform.push(
        victim, SETUP + "create table secrets (v text); insert into secrets values ('s3cr3t');"
    )
    return attacker, victim


def _login(platform, tenant, *extra: str) -> dict:
    return json.loads(
        platform.ok("db", "url", "-p", tenant.slug, "--hash", tenant.hash, "--json", *extra)
    )


def _connect(login: dict, dbname: str | None = None) -> psycopg.Connection:
    return psycopg.connect(
        host=login["host"],
        port=login["port"],
        dbname=dbname or login["database"],
        user=login["user"],
        password=login["password"],
        autocommit=True,
        connect_timeout=5,
    )


def _refused(conn: psycopg.Connection, statement: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    return caught.value.sqlstate or ""


def test_read_only_login_reads_its_schema_and_nothing_else(platform, tenants):
    attacker, victim = tenants
    login = _login(platform, attacker)
    assert login["access"] == "read-only" and login["user"].startswith("t_")
    with _connect(login) as conn:
        assert conn.execute("select count(*) from notes").fetchone()[0] == 20
        for statement in (
            "insert into notes values (99, 'x')",
            "update notes set body = 'x'",
            "delete from notes",
            "truncate notes",
            "create table mine (id int)",
            f"select * from {victim.schema}.secrets",
            f"select * from {victim.schema}.notes",
            "select * from flux.flux_migrations",
            "select prosrc from pg_proc",
            f"set role {victim.schema.replace('_api', '_role')}",
            f"set role {attacker.schema.replace('_api', '_ddl')}",
            "set role postgres",
            "create temp table t (id int)",
            "copy notes to program 'true'",
        ):
            assert _refused(conn, statement), statement
        # switching the read-only default off still gives no write privilege
        conn.execute("set default_transaction_read_only = off")
        assert _refused(conn, "insert into notes values (99, 'x')") == "42501"
    with pytest.raises(psycopg.OperationalError):
        _connect(login, "flux_system").close()


def test_read_write_login_changes_data_not_schema(platform, tenants):
    attacker, victim = tenants
    login = _login(platform, attacker, "--read-write", "--ttl", "10m")
    assert login["access"] == "read-write"
    with _connect(login) as conn:
        conn.execute("insert into notes values (100, 'added')")
        conn.execute("update notes set body = 'changed' where id = 100")
        conn.execute("delete from notes where id = 100")
        for statement in (
            "create table mine (id int)",
            "alter table notes add column x int",
            "drop table notes",
            "truncate notes",
            "create function f() returns int language sql as 'select 1'",
            "create index on notes (body)",
            f"insert into {victim.schema}.notes values (500, 'x')",
        ):
            assert _refused(conn, statement), statement
        victim_role = victim.schema.replace("_api", "_role")
        conn.execute(f"grant select on notes to {victim_role}")  # a warning: it owns nothing
        shared = conn.execute(
            "select count(*) from pg_class c, aclexplode(c.relacl) a"
            " where c.oid = 'notes'::regclass and a.grantee = %s::regrole",
            (victim_role,),
        ).fetchone()[0]
        assert shared == 0


def test_expired_and_revoked_logins_are_gone(platform, tenants):
    attacker, _ = tenants
    short = _login(platform, attacker, "--ttl", "3s")
    session = _connect(short)
    assert session.execute("select 1").fetchone() == (1,)
    time.sleep(4)
    with pytest.raises(psycopg.OperationalError):
        _connect(short).close()  # VALID UNTIL
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the sweeper drops the role, ending its session
        try:
            session.execute("select 1")
        except psycopg.Error:
            break
        time.sleep(0.5)
    else:
        pytest.fail("an expired login's session survived the sweeper")
    listed = json.loads(
        platform.ok("db", "access", "list", "-p", attacker.slug, "--hash", attacker.hash, "--json")
    )
    assert {r["role"]: r["status"] for r in listed["roles"]}[short["user"]] == "expired"

    kept = _login(platform, attacker)
    session = _connect(kept)
    platform.ok(
        "db", "access", "revoke", kept["user"], "-p", attacker.slug, "--hash", attacker.hash
    )
    with pytest.raises(psycopg.Error):
        session.execute("select 1")
    with pytest.raises(psycopg.OperationalError):
        _connect(kept).close()


ATTACKS = {
    "role switch": "execute 'set role postgres'",
    "other tenant": "insert into {victim}.notes values (777, 'pwned')",
    "server program": "execute 'copy (select 1) to program ''touch {marker}'''",
    "schema shared": "execute 'grant usage on schema {attacker} to public'",
}


def _evil_archive(platform, tenants, attack: str, folder: Path) -> Path:
    """An archive of the attacker's schema whose CHECK constraint attacks, but only in the
    shared database (so the disposable test restore passes and the real restore runs it)."""
    attacker, victim = tenants
    state = load_state(platform.up.flux_home)
    scratch = "scratch_" + attack.replace(" ", "_")
    marker = folder / f"pwned-{scratch}"
    body = ATTACKS[attack].format(victim=victim.schema, attacker=attacker.schema, marker=marker)
    with psycopg.connect(state.cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {scratch}")
        conn.execute(f"create database {scratch}")
    conninfo = state.cluster.socket_conninfo(dbname=scratch)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"""
            create schema {attacker.schema};
            create function {attacker.schema}.evil(i int) returns boolean language plpgsql as $$
            begin
              if current_database() = 'flux_shared' then {body}; end if;
              return true;
            end $$;
            create table {attacker.schema}.notes (id int primary key check ({attacker.schema}.evil(id)),
                                                  body text);
            insert into {attacker.schema}.notes values (1, 'replaced');
            """
        )
    archive = folder / f"{scratch}.dump"
    subprocess.run(
        [
            tool("pg_dump"),
            "-Fc",
            "-n",
            attacker.schema,
            "--no-owner",
            "--no-acl",
            "-f",
            str(archive),
            "-d",
            conninfo,
        ],
        check=True,
        env=tool_env(),
    )
    with psycopg.connect(state.cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(f"drop database {scratch}")
    return archive, marker


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_malicious_archive_restores_with_tenant_rights_only(platform, tenants, tmp_path, attack):
    attacker, victim = tenants
    archive, marker = _evil_archive(platform, tenants, attack, tmp_path)
    before = platform.get(attacker, "notes?select=id&order=id").json()
    result = platform.up.cli(
        "db",
        "restore",
        str(archive),
        "-p",
        attacker.slug,
        "--hash",
        attacker.hash,
        "--yes",
        "--skip-backup-check",
    )
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in text, text
    assert "rolled back" in text, text
    assert not marker.exists()
    assert platform.get(attacker, "notes?select=id&order=id").json() == before
    assert [r["id"] for r in platform.get(victim, "notes?select=id&id=eq.777").json()] == []
    state = load_state(platform.up.flux_home)
    with psycopg.connect(state.shared_conninfo()) as conn:
        grantees = conn.execute(
            "select a.grantee from pg_namespace n, aclexplode(n.nspacl) a where n.nspname = %s",
            (attacker.schema,),
        ).fetchall()
        assert (0,) not in grantees  # PUBLIC never got the schema
        leftovers = conn.execute(
            "select rolname from pg_roles where rolname like %s",
            (attacker.schema.replace("_api", "_rst_%"),),
        ).fetchall()
        assert leftovers == []  # the restore login is gone


def test_backup_files_are_private(platform, tenants):
    attacker, _ = tenants
    platform.ok("backup", "create", "-p", attacker.slug, "--hash", attacker.hash)
    root = platform.up.flux_home / "backups"
    assert root.stat().st_mode & 0o077 == 0
    dumps = list(root.rglob("*.dump"))
    assert dumps and all(p.stat().st_mode & 0o777 == 0o600 for p in dumps)
    assert all(p.parent.stat().st_mode & 0o077 == 0 for p in dumps)

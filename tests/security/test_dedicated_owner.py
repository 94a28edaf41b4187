"""Finding 1 (a dedicated project's owner owns the whole platform) played against a real
`flux up`: the credentials Flux hands out log in as `owner`, which can do what a Supabase
project's `postgres` role can, but cannot run programs, touch server files, use untrusted
languages or superuser settings, grant itself the roles that could, or log in anywhere else —
not the catalog, not the shared cluster, not another dedicated cluster. Every pg_hba.conf
Flux wrote demands SCRAM; data and socket folders are private to each cluster's OS account;
logs and password files are 0600."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import errors

from flux.embedded import CATALOG_DB, SHARED_DB, load_state
from flux.engines.v2_shared import POOL_LOGIN_ROLE
from flux.postgres import socket_dir_for, template_dir

pytestmark = pytest.mark.slow

# Each of these, run by the owner, must be refused for lack of privilege (SQLSTATE 42501).
FORBIDDEN = {
    "copy_to_program": "COPY (SELECT 1) TO PROGRAM 'id'",
    "copy_from_program": "COPY t FROM PROGRAM 'cat /etc/passwd'",
    "copy_from_server_file": "COPY t FROM '/etc/passwd'",
    "copy_to_server_file": "COPY (SELECT 1) TO '/tmp/flux-owner-was-here'",
    "pg_read_file": "SELECT pg_read_file('/etc/passwd')",
    "pg_read_binary_file": "SELECT pg_read_binary_file('postgresql.conf')",
    "pg_ls_dir": "SELECT pg_ls_dir('.')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "language_c": (
        "CREATE FUNCTION sh(cstring) RETURNS int LANGUAGE c"
        " AS '/lib/x86_64-linux-gnu/libc.so.6', 'system'"
    ),
    "language_internal": "CREATE FUNCTION f() RETURNS int LANGUAGE internal AS 'int4in'",
    "create_language": "CREATE LANGUAGE plsh HANDLER plpgsql_call_handler",
    "untrusted_extension": "CREATE EXTENSION file_fdw",
    "dblink": "CREATE EXTENSION dblink",
    "postgres_fdw": "CREATE EXTENSION postgres_fdw",
    "alter_system": "ALTER SYSTEM SET work_mem = '1MB'",
    "superuser_setting": "SET log_statement = 'none'",
    "preload_libraries": "SET session_preload_libraries = 'auto_explain'",
    "event_trigger": (
        "CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION flux.notify_schema_reload()"
    ),
    "grant_server_program": "GRANT pg_execute_server_program TO owner",
    "grant_read_files": "GRANT pg_read_server_files TO owner",
    "grant_write_files": "GRANT pg_write_server_files TO owner",
    "role_in_server_program": "CREATE ROLE sneaky LOGIN IN ROLE pg_execute_server_program",
    "create_superuser": "CREATE ROLE sneaky SUPERUSER",
    "become_superuser": "ALTER ROLE owner SUPERUSER",
    "superuser_password": "ALTER ROLE postgres PASSWORD 'mine-now'",
    "set_role_superuser": "SET ROLE postgres",
    "session_authorization": "SET SESSION AUTHORIZATION postgres",
    "not_allowlisted": "SELECT flux.create_extension('dblink')",
    "write_extensions_schema": "CREATE TABLE extensions.planted (id int)",
    "replace_flux_function": "DROP FUNCTION flux.create_extension(text)",
}


def _owner(tenant) -> dict:
    return tenant.extra["postgres"]


def _connect(tenant) -> psycopg.Connection:
    return psycopg.connect(_owner(tenant)["url"], autocommit=True, connect_timeout=10)


@pytest.fixture(scope="module")
def tenant(platform):
    return platform.create("dedicated-owner", mode="v1_dedicated")


@pytest.fixture(scope="module")
def neighbour(platform):
    return platform.create("dedicated-neighbour", mode="v1_dedicated")


def _project_dir(platform, tenant) -> Path:
    return platform.up.flux_home / "projects" / f"{tenant.hash}-{tenant.slug}"


def test_credentials_name_a_non_superuser_owner(tenant):
    creds = _owner(tenant)
    assert creds["user"] == "owner"
    with _connect(tenant) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, True, True, True, False)
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == ("owner",)
        superusers = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper")}
        assert "owner" not in superusers


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_owner_cannot_reach_the_server(tenant, name):
    with _connect(tenant) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (line text)")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(FORBIDDEN[name])
    assert not Path("/tmp/flux-owner-was-here").exists()


def test_untrusted_languages_are_refused(tenant):
    with _connect(tenant) as conn:
        untrusted = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM pg_available_extensions WHERE name ~ '^pl.*u$'"
            )
        ]
        for name in ["plpython3u", *untrusted]:
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(f'CREATE EXTENSION "{name}"')
            # refused for privilege, or simply not installed on this machine
            assert refused.value.sqlstate in ("42501", "0A000", "58P01"), refused.value
        assert conn.execute(
            "SELECT count(*) FROM pg_language WHERE NOT lanpltrusted AND lanname NOT IN"
            " ('internal', 'c')"
        ).fetchone() == (0,)


def test_owner_can_do_what_a_supabase_postgres_role_can(tenant):
    with _connect(tenant) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.notes (id int PRIMARY KEY, author text, body text)")
        conn.execute("ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY")
        conn.execute(
            "CREATE POLICY own_notes ON app.notes FOR SELECT TO authenticated"
            " USING (author = auth.uid())"
        )
        conn.execute(
            "CREATE FUNCTION app.twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2 * x'"
        )
        assert conn.execute("SELECT app.twice(21)").fetchone() == (42,)
        conn.execute("CREATE ROLE reporting LOGIN PASSWORD 'reporting-pw'")
        conn.execute("GRANT USAGE ON SCHEMA app TO reporting")
        conn.execute("GRANT SELECT ON app.notes TO reporting")
        conn.execute("GRANT authenticated TO reporting")
        conn.execute("GRANT reporting TO owner")
        with conn.transaction():
            conn.execute("SET LOCAL ROLE reporting")
            assert conn.execute("SELECT count(*) FROM app.notes").fetchone() == (0,)
        conn.execute("CREATE EXTENSION pgcrypto")  # trusted: created directly
        conn.execute("CREATE EXTENSION hstore SCHEMA app")
        assert conn.execute("SELECT length(gen_random_uuid()::text)").fetchone() == (36,)
        conn.execute("GRANT USAGE ON SCHEMA app TO authenticated")
        conn.execute("GRANT SELECT ON app.notes TO authenticated")
        conn.execute("INSERT INTO app.notes VALUES (1, 'someone', 'hidden by RLS?')")
        assert conn.execute("SELECT count(*) FROM app.notes").fetchone() == (1,)  # BYPASSRLS
        with conn.transaction():
            conn.execute("SET LOCAL ROLE authenticated")
            assert conn.execute("SELECT count(*) FROM app.notes").fetchone() == (0,)
        conn.execute("ALTER DATABASE postgres SET statement_timeout = '30s'")
        conn.execute("CREATE DATABASE scratch")
        conn.execute("DROP DATABASE scratch")
        conn.execute("DROP OWNED BY reporting")
        conn.execute("DROP ROLE reporting")


def test_allowlisted_untrusted_extensions_through_flux(tenant):
    with _connect(tenant) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE EXTENSION pg_stat_statements")
        assert conn.execute("SELECT flux.create_extension('pg_stat_statements')").fetchone() == (
            "pg_stat_statements",
        )
        assert conn.execute("SELECT flux.create_extension('earthdistance')").fetchone()  # + cube
        installed = dict(
            conn.execute(
                "SELECT e.extname, n.nspname FROM pg_extension e"
                " JOIN pg_namespace n ON n.oid = e.extnamespace"
            ).fetchall()
        )
        assert installed["pg_stat_statements"] == "extensions"
        assert installed["earthdistance"] == installed["cube"] == "extensions"
        assert conn.execute(
            "SELECT round(extensions.earth_distance(extensions.ll_to_earth(0, 0),"
            " extensions.ll_to_earth(0, 1)) / 1000)"
        ).fetchone() == (111,)
        with pytest.raises(errors.InsufficientPrivilege) as refused:
            conn.execute("SELECT flux.create_extension('adminpack')")
        assert "allowlist" in str(refused.value)


def test_pushes_run_as_the_owner_and_stay_audited(platform, tenant):
    platform.push(
        tenant,
        "create table api.todos (id int primary key, done bool);"
        " alter table api.todos enable row level security;"
        " create policy read_all on api.todos for select to anon using (true);",
    )
    refused = platform.push(tenant, "create table api.wide_open (id int);", check=False)
    assert refused.returncode != 0 and "42501" in refused.stdout + refused.stderr
    escape = platform.push(tenant, "copy (select 1) to program 'id';", check=False)
    assert escape.returncode != 0 and "42501" in escape.stdout + escape.stderr
    with _connect(tenant) as conn:
        owners = dict(
            conn.execute(
                "SELECT relname, pg_get_userbyid(relowner) FROM pg_class"
                " WHERE relnamespace = 'api'::regnamespace AND relkind = 'r'"
            ).fetchall()
        )
        assert owners == {"todos": "owner"}


def test_owner_credentials_open_no_other_cluster(platform, tenant, neighbour):
    state = load_state(platform.up.flux_home)
    system_port = state.cluster.port
    mine = urlsplit(_owner(tenant)["url"])
    other = _owner(neighbour)
    attempts = [
        # the catalog and the shared database, with the owner's password or none at all
        f"host=127.0.0.1 port={system_port} dbname={CATALOG_DB} user={user} password={pw}"
        for user in ("owner", "postgres", POOL_LOGIN_ROLE)
        for pw in (mine.password, "''")
    ]
    attempts += [
        f"host=127.0.0.1 port={system_port} dbname={SHARED_DB} user=owner password={mine.password}",
        # the platform cluster's socket, without a password (no trust, no peer)
        f"host={state.cluster.socket_dir} port={system_port} dbname={CATALOG_DB} user=postgres"
        " passfile=/nonexistent",
        # the neighbour's cluster, with this owner's password
        f"host=127.0.0.1 port={other['port']} dbname=postgres user=owner password={mine.password}",
        f"host=127.0.0.1 port={other['port']} dbname=postgres user=postgres"
        f" password={mine.password}",
    ]
    for conninfo in attempts:
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(conninfo, connect_timeout=10)
        assert "password" in str(refused.value) or "authentication" in str(refused.value)


def _auth_methods(hba: Path) -> set[str]:
    lines = [line.split("#", 1)[0].split() for line in hba.read_text().splitlines()]
    return {words[-1] for words in lines if words}


def test_every_pg_hba_flux_wrote_demands_scram(platform, tenant, neighbour):
    home = platform.up.flux_home
    written = [*home.rglob("pg_hba.conf"), template_dir(home / "templates") / "pg_hba.conf"]
    assert len(written) >= 4  # the platform cluster, two dedicated ones, the template
    for hba in written:
        assert _auth_methods(hba) == {"scram-sha-256"}, hba


def _private(path: Path, mode: int = 0o600) -> os.stat_result:
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
    return st


def test_files_and_accounts_are_private(platform, tenant, neighbour):
    home = platform.up.flux_home
    state = load_state(home)
    system = _private(state.cluster.data_dir, 0o700)
    _private(state.cluster.socket_dir, 0o700)
    for secret in (state.cluster.log_file, state.cluster.passfile, home / "state.json"):
        _private(secret)
    owners = {}
    for t in (tenant, neighbour):
        root = _project_dir(platform, t)
        data = _private(root / "db", 0o700)
        sock = _private(socket_dir_for(root / "db", home / "run"), 0o700)
        assert sock.st_uid == data.st_uid
        for secret in ("db.log", "db.pgpass", "secrets.json", "api.log"):
            st = _private(root / secret)
            assert st.st_uid == os.geteuid()  # Flux's files: the server's account cannot read
        pid = int((root / "db" / "postmaster.pid").read_text().split()[0])
        assert os.stat(f"/proc/{pid}").st_uid == data.st_uid
        owners[t.slug] = data.st_uid
    if os.geteuid() == 0:
        uids = {system.st_uid, *owners.values()}
        assert len(uids) == 3 and 0 not in uids, "each cluster runs as an account of its own"


def test_the_owner_password_is_not_the_superusers(platform, tenant):
    root = _project_dir(platform, tenant)
    superuser = (root / "db.pgpass").read_text().strip().rsplit(":", 1)[1]
    assert superuser != _owner(tenant)["password"]
    secrets_ = json.loads((root / "secrets.json").read_text())
    assert superuser not in secrets_.values()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            _owner(tenant)["url"].replace("://owner:", "://postgres:", 1), connect_timeout=10
        )

"""Tenant A's pushed SQL can never touch tenant B, the ledger, `public`, or gain privileges.

Each attack is either refused before running (static checks) or fails on privileges inside
the security-definer frame; afterwards tenant B, `public` and the ledger are unchanged.
"""

from __future__ import annotations

import psycopg
import pytest
from mig_support import Tenant, files, scalar

from flux.migrations import ledger, push

B_SETUP = (
    "create table secrets (id int primary key, body text);\ninsert into secrets values (1, 'b');\n"
)


def snapshot(conninfo: str, tenant_b: Tenant) -> tuple:
    with psycopg.connect(conninfo) as conn:
        objects = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN (%s, 'public', 'flux', 'auth') ORDER BY 1, 2",
            (tenant_b.schema,),
        ).fetchall()
        funcs = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n"
            " ON n.oid = p.pronamespace WHERE n.nspname IN (%s, 'public', 'auth') ORDER BY 1",
            (tenant_b.schema,),
        ).fetchall()
        body = conn.execute(f"SELECT body FROM {tenant_b.schema}.secrets").fetchall()
        members = conn.execute(
            "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members"
            " WHERE roleid::regrole::text LIKE 't\\_%%' OR member::regrole::text LIKE 't\\_%%'"
            " ORDER BY 1, 2"
        ).fetchall()
    return objects, funcs, body, members, ledger(tenant_b.target)


@pytest.fixture
def two(tenant: Tenant, tenant_b: Tenant):
    assert push(tenant_b.target, files(f001=B_SETUP), mode="versioned", applied_by="b").ok
    assert push(
        tenant.target, files(f001="create table mine (id int);"), mode="versioned", applied_by="a"
    ).ok
    return tenant, tenant_b


STATIC = {
    "set_role": "SET ROLE postgres;\ncreate table public.x (id int);",
    "set_local_role": "set local role postgres;",
    "reset_role": "reset role;\ncreate table x (id int);",
    "session_auth": "SET SESSION AUTHORIZATION postgres;",
    "reset_all": "RESET ALL;",
    "set_config_role": "select set_config('role', 'postgres', false);",
    "qualify_b": "insert into {b}.secrets values (2, 'a was here');",
    "qualify_b_quoted": 'delete from "{b}"."secrets";',
    "schema_b": "grant usage on schema {b} to authenticated;",
    "write_flux": "insert into flux.flux_migrations values ('{b}', 'x', 'x', now(), 'a', 0);",
    "read_flux": "create view leak as select * from flux.flux_migrations;",
    "auth_table": "create view leak as select * from auth.users;",
    "extension": "create extension if not exists pgcrypto;",
    "create_role": "create role sneaky login superuser;",
    "alter_system": "alter system set fsync = off;",
    "copy_program": "copy mine from program 'id';",
    "language": "create trusted language plevil handler plpgsql_call_handler;",
    "role_grant": "grant {bddl} to current_user;",
    "drop_b": "drop schema {b} cascade;",
    "transaction": "begin;\ncreate table y (id int);\ncommit;",
    "pg_temp": "alter function pg_temp.flux_exec(text) security invoker;",
    "unterminated": "select 'oops;\n",
}


@pytest.mark.parametrize("attack", sorted(STATIC))
def test_static_refusals(two, attack: str) -> None:
    a, b = two
    before = snapshot(a.conninfo, b)
    sql = STATIC[attack].format(b=b.schema, bddl=b.ddl)
    report = push(a.target, files(f002_attack=sql), mode="versioned", applied_by="a")
    assert not report.ok
    assert report.errors[0].file == "002_attack.sql" and report.errors[0].line is not None
    assert report.lines[-1].startswith("Push refused:")
    assert snapshot(a.conninfo, b) == before
    assert [r.version for r in ledger(a.target)] == ["001.sql"]


DYNAMIC = {
    "dynamic_set_role": "do $$ begin execute 'SET ROLE ' || 'postgres'; end $$;",
    "dynamic_reset_role": "do $$ begin execute 'RESET ' || 'ROLE'; "
    "create table public.pwned (id int); end $$;",
    "dynamic_session_auth": "do $$ begin execute 'SET SESSION ' || 'AUTHORIZATION postgres'; end $$;",
    "dynamic_set_config": "do $$ begin perform set_config('ro' || 'le', 'postgres', true); end $$;",
    "function_set_role": "create function esc() returns void language plpgsql as $$\n"
    "begin execute 'set role postgres'; end $$;\nselect esc();",
    "search_path_public": "set search_path to public;\ncreate table evil (id int);",
    "search_path_b": "set search_path to {b};\ncreate table evil (id int);",
    "body_writes_b": "do $$ begin insert into {b}.secrets values (3, 'x'); end $$;",
    "body_reads_b": "create function peek() returns text language sql as\n"
    "$$ select body from {b}.secrets $$;",
    "body_writes_flux": "do $$ begin delete from flux.flux_migrations; end $$;",
    # `public.` in code is adapted to the tenant schema; in a string literal it is not.
    "body_public": "do $$ begin execute 'create table public.pwned (id int)'; end $$;",
    "dynamic_role_grant": "do $$ begin execute 'grant {bddl} to ' || current_user; end $$;",
    "deferred_trigger": """
create table d (id int);
create function pwn() returns trigger language plpgsql as $$
begin execute 'create table public.pwned (id int)'; return null; end $$;
create constraint trigger t after insert on d deferrable initially deferred
  for each row execute function pwn();
insert into d values (1);
""",
    "tamper_wrapper": "do $$ begin execute 'alter function pg_temp.flux_exec(text)'\n"
    "  ' security invoker'; end $$;\n"
    "do $$ begin execute 'set role postgres'; create table public.pwned (id int); end $$;",
    "replace_wrapper_body": "do $$ begin execute 'create or replace function pg_temp.flux_exec("
    "stmt text) returns void language plpgsql security definer as ''begin end'''; end $$;\n"
    "create table after_swap (id int);",
    "share_with_b": "grant usage on schema public to {brole};\ngrant select on mine to {brole};",
    "share_with_public": "grant usage on schema public to public;",
    "dynamic_share": "do $$ begin execute 'grant usage on schema ' || current_schema"
    " || ' to {brole}'; end $$;",
    "alter_b_table": "do $$ begin execute 'alter table {b}.secrets owner to ' || current_user; end $$;",
}


@pytest.mark.parametrize("attack", sorted(DYNAMIC))
def test_runtime_refusals(two, attack: str) -> None:
    a, b = two
    before = snapshot(a.conninfo, b)
    sql = DYNAMIC[attack].format(b=b.schema, bddl=b.ddl, brole=b.role)
    report = push(a.target, files(f002_attack=sql), mode="versioned", applied_by="a")
    assert not report.ok, report.lines
    assert report.errors[0].file == "002_attack.sql"
    assert report.errors[0].sqlstate in ("42501", "3F000"), report.errors[0]
    if "share" in attack:
        assert report.errors[0].code == "schema_shared"
    assert snapshot(a.conninfo, b) == before
    assert [r.version for r in ledger(a.target)] == ["001.sql"]
    assert scalar(a.conninfo, "SELECT to_regclass('public.pwned')") is None


def test_wrapper_change_undone_by_a_subtransaction_is_harmless(two) -> None:
    """The wrapper check compares the catalog row version; a rolled-back change restores it."""
    a, _ = two
    sql = (
        "do $$ begin\n"
        "  begin execute 'alter function pg_temp.flux_exec(text) security invoker';"
        " raise exception 'undo'; exception when others then null; end;\n"
        "end $$;\n"
        "create table kept (id int);"
    )
    assert push(a.target, files(f002=sql), mode="versioned", applied_by="a").ok
    assert scalar(a.conninfo, f"SELECT to_regclass('{a.schema}.kept') IS NOT NULL") is True


def test_public_qualified_objects_land_in_tenant_schema(two) -> None:
    a, b = two
    before = snapshot(a.conninfo, b)
    sql = "create table public.notes (id int);\ncreate function public.f() returns int language sql as $$ select 1 $$;"
    assert push(a.target, files(f002=sql), mode="versioned", applied_by="a").ok
    assert scalar(a.conninfo, f"SELECT to_regclass('{a.schema}.notes') IS NOT NULL") is True
    assert scalar(a.conninfo, "SELECT to_regclass('public.notes')") is None
    assert snapshot(a.conninfo, b) == before


def test_tenant_roles_cannot_read_or_write_the_ledger(two) -> None:
    a, _ = two
    for role in (a.role, a.ddl):
        with psycopg.connect(a.conninfo) as conn:
            conn.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM flux.flux_migrations")


def test_runtime_role_owning_objects_is_rejected(two) -> None:
    a, _ = two
    with psycopg.connect(a.conninfo, autocommit=True) as conn:
        # A misconfiguration the check must catch.
        conn.execute(f"GRANT {a.role} TO {a.ddl}")
        conn.execute(f"GRANT CREATE ON SCHEMA {a.schema} TO {a.role}")
    sql = f"create table owned (id int);\nalter table owned owner to {a.role};"
    report = push(a.target, files(f002=sql), mode="versioned", applied_by="a")
    assert report.errors[0].code == "runtime_role_owns_objects"
    assert report.errors[0].sqlstate == "42501"
    assert scalar(a.conninfo, f"SELECT to_regclass('{a.schema}.owned')") is None

"""Static statement checks (no database): what a shared tenant's SQL may not say."""

from __future__ import annotations

import pytest

from flux.migrations.guard import SharedPolicy, check_file
from flux.migrations.lexer import parse

POLICY = SharedPolicy(
    "t_aaaaaaaaaaaa_api",
    frozenset(
        {
            "t_aaaaaaaaaaaa_api",
            "t_bbbbbbbbbbbb_api",
            "public",
            "flux",
            "auth",
            "pg_catalog",
            "information_schema",
            "pg_toast",
        }
    ),
)


def violation(sql: str, policy: SharedPolicy | None = POLICY):
    found = check_file(parse(sql), policy)
    return None if found is None else (found[1].code, found[1].line, found[1].column)


@pytest.mark.parametrize(
    "sql",
    [
        "create table t (id int primary key, owner text default auth.uid());",
        "create policy p on t using (owner = auth.uid() and (auth.jwt() ->> 'role') = 'x');",
        "select * from pg_catalog.pg_class; select * from information_schema.tables;",
        "create table public.t (id int); grant usage on schema public to authenticated;",
        "select t.id, s.x from t join t_aaaaaaaaaaaa_api.s on s.id = t.id;",
        "create function f() returns void language plpgsql as $$ begin set role x; end $$;",
        "comment on table t is 'SET ROLE postgres; flux.x';",
        "set search_path to t_aaaaaaaaaaaa_api; set local statement_timeout = '1s';",
        "grant select on t to authenticated; revoke insert on t from authenticated;",
        "create table anon (id int); select * from anon; alter table anon rename to anon2;",
        "create policy anon on t to authenticated using (true);"
        " grant select on anon to authenticated;",
        "select set_config('request.jwt.claims', '{}', true);",
        "create or replace function f() returns int language sql begin atomic select 1; end;",
        "do $$ begin perform 1; end $$;",
    ],
)
def test_allowed(sql: str) -> None:
    assert violation(sql) is None


@pytest.mark.parametrize(
    ("sql", "code", "line", "column"),
    [
        ("create extension pgcrypto;", "extension_not_allowed", 1, 1),
        ("select 1;\n  CREATE EXTENSION IF NOT EXISTS x;", "extension_not_allowed", 2, 3),
        ("drop extension x;", "extension_not_allowed", 1, 1),
        ("alter system set x = 1;", "superuser_only", 1, 1),
        ("create role r;", "superuser_only", 1, 1),
        ("alter user r superuser;", "superuser_only", 1, 1),
        ("create database d;", "superuser_only", 1, 1),
        ("create or replace trusted language l handler h;", "superuser_only", 1, 1),
        (
            "create event trigger e on ddl_command_start execute function f();",
            "superuser_only",
            1,
            1,
        ),
        ("load 'x';", "superuser_only", 1, 1),
        ("copy t to program 'x';", "superuser_only", 1, 1),
        ("reassign owned by a to b;", "superuser_only", 1, 1),
        ("set role postgres;", "role_switch", 1, 1),
        ("SET SESSION ROLE postgres;", "role_switch", 1, 1),
        ('set "role" = postgres;', "role_switch", 1, 1),
        ("set session authorization postgres;", "role_switch", 1, 1),
        ("set session_authorization = postgres;", "role_switch", 1, 1),
        ("reset role;", "role_switch", 1, 1),
        ("reset all;", "role_switch", 1, 1),
        ("reset session authorization;", "role_switch", 1, 1),
        ("select pg_catalog.set_config('role', 'postgres', false);", "role_switch", 1, 19),
        ("select set_config('ROLE', 'postgres', false);", "role_switch", 1, 8),
        ("grant postgres to t_aaaaaaaaaaaa_ddl;", "role_membership", 1, 1),
        ("select * from t_bbbbbbbbbbbb_api.secrets;", "other_schema", 1, 15),
        ('select * from "t_bbbbbbbbbbbb_api".secrets;', "other_schema", 1, 15),
        ("insert into flux.flux_migrations values (1);", "other_schema", 1, 13),
        ("select * from auth.users;", "other_schema", 1, 15),
        ("grant usage on schema t_bbbbbbbbbbbb_api to x;", "other_schema", 1, 23),
        (
            "alter default privileges in schema flux grant select on tables to x;",
            "other_schema",
            1,
            36,
        ),
        ("alter function pg_temp.f() security invoker;", "other_schema", 1, 16),
        ("grant select on t to anon, authenticated;", "anon_role", 1, 22),
        ("grant select on t to authenticated, ANON;", "anon_role", 1, 37),
        ('grant usage on schema public to "anon";', "anon_role", 1, 33),
        ("revoke insert on t from anon;", "anon_role", 1, 25),
        ("create policy p on t for select\n  to anon using (true);", "anon_role", 2, 6),
        ("alter policy p on t to /* who */ anon;", "anon_role", 1, 34),
        (
            "alter default privileges grant select on tables to anon;",
            "anon_role",
            1,
            52,
        ),
        ("begin;", "transaction_control", 1, 1),
        ("commit;", "transaction_control", 1, 1),
        ("start transaction;", "transaction_control", 1, 1),
        ("savepoint a;", "transaction_control", 1, 1),
        ("select 'open", "unterminated", 1, 8),
        ("select 1; /* open", "unterminated", 1, 11),
    ],
)
def test_refused(sql: str, code: str, line: int, column: int) -> None:
    assert violation(sql) == (code, line, column)


def test_dedicated_only_refuses_transaction_control_and_unterminated() -> None:
    assert violation("create extension pgcrypto; set role x;", None) is None
    assert violation("commit;", None) == ("transaction_control", 1, 1)


def test_sqlstates() -> None:
    sqls = ("select 'x", "commit;", "set role x;", "grant select on t to anon;")
    found = {sql: check_file(parse(sql), POLICY) for sql in sqls}
    assert [f[1].sqlstate for f in found.values() if f] == ["42601", "0A000", "42501", "42704"]


def test_anon_refusal_explains_v2_has_no_anonymous_role() -> None:
    found = check_file(parse("grant select on todos to anon, authenticated;"), POLICY)
    assert found is not None
    assert found[1].message == "role anon does not exist on a v2 shared project"
    assert found[1].hint == "v2 shared projects have no anonymous role: use TO authenticated"
    assert check_file(parse("grant select on todos to anon;"), None) is None  # v1 has anon

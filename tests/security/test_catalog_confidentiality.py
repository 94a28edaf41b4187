"""Catalog confidentiality against a real `flux up` (SPEC §11, last paragraph): a v2 tenant
cannot read another tenant's function bodies, view definitions or policy expressions, neither
at push time (migration errors included) nor at request time (its own RPC functions reading
the catalogs), while its own definitions stay readable through `flux_meta` and the REST
engine still serves views (its schema cache reads view definitions as the pool's platform
role).
"""

from __future__ import annotations

import pytest

from .conftest import Platform, Tenant

FN_SECRET = "fn-secret-91c2e"
VIEW_SECRET = "view-secret-4b7d0"
POLICY_SECRET = "policy-secret-a83f1"
DEFAULT_SECRET = "default-secret-55e2c"
SECRETS = (FN_SECRET, VIEW_SECRET, POLICY_SECRET, DEFAULT_SECRET)
OWN_MARKER = "attacker-own-body-0d1e"


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture(scope="module")
def tenants(platform: Platform) -> tuple[Tenant, Tenant]:
    attacker = platform.create("cat-attacker")
    victim = platform.create("cat-victim")
    platform.push(
        victim,
        f"""
        create function victim_fn() returns text language sql stable as
          $$ select '{FN_SECRET}'::text $$;
        create table notes (id bigint primary key, body text default '{DEFAULT_SECRET}');
        insert into notes (id) values (1);
        create view open_notes as select id, body, '{VIEW_SECRET}'::text as tag from notes;
        create table guarded (id bigint primary key, owner text);
        alter table guarded enable row level security;
        create policy only_me on guarded for select to authenticated
          using (owner = '{POLICY_SECRET}');
        """,
    )
    platform.push(
        attacker,
        f"""
        create function own_fn() returns text language sql stable as
          $$ select '{OWN_MARKER}'::text $$;

        -- runs any catalog query as the attacker's runtime role; errors come back as text
        create function peek(q text) returns text language plpgsql as $$
        declare found text;
        begin
          execute 'select string_agg(x::text, '','') from (' || q || ') s(x)' into found;
          return coalesce(found, '(none)');
        exception when others then
          return 'ERR ' || sqlstate || ' ' || sqlerrm;
        end $$;

        -- the cast-error trick, uncaught: the error reaches the HTTP response
        create function cast_leak() returns int language sql as
          $$ select prosrc::int from pg_catalog.pg_proc where proname = 'victim_fn' $$;

        create function my_source() returns text language sql stable as
          $$ select flux_meta.function_source('{attacker.schema}.own_fn()'::regprocedure) $$;
        """,
    )
    return attacker, victim


REQUEST_TIME = {
    "prosrc": "select prosrc from pg_catalog.pg_proc",
    "prosrc_cast": "select prosrc::int from pg_catalog.pg_proc where proname = 'victim_fn'",
    "functiondef": "select pg_catalog.pg_get_functiondef(p.oid) from pg_catalog.pg_proc p"
    " where p.proname = 'victim_fn'",
    "pg_views": "select definition from pg_catalog.pg_views",
    "viewdef": "select pg_catalog.pg_get_viewdef(c.oid) from pg_catalog.pg_class c"
    " where c.relname = 'open_notes'",
    "pg_rewrite": "select ev_action::text from pg_catalog.pg_rewrite",
    "pg_policies": "select qual from pg_catalog.pg_policies",
    "pg_policy": "select polqual::text from pg_catalog.pg_policy",
    "get_expr_policy": "select pg_catalog.pg_get_expr(polqual, polrelid) from pg_catalog.pg_policy",
    "get_expr_default": "select pg_catalog.pg_get_expr(adbin, adrelid) from pg_catalog.pg_attrdef",
    "is_views": "select view_definition from information_schema.views",
    "is_routines": "select routine_definition from information_schema.routines",
    "is_columns": "select column_default from information_schema.columns",
    "meta_source": "select flux_meta.function_source(p.oid) from pg_catalog.pg_proc p",
    "meta_view": "select flux_meta.view_definition(c.oid) from pg_catalog.pg_class c",
    "meta_policies": "select flux_meta.policies(c.oid)::text from pg_catalog.pg_class c",
}
REFUSED = {  # direct reads fail loudly with insufficient_privilege, not silently
    "prosrc",
    "prosrc_cast",
    "functiondef",
    "pg_views",
    "viewdef",
    "pg_rewrite",
    "pg_policies",
    "pg_policy",
    "get_expr_policy",
    "get_expr_default",
}


@pytest.mark.parametrize("path", sorted(REQUEST_TIME))
def test_request_time_catalog_reads_show_nothing_of_other_tenants(
    platform: Platform, tenants, path: str
) -> None:
    attacker, _ = tenants
    response = platform.rpc(attacker, "peek", {"q": REQUEST_TIME[path]})
    assert response.status_code == 200, response.text
    assert not _leaks(response.text), response.text
    if path in REFUSED:
        assert response.json().startswith("ERR 42501"), response.text


def test_uncaught_cast_error_does_not_carry_the_source(platform: Platform, tenants) -> None:
    attacker, _ = tenants
    response = platform.rpc(attacker, "cast_leak")
    assert response.status_code >= 400
    assert not _leaks(response.text), response.text
    assert response.json().get("code") == "42501", response.text


PUSH_TIME = {
    "cast": "select prosrc::int from pg_catalog.pg_proc where proname = 'victim_fn';",
    "raise_prosrc": "do $$ begin raise exception '%', (select string_agg(prosrc, ',')"
    " from pg_catalog.pg_proc); end $$;",
    "raise_functiondef": "do $$ begin raise exception '%', (select string_agg("
    "pg_catalog.pg_get_functiondef(oid), ',') from pg_catalog.pg_proc"
    " where proname = 'victim_fn'); end $$;",
    "raise_viewdef": "do $$ begin raise exception '%', (select string_agg(definition, ',')"
    " from pg_catalog.pg_views); end $$;",
    "raise_policy": "do $$ begin raise exception '%', (select string_agg(qual, ',')"
    " from pg_catalog.pg_policies); end $$;",
    "copy_views": "create table stolen as select definition from pg_catalog.pg_views;",
    "copy_rewrite": "create table stolen as select ev_action::text from pg_catalog.pg_rewrite;",
    "copy_policy": "create table stolen as select pg_catalog.pg_get_expr(polqual, polrelid)"
    " from pg_catalog.pg_policy;",
}


@pytest.mark.parametrize("attack", sorted(PUSH_TIME))
def test_push_time_reads_fail_without_printing_other_tenants_code(
    platform: Platform, tenants, attack: str
) -> None:
    attacker, _ = tenants
    result = platform.push(attacker, PUSH_TIME[attack], check=False)
    shown = result.stdout + result.stderr
    assert result.returncode != 0, shown
    assert not _leaks(shown), shown
    assert "42501" in shown or "permission denied" in shown, shown


def test_own_definitions_stay_readable_and_views_keep_serving(platform: Platform, tenants) -> None:
    attacker, victim = tenants
    own = platform.rpc(attacker, "my_source")
    assert own.status_code == 200 and OWN_MARKER in own.json(), own.text
    # the victim's view is served: the schema cache read its definition as the platform role
    rows = platform.get(victim, "open_notes?select=id,tag")
    assert rows.status_code == 200 and rows.json() == [{"id": 1, "tag": VIEW_SECRET}], rows.text
    # and the victim's own function still runs
    fn = platform.rpc(victim, "victim_fn")
    assert fn.status_code == 200 and fn.json() == FN_SECRET

"""v1 (dedicated) pushes: run as the owner, with the transactional RLS exposure audit."""

from __future__ import annotations

import json

import psycopg
import pytest
from mig_support import files, scalar

from flux.migrations import PushTarget, audit_v1, ledger, push

SAFE = """
create table api.notes (id int primary key, owner text default auth_sub(), body text);
alter table api.notes enable row level security;
create policy own on api.notes to authenticated using (owner = auth_sub());
grant select, insert, update, delete on api.notes to authenticated;
"""
HELPER = "create function auth_sub() returns text language sql stable as $$ select 'x' $$;"


def run(target: PushTarget, sql: str, name: str = "f002"):
    return push(target, files(**{name: sql}), mode="versioned", applied_by="owner")


def test_safe_schema_applies(v1_target: PushTarget) -> None:
    report = run(v1_target, HELPER + SAFE)
    assert report.ok, report.errors
    assert report.warnings == []
    assert [r.version for r in ledger(v1_target)] == ["002.sql"]
    # v1 SQL is not adapted: `authenticated` is a real role there.
    assert (
        scalar(v1_target.conninfo, "SELECT polroles::regrole[]::text FROM pg_policy")
        == "{authenticated}"
    )


@pytest.mark.parametrize(
    ("grant", "who"),
    [
        ("grant insert on api.open to anon;", "anon can INSERT"),
        ("grant update (body) on api.open to authenticated;", "authenticated can UPDATE"),
        ("grant delete on api.open to public;", "anon can DELETE"),  # PUBLIC grants reach anon
        ("grant truncate on api.open to public;", "authenticated can TRUNCATE"),
        (
            "create role {w}; grant insert on api.open to {w}; grant {w} to authenticated;",
            "authenticated can INSERT",
        ),
    ],
)
def test_writable_table_without_rls_is_rejected(
    v1_target: PushTarget, grant: str, who: str
) -> None:
    assert run(v1_target, "select 1;", "f001").ok
    writer = "w_" + v1_target.conninfo.rsplit("dbname=", 1)[1].split()[0]
    sql = "create table api.open (id int, body text);\n" + grant.format(w=writer)
    report = run(v1_target, sql)
    err = report.errors[0]
    assert (err.code, err.sqlstate, err.file) == ("rls_audit", "42501", "002.sql")
    assert who in err.message and "ENABLE ROW LEVEL SECURITY" in (err.hint or "")
    assert "✗ 002.sql failed: 42501 " + err.message in report.lines
    assert scalar(v1_target.conninfo, "SELECT to_regclass('api.open')") is None
    assert [r.version for r in ledger(v1_target)] == ["001.sql"]


def test_warnings_for_read_only_exposure_and_missing_policies(v1_target: PushTarget) -> None:
    sql = """
    create table api.catalogue (id int); grant select on api.catalogue to anon;
    create table api.locked (id int); alter table api.locked enable row level security;
    grant select on api.locked to authenticated;
    create table api.internal (id int);
    create schema private; create table private.t (id int); grant all on private.t to anon;
    """
    report = run(v1_target, sql)
    assert report.ok, report.errors
    codes = [(w["code"], w["table"]) for w in report.warnings]
    assert codes == [
        ("rls_disabled_readable", "api.catalogue"),
        ("rls_without_policies", "api.locked"),
    ]
    assert [(f.level, f.code, f.table) for f in audit_v1(v1_target.conninfo)] == [
        ("warn", "rls_disabled_readable", "api.catalogue"),
        ("warn", "rls_without_policies", "api.locked"),
    ]


def test_audit_for_doctor_reports_failures_too(v1_target: PushTarget) -> None:
    with psycopg.connect(v1_target.conninfo, autocommit=True) as conn:
        conn.execute("create table api.bad (id int); grant insert on api.bad to anon")
    (finding,) = audit_v1(v1_target.conninfo)
    assert (finding.level, finding.code, finding.table) == (
        "fail",
        "rls_disabled_writable",
        "api.bad",
    )
    assert finding.to_json()["remediation"].startswith("ALTER TABLE api.bad ENABLE ROW LEVEL")


def test_v1_syntax_error_position(v1_target: PushTarget) -> None:
    report = run(v1_target, "create table api.a (id int);\nselect 1 +;\n")
    err = report.errors[0]
    assert (err.sqlstate, err.line, err.column) == ("42601", 2, 10)
    assert scalar(v1_target.conninfo, "SELECT to_regclass('api.a')") is None


def test_unqualified_ddl_lands_in_the_api_schema(v1_target: PushTarget) -> None:
    report = run(v1_target, "create table things (id int);\ncreate view v as select 1 as n;")
    assert report.ok, report.errors
    assert scalar(v1_target.conninfo, "SELECT to_regclass('api.things') IS NOT NULL") is True
    assert json.loads(json.dumps(report.to_json()))["files"][0]["status"] == "applied"

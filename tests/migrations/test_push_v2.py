"""v2 pushes on a real shared database: apply, skip, conflict, atomic failures, positions."""

from __future__ import annotations

import psycopg
import pytest
from mig_support import Tenant, files, scalar

from flux.errors import BadInput
from flux.migrations import MigrationFile, PushTarget, ledger, push
from flux.migrations.files import MAX_FILE_BYTES

INIT = """
create table todos (id bigint generated always as identity primary key, title text not null);
insert into todos (title) values ('first');
"""
INDEXES = "create index todos_title on todos (title);\n"


def run(tenant: Tenant, fs: list[MigrationFile], **kw):
    kw.setdefault("mode", "versioned")
    return push(tenant.target, fs, applied_by="tester", **kw)


def test_apply_then_skip_then_conflict(tenant: Tenant) -> None:
    report = run(tenant, files(f001_init=INIT, f002_indexes=INDEXES))
    assert report.ok, report.errors
    assert report.lines == [
        "→ 001_init.sql applying...",
        "✓ 001_init.sql applied",
        "→ 002_indexes.sql applying...",
        "✓ 002_indexes.sql applied",
        "Done. 2 applied, 0 skipped.",
    ]
    assert scalar(tenant.conninfo, f"SELECT title FROM {tenant.schema}.todos") == "first"
    owner = scalar(tenant.conninfo, "SELECT tableowner FROM pg_tables WHERE tablename = 'todos'")
    assert owner == tenant.ddl

    again = run(tenant, files(f001_init=INIT, f002_indexes=INDEXES, f003_more="select 1;"))
    assert again.lines == [
        "✓ 001_init.sql already applied",
        "✓ 002_indexes.sql already applied",
        "→ 003_more.sql applying...",
        "✓ 003_more.sql applied",
        "Done. 1 applied, 2 skipped.",
    ]

    rows = ledger(tenant.target)
    assert [r.version for r in rows] == ["001_init.sql", "002_indexes.sql", "003_more.sql"]
    assert rows[0].applied_by == "tester" and len(rows[0].checksum) == 64

    edited = run(tenant, files(f001_init=INIT + "-- edited\n", f004_new="create table x (a int);"))
    assert not edited.ok and edited.exit_code == 1
    err = edited.errors[0]
    assert err.code == "checksum_conflict" and err.file == "001_init.sql"
    assert rows[0].checksum in err.message
    assert MigrationFile.from_text("a", INIT + "-- edited\n").checksum in err.message
    assert edited.lines[-1] == "Push refused: 1 checksum conflict; nothing was applied."
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.x')") is None


def test_failing_third_statement_leaves_no_trace(tenant: Tenant) -> None:
    sql = "create table a (id int);\ninsert into a values (1);\n\ncreate tabel b (id int);\n"
    report = run(
        tenant,
        files(
            f001_ok="create table ok (id int);",
            f002_bad=sql,
            f003_after="create table after (id int);",
        ),
    )
    assert not report.ok
    err = report.errors[0]
    assert err.sqlstate == "42601" and err.file == "002_bad.sql"
    assert (err.line, err.column) == (4, 8)  # at "tabel"
    assert report.lines[-2].startswith("✗ 002_bad.sql failed at line 4, column 8: 42601 ")
    assert report.lines[-1] == "Failed. 1 applied, 0 skipped."
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.ok')") is not None
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.a')") is None
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.after')") is None
    assert [r.version for r in ledger(tenant.target)] == ["001_ok.sql"]


def test_runtime_error_position_in_multiline_statement(tenant: Tenant) -> None:
    sql = "-- header\ncreate table t (id int);\nselect id,\n  missing_col from t;\n"
    report = run(tenant, files(f001=sql))
    err = report.errors[0]
    assert err.sqlstate == "42703" and (err.line, err.column) == (4, 3)
    assert err.statement == "select id , missing_col from t"


def test_error_inside_function_body_points_into_the_body(tenant: Tenant) -> None:
    sql = "create function f() returns int language plpgsql as $$\nbegin\n  retrun 1;\nend $$;\n"
    err = run(tenant, files(f001=sql)).errors[0]
    assert err.sqlstate == "42601" and (err.line, err.column) == (3, 3)


def test_error_without_position_points_at_statement(tenant: Tenant) -> None:
    sql = "create table t (id int);\n  create index on t (nope);\n"
    err = run(tenant, files(f001=sql)).errors[0]
    assert err.sqlstate == "42703" and (err.line, err.column) == (2, 3)


def test_adapted_statement_error_maps_to_original_column(tenant: Tenant) -> None:
    # "public." became the tenant schema: the reported column is still the file's.
    report = run(tenant, files(f001="select * from public.nope;"))
    err = report.errors[0]
    assert err.sqlstate == "42P01" and (err.line, err.column) == (1, 15)


def test_supabase_style_policies_work(tenant: Tenant) -> None:
    sql = """
    create table public.todos (
      id bigint generated always as identity primary key,
      owner_id text not null default auth.uid(),
      title text
    );
    alter table public.todos enable row level security;
    grant usage on schema public to authenticated;
    grant select, insert, update, delete on public.todos to authenticated;
    create policy "own rows" on public.todos for all to authenticated
      using (owner_id = auth.uid()) with check (owner_id = auth.uid());
    """
    report = run(tenant, files(f001_init=sql))
    assert report.ok, report.errors
    with tenant.as_user("alice") as conn:
        conn.execute("insert into todos (title) values ('a1')")
        assert conn.execute("select owner_id, title from todos").fetchall() == [("alice", "a1")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into todos (owner_id, title) values ('bob', 'forged')")
    with tenant.as_user("alice") as conn:
        conn.execute("insert into todos (title) values ('a1')")
        conn.execute("commit")
    with tenant.as_user("bob") as conn:
        assert conn.execute("select count(*) from todos").fetchone() == (0,)
    forced = scalar(
        tenant.conninfo,
        f"SELECT relforcerowsecurity FROM pg_class WHERE oid = '{tenant.schema}.todos'::regclass",
    )
    assert forced is True


def test_supabase_style_function_bodies_reach_the_tenant_schema(tenant: Tenant) -> None:
    sql = """
    create table public.todos (id int primary key, title text not null);
    insert into public.todos values (1, 'public.todos stays a literal');
    grant select on public.todos to authenticated;
    create function public.todo_count() returns bigint language sql stable
      as $$ select count(*) from public.todos $$;
    create function public.first_title() returns text as $fn$
    begin
      return (select title from public.todos order by id limit 1);
    end $fn$ language plpgsql stable;
    do $$ begin grant execute on function public.first_title() to authenticated; end $$;
    """
    report = run(tenant, files(f001_init=sql))
    assert report.ok, report.errors
    with tenant.as_user("alice") as conn:
        assert conn.execute("select todo_count(), first_title()").fetchone() == (
            1,
            "public.todos stays a literal",
        )
    body = scalar(tenant.conninfo, "SELECT prosrc FROM pg_proc WHERE proname = 'todo_count'")
    assert body == f" select count(*) from {tenant.schema}.todos "


def test_force_rls_opt_out(tenant: Tenant) -> None:
    sql = """
    create table a (id int); alter table a enable row level security;
    create table b (id int); alter table b enable row level security;
    comment on table b is 'public catalogue flux:no-force-rls';
    create table c (id int);
    """
    assert run(tenant, files(f001=sql)).ok
    rows = dict(
        psycopg.connect(tenant.conninfo)
        .execute(
            "SELECT relname, relforcerowsecurity FROM pg_class WHERE relnamespace = %s::regnamespace",
            (tenant.schema,),
        )
        .fetchall()
    )
    assert rows == {"a": True, "b": False, "c": False}


def test_raw_mode_runs_every_time_without_ledger(tenant: Tenant) -> None:
    fs = files(schema="create table if not exists r (id int); insert into r values (1);")
    assert run(tenant, fs, mode="raw").lines[-1] == "Done. 1 applied, 0 skipped."
    assert run(tenant, fs, mode="raw").ok
    assert scalar(tenant.conninfo, f"SELECT count(*) FROM {tenant.schema}.r") == 2
    assert ledger(tenant.target) == []


def test_repeatable_reruns_on_change_or_force(tenant: Tenant) -> None:
    view = "create or replace view v as select 1 as n;"
    first = run(tenant, files(views=view), mode="repeatable", script_id="db/views.sql")
    assert first.applied == 1
    assert run(tenant, files(views=view), mode="repeatable", script_id="db/views.sql").skipped == 1
    forced = run(tenant, files(views=view), mode="repeatable", script_id="db/views.sql", force=True)
    assert forced.applied == 1
    changed = run(
        tenant,
        files(views=view.replace("1 as", "2 as")),
        mode="repeatable",
        script_id="db/views.sql",
    )
    assert changed.applied == 1
    rows = ledger(tenant.target)
    assert [(r.kind, r.version) for r in rows] == [("repeatable", "db/views.sql")]
    assert scalar(tenant.conninfo, f"SELECT n FROM {tenant.schema}.v") == 2


def test_plan_and_dry_run(tenant: Tenant) -> None:
    assert run(tenant, files(f001=INIT)).ok
    fs = files(f001=INIT + " ", f002="create table y (id int); drop table todos;")
    plan = run(tenant, fs, plan=True)
    assert plan.lines[0].startswith("✗ 001.sql checksum conflict (applied ")
    assert (
        plan.lines[1] == "→ 002.sql would apply (1 create, 1 drop — destructive: drop table todos)"
    )
    assert plan.lines[2] == "  ! drop table todos"
    assert plan.lines[-1] == "Plan: 1 to apply, 0 skipped, 1 blocked."
    assert plan.files[1]["summary"]["drops"] == 1
    dry = run(tenant, fs, dry_run=True)
    assert dry.exit_code == 1 and dry.lines[-1].startswith("Dry run:")
    assert run(tenant, files(f001=INIT), dry_run=True).exit_code == 0
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.y')") is None


def test_missing_locally_is_reported(tenant: Tenant) -> None:
    assert run(tenant, files(f001="select 1;", f002="select 2;")).ok
    report = run(tenant, files(f002="select 2;"))
    assert report.ok and report.missing_locally == ["001.sql"]
    assert "? 001.sql is in the remote ledger but not in local files" in report.lines


def test_after_push_and_events(tenant: Tenant) -> None:
    calls: list[str] = []
    events = []
    report = run(
        tenant,
        files(f001="select 1;", f002="select 2;"),
        after_push=lambda: calls.append("reload"),
        on_event=events.append,
    )
    assert calls == ["reload"]  # once per push that applied something
    assert [e.line for e in events] == report.lines
    assert report.to_json()["files"][0]["status"] == "applied"
    run(tenant, files(f001="select 1;", f002="select 2;"), after_push=lambda: calls.append("x"))
    assert calls == ["reload"]  # nothing applied: no reload
    failing = files(f003="select 3;", f004="bad;")
    assert not run(tenant, failing, after_push=lambda: calls.append("partial")).ok
    assert calls == ["reload", "partial"]  # 003 stays applied, so the cache must see it


def test_opaque_text_reaches_the_database_unadapted(tenant: Tenant) -> None:
    sql = """
    create table t (id int);
    comment on table t is E'grant to authenticated\\'s on schema public';
    create function f() returns text language sql as $$ select 'to authenticated' $$;
    """
    assert run(tenant, files(f001=sql)).ok
    comment = scalar(tenant.conninfo, f"SELECT obj_description('{tenant.schema}.t'::regclass)")
    assert comment == "grant to authenticated's on schema public"
    body = scalar(tenant.conninfo, "SELECT prosrc FROM pg_proc WHERE proname = 'f'")
    assert body == " select 'to authenticated' "


def test_oversized_file_refuses_the_push(tenant: Tenant) -> None:
    big = MigrationFile.from_text("002_big.sql", "-- " + "x" * MAX_FILE_BYTES)
    report = run(tenant, [*files(f001="create table t (id int);"), big])
    assert report.errors[0].code == "file_too_large"
    assert report.lines == [
        "✗ 002_big.sql is 4.0 MiB, over the 4.0 MiB limit",
        "Push refused: a file is over the size limit; nothing was applied.",
    ]
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.t')") is None
    assert run(tenant, [big], dry_run=True).exit_code == 1


def test_plan_reports_statements_flux_would_refuse(tenant: Tenant) -> None:
    report = run(tenant, files(f001="select 1;\ncreate extension pgcrypto;"), plan=True)
    assert report.exit_code == 1
    assert report.lines[1] == (
        "✗ 001.sql would be refused at line 2, column 1: 42501 "
        "CREATE EXTENSION is not allowed on a shared (v2) project"
    )


def test_bad_arguments_raise(tenant: Tenant) -> None:
    with pytest.raises(BadInput):
        run(tenant, files(f001="select 1;"), mode="sideways")
    with pytest.raises(BadInput):
        run(tenant, files(f001="select 1;", f002="select 2;"), mode="repeatable", script_id="x")
    with pytest.raises(BadInput):
        PushTarget("v2_shared", tenant.conninfo, tenant.schema, None, None, tenant.schema)


def test_unreachable_database_is_reported(tenant: Tenant) -> None:
    target = PushTarget("v2_shared", "host=/nonexistent port=1 dbname=x", "s", "r", "d", "s")
    report = push(target, files(f001="select 1;"), mode="versioned", applied_by="x")
    assert report.errors[0].code == "database_unavailable" and report.exit_code == 1


def test_each_committed_file_notifies_rest_workers(tenant: Tenant) -> None:
    """`NOTIFY pgrst, 'reload schema <tenant schema>'` rides in each applied file's
    transaction: delivered at its commit, never for a file that rolled back."""
    with psycopg.connect(tenant.conninfo, autocommit=True) as listener:
        listener.execute("LISTEN pgrst")
        report = run(
            tenant,
            files(f001="create table a (id int);", f002="create table b (id int);", f003="bad;"),
        )
        assert not report.ok and report.applied == 2
        notes = list(listener.notifies(timeout=1.0))
    assert [n.payload for n in notes] == [f"reload schema {tenant.schema}"] * 2

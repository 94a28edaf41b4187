"""Planning: skip / apply / conflict / too large per file, missing-locally, DDL summaries."""

from __future__ import annotations

import pytest

from flux.errors import BadInput
from flux.migrations.files import MAX_FILE_BYTES, MigrationFile
from flux.migrations.ledger_tables import LedgerRow
from flux.migrations.lexer import parse
from flux.migrations.planner import make_plan
from flux.migrations.summary import summarise


def f(name: str, sql: str = "select 1;", path: str | None = None) -> MigrationFile:
    return MigrationFile.from_text(name, sql, path)


def row(version: str, sql: str = "select 1;", kind: str = "versioned") -> LedgerRow:
    return LedgerRow(kind, version, f(version, sql).checksum, "2026-01-01T00:00:00+00:00", "x", 1)


def test_versioned_plan() -> None:
    plan = make_plan(
        [f("003.sql"), f("001.sql"), f("002.sql", "select 2;")],
        [row("001.sql"), row("002.sql"), row("000_gone.sql")],
        "versioned",
    )
    assert [(i.file.name, i.action) for i in plan.items] == [
        ("001.sql", "skip"),
        ("002.sql", "conflict"),
        ("003.sql", "apply"),
    ]
    assert plan.items[1].remote_checksum == row("002.sql").checksum
    assert plan.missing_locally == ["000_gone.sql"]
    assert [i.file.name for i in plan.blocked] == ["002.sql"]


def test_oversized_blocks() -> None:
    big = MigrationFile("big.sql", "big.sql", "", MAX_FILE_BYTES + 1)
    plan = make_plan([big, f("a.sql")], [], "versioned")
    assert [i.action for i in plan.items] == ["apply", "too_large"]
    assert plan.blocked[0].file is big


def test_raw_always_applies_and_ignores_ledger() -> None:
    plan = make_plan([f("schema.sql")], [row("schema.sql")], "raw")
    assert plan.items[0].action == "apply" and plan.missing_locally == []


def test_repeatable_by_id_and_path() -> None:
    views = f("views.sql", "create view v as select 1;", "db/views.sql")
    remote = [row("db/views.sql", views.sql, "repeatable")]
    assert make_plan([views], remote, "repeatable").items[0].action == "skip"
    assert make_plan([views], remote, "repeatable", force=True).items[0].action == "apply"
    assert make_plan([views], remote, "repeatable", script_id="other").items[0].action == "apply"
    changed = f("views.sql", "create view v as select 2;", "db/views.sql")
    assert make_plan([changed], remote, "repeatable").items[0].action == "apply"
    # versioned rows never match repeatable ids
    assert (
        make_plan([views], [row("db/views.sql", views.sql)], "repeatable").items[0].action
        == "apply"
    )


@pytest.mark.parametrize(
    ("files", "mode", "script_id", "code"),
    [
        ([], "versioned", None, "no_migrations"),
        ([f("a.sql"), f("a.sql")], "versioned", None, "duplicate_version"),
        ([f("a.sql")], "versioned", "x", "bad_script_id"),
        ([f("a.sql"), f("b.sql")], "repeatable", "x", "bad_script_id"),
    ],
)
def test_bad_input(files, mode, script_id, code) -> None:
    with pytest.raises(BadInput) as err:
        make_plan(files, [], mode, script_id=script_id)
    assert err.value.code == code


def test_summary() -> None:
    sql = """
    create table a (id int); create or replace view v as select 1;
    alter table a add column b int; alter table a drop column b;
    drop table old; truncate a;
    grant select on a to authenticated; revoke all on a from anon;
    insert into a values (1); comment on table a is 'x';
    """
    s = summarise(parse(sql))
    assert (s.creates, s.alters, s.drops, s.grants, s.other) == (2, 2, 1, 2, 3)
    assert s.destructive == ["alter table a drop column b", "drop table old", "truncate a"]
    assert s.describe().startswith("2 creates, 2 alters, 1 drop, 2 grants, 3 other — destructive:")
    assert summarise([]).describe() == "no statements"

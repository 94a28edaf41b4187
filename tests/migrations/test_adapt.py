"""Supabase-style adaptation: table cases and properties (opaque text untouched, idempotent)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flux.migrations.adapt import TenantNames, adapt_sql, adapt_statement, quote_ident
from flux.migrations.lexer import OPAQUE, TRIVIA, Kind, parse, tokenize

NAMES = TenantNames("t_0123456789ab_role", "t_0123456789ab_api")
R, S = NAMES.runtime_role, NAMES.schema


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("grant select on todos to authenticated", f"grant select on todos to {R}"),
        ("REVOKE ALL ON todos FROM Authenticated", f"REVOKE ALL ON todos FROM {R}"),
        ("grant select on t to anon, authenticated, x", f"grant select on t to anon, {R}, x"),
        (
            "create policy p on t for select to authenticated using (true)",
            f"create policy p on t for select to {R} using (true)",
        ),
        ("grant usage on schema public to authenticated", f"grant usage on schema {S} to {R}"),
        (
            "alter default privileges in schema public grant select on tables to authenticated",
            f"alter default privileges in schema {S} grant select on tables to {R}",
        ),
        (
            "grant select on all tables in schema public to authenticated",
            f"grant select on all tables in schema {S} to {R}",
        ),
        ("create table public.todos (id int)", f"create table {S}.todos (id int)"),
        (
            "grant x on schema /* c */ public to -- c\n authenticated",
            f"grant x on schema /* c */ {S} to -- c\n {R}",
        ),
        # Not rewritten: opaque text, quoted identifiers, other words.
        (
            "select 'to authenticated', \"public\".t, $$ on schema public $$",
            "select 'to authenticated', \"public\".t, $$ on schema public $$",
        ),
        ("-- grant to authenticated\nselect 1", "-- grant to authenticated\nselect 1"),
        ("select authenticated, public from t", "select authenticated, public from t"),
        ('grant select on t to "authenticated"', 'grant select on t to "authenticated"'),
        ("select x.public.y", "select x.public.y"),
        # Routine bodies in SQL or PL/pgSQL are code: adapted, except their own literals.
        (
            "create function f() returns int language sql as $$ select 1 from public.t $$",
            f"create function f() returns int language sql as $$ select 1 from {S}.t $$",
        ),
        (
            "CREATE OR REPLACE PROCEDURE p() AS $b$ BEGIN DELETE FROM public.t WHERE x = "
            "'public.t'; EXECUTE $q$ drop table public.t $q$; END $b$ LANGUAGE 'plpgsql'",
            f"CREATE OR REPLACE PROCEDURE p() AS $b$ BEGIN DELETE FROM {S}.t WHERE x = "
            "'public.t'; EXECUTE $q$ drop table public.t $q$; END $b$ LANGUAGE 'plpgsql'",
        ),
        (
            "do $$ begin grant select on public.t to authenticated; end $$",
            f"do $$ begin grant select on {S}.t to {R}; end $$",
        ),
        (
            "create function f() returns int language plv8 as $$ return public.t $$",
            "create function f() returns int language plv8 as $$ return public.t $$",
        ),
        (
            "create function f() returns int language sql as $$ select 1 $$; select $$public.t$$",
            "create function f() returns int language sql as $$ select 1 $$; select $$public.t$$",
        ),
    ],
)
def test_cases(sql: str, expected: str) -> None:
    assert adapt_sql(sql, NAMES) == expected


def test_quote_ident() -> None:
    assert quote_ident("t_ab_role") == "t_ab_role"
    assert quote_ident('We"ird') == '"We""ird"'


def test_position_map_points_back_into_the_file() -> None:
    sql = "-- x\ngrant select on public.t to authenticated, nobody"
    (stmt,) = parse(sql)
    adapted = adapt_statement(stmt, NAMES)
    at = adapted.text.index("nobody")
    assert sql[adapted.original_offset(at) :].startswith("nobody")
    at = adapted.text.index(S) + 3  # inside a replacement → within the original word
    assert sql[adapted.original_offset(at) - 3 :].startswith("public")


CODE_WORDS = [
    "TO",
    "to",
    "FROM",
    "authenticated",
    "AUTHENTICATED",
    "ON",
    "IN",
    "SCHEMA",
    "schema",
    "public",
    "PUBLIC",
    "grant",
    "select",
    ",",
    ".",
    "(",
    ")",
    "x",
    "anon",
    ";",
    "\n",
    "1",
    "::",
    "=",
    "t_0123456789ab_role",
]
PHRASES = [
    "TO authenticated",
    "on schema public",
    "public.x",
    " ",
    "'",
    '"',
    "\\",
    "$",
    "$$",
    "--",
    "/*",
    "*/",
    "\n",
    "E'",
    "a",
    "ß",
    "in SCHEMA PUBLIC",
    "from authenticated",
]
inner = st.lists(st.sampled_from(PHRASES) | st.text(max_size=4), max_size=6).map("".join)


def line_comment(s: str) -> str:
    return "--" + s.replace("\n", " ").replace("\r", " ")


def block_comment(s: str) -> str:
    return "/*" + s.replace("*", "+").replace("/", "|") + "*/"


def nested_comment(s: str) -> str:
    return block_comment(s)[:-2] + block_comment(s) + "*/"


def string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def escape_string(s: str) -> str:
    return "E'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def dollar(tag: str):
    return lambda s: f"${tag}$" + s.replace(f"${tag}$", "").replace("$", "") + f"${tag}$"


WRAPPERS = [
    line_comment,
    block_comment,
    nested_comment,
    string,
    escape_string,
    quoted_ident,
    dollar(""),
    dollar("fn"),
    dollar("x1"),
]
opaque = st.tuples(st.sampled_from(WRAPPERS), inner).map(lambda p: p[0](p[1]))
segment = st.one_of(
    st.sampled_from(CODE_WORDS).map(lambda w: ("code", w)),
    opaque.map(lambda o: ("opaque", o)),
)
documents = st.lists(segment, max_size=25)


def render(doc: list[tuple[str, str]]) -> str:
    # A line comment ends at the newline that follows it.
    return " ".join(text + ("\n" if text.startswith("--") else "") for _, text in doc)


def opaque_texts(sql: str) -> list[str]:
    return [t.text for t in tokenize(sql) if t.kind in OPAQUE]


@settings(max_examples=150, deadline=None)
@given(documents)
def test_opaque_text_is_never_changed(doc) -> None:
    sql = render(doc)
    expected = [text for kind, text in doc if kind == "opaque"]
    assert opaque_texts(sql) == expected  # the generator builds what the lexer sees
    assert opaque_texts(adapt_sql(sql, NAMES)) == expected


@settings(max_examples=150, deadline=None)
@given(documents)
def test_adaptation_is_idempotent(doc) -> None:
    once = adapt_sql(render(doc), NAMES)
    assert adapt_sql(once, NAMES) == once


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_idempotent_on_arbitrary_text(sql: str) -> None:
    once = adapt_sql(sql, NAMES)
    assert adapt_sql(once, NAMES) == once
    assert opaque_texts(once) == opaque_texts(sql)


ROUTINES = [
    "create function f() returns void language plpgsql as $body${}$body$",
    "CREATE OR REPLACE PROCEDURE p() AS $body${}$body$ LANGUAGE sql",
    "do $body${}$body$",
]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ROUTINES), documents)
def test_routine_bodies_are_adapted_as_code(routine: str, doc) -> None:
    body = render(doc)
    assume("$body$" not in body)
    adapted = adapt_sql(routine.format(body), NAMES)
    assert adapted == routine.format(adapt_sql(body, NAMES))
    assert adapt_sql(adapted, NAMES) == adapted
    foreign = (
        routine.replace("plpgsql", "plv8")
        .replace("sql", "plv8")
        .replace("do ", "do language plv8 ")
    )
    assert adapt_sql(foreign.format(body), NAMES) == foreign.format(body)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_splitting_never_cuts_opaque_text(doc) -> None:
    sql = render(doc)
    kept = [t.text for s in parse(sql) for t in s.tokens if t.kind in OPAQUE - TRIVIA]
    assert kept == [t for t in opaque_texts(sql) if not t.startswith(("--", "/*"))]
    for stmt in parse(sql):
        depth = 0
        for tok in stmt.tokens:
            depth += (
                {"(": 1, ")": -1 if depth else 0}.get(tok.text, 0) if tok.kind is Kind.PUNCT else 0
            )
            assert not (tok.text == ";" and tok.kind is Kind.PUNCT and depth == 0)

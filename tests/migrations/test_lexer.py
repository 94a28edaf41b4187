"""The SQL lexer: token kinds, positions, statement splitting — table cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux.migrations.lexer import Kind, parse, position_of, tokenize


def kinds(sql: str) -> list[tuple[Kind, str]]:
    return [(t.kind, t.text) for t in tokenize(sql) if t.kind is not Kind.WHITESPACE]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1", [(Kind.WORD, "select"), (Kind.NUMBER, "1")]),
        ("'it''s'", [(Kind.STRING, "'it''s'")]),
        (r"E'a\'b' x", [(Kind.STRING, r"E'a\'b'"), (Kind.WORD, "x")]),
        (r"e'\\' x", [(Kind.STRING, r"e'\\'"), (Kind.WORD, "x")]),
        (r"'a\' y'", [(Kind.STRING, r"'a\'"), (Kind.WORD, "y"), (Kind.STRING, "'")]),
        ("x'ff'", [(Kind.STRING, "x'ff'")]),
        (
            "B'101' X'ff' N'n' U&'d\\0061'",
            [
                (Kind.STRING, "B'101'"),
                (Kind.STRING, "X'ff'"),
                (Kind.STRING, "N'n'"),
                (Kind.STRING, "U&'d\\0061'"),
            ],
        ),
        ('"Weird ""name"""', [(Kind.QUOTED_IDENT, '"Weird ""name"""')]),
        ('U&"d\\0061t"', [(Kind.QUOTED_IDENT, 'U&"d\\0061t"')]),
        ("-- c ; 'x\nselect", [(Kind.LINE_COMMENT, "-- c ; 'x"), (Kind.WORD, "select")]),
        (
            "/* a /* nested */ still */ x",
            [(Kind.BLOCK_COMMENT, "/* a /* nested */ still */"), (Kind.WORD, "x")],
        ),
        ("$$ a ; 'b $$", [(Kind.DOLLAR_BODY, "$$ a ; 'b $$")]),
        ("$fn$ $$ inner $$ $fn$", [(Kind.DOLLAR_BODY, "$fn$ $$ inner $$ $fn$")]),
        ("$1 + $2", [(Kind.PARAM, "$1"), (Kind.OPERATOR, "+"), (Kind.PARAM, "$2")]),
        ("foo$bar$ x", [(Kind.WORD, "foo$bar$"), (Kind.WORD, "x")]),
        ("a::int", [(Kind.WORD, "a"), (Kind.OPERATOR, "::"), (Kind.WORD, "int")]),
        ("1.5e3 .5", [(Kind.NUMBER, "1.5e3"), (Kind.NUMBER, ".5")]),
        ("a<>b", [(Kind.WORD, "a"), (Kind.OPERATOR, "<>"), (Kind.WORD, "b")]),
        ("a+-- c\n", [(Kind.WORD, "a"), (Kind.OPERATOR, "+"), (Kind.LINE_COMMENT, "-- c")]),
        ("s.t", [(Kind.WORD, "s"), (Kind.PUNCT, "."), (Kind.WORD, "t")]),
        ("café", [(Kind.WORD, "café")]),
    ],
)
def test_tokens(sql: str, expected: list) -> None:
    assert kinds(sql) == expected


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("'open", Kind.STRING),
        ('"open', Kind.QUOTED_IDENT),
        ("/* /* */", Kind.BLOCK_COMMENT),
        ("$x$ body", Kind.DOLLAR_BODY),
        ("E'\\", Kind.STRING),
    ],
)
def test_unterminated_runs_to_end_and_is_flagged(sql: str, kind: Kind) -> None:
    (tok,) = tokenize(sql)
    assert tok.kind is kind and tok.unterminated and tok.text == sql


def test_positions() -> None:
    toks = [t for t in tokenize("select\n  'a\nb' ,x") if t.kind is not Kind.WHITESPACE]
    assert [(t.text, t.line, t.column) for t in toks] == [
        ("select", 1, 1),
        ("'a\nb'", 2, 3),
        (",", 3, 4),
        ("x", 3, 5),
    ]
    assert position_of("ab\ncd", 4) == (2, 2)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1; select 2", ["select 1", "select 2"]),
        ("select ';'; -- ;\n select 2;;", ["select ';'", "select 2"]),
        (
            "create function f() returns int language sql as $$ select 1; $$; select 2",
            ["create function f() returns int language sql as $$ select 1; $$", "select 2"],
        ),
        (
            "create or replace function f() returns int language sql\nbegin atomic\n"
            "  select 1;\n  select case when true then 1 end;\nend; select 3",
            [
                "create or replace function f() returns int language sql\nbegin atomic\n"
                "  select 1;\n  select case when true then 1 end;\nend",
                "select 3",
            ],
        ),
        (
            "create procedure p() begin atomic insert into t values (1); end; x",
            ["create procedure p() begin atomic insert into t values (1); end", "x"],
        ),
        ("begin; select 1; end;", ["begin", "select 1", "end"]),
        ("select (1;2); x", ["select (1;2)", "x"]),
        ("/* only */ ; -- comments\n", []),
    ],
)
def test_split(sql: str, expected: list[str]) -> None:
    assert [s.text.rstrip() for s in parse(sql)] == expected


def test_statement_start_skips_leading_trivia() -> None:
    stmts = parse("-- intro\n\n  /* c */ create table t (id int);\nselect 1;")
    assert [(s.line, s.column, s.index) for s in stmts] == [(3, 11, 0), (4, 1, 1)]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokens_concatenate_to_the_input(sql: str) -> None:
    toks = tokenize(sql)
    assert "".join(t.text for t in toks) == sql
    for tok in toks:
        assert sql[tok.start : tok.end] == tok.text
        assert position_of(sql, tok.start) == (tok.line, tok.column)


SQLISH = st.text(alphabet="ab $'\"-*/;()\\\nEe&U_1", max_size=60)


@settings(max_examples=400, deadline=None)
@given(SQLISH)
def test_statements_cover_every_significant_token(sql: str) -> None:
    toks = tokenize(sql)
    covered = [t for s in parse(sql) for t in s.tokens]
    significant = [t for t in toks if t.kind not in (Kind.WHITESPACE,) and t.text != ";"]
    assert [t for t in significant if t.kind not in (Kind.LINE_COMMENT, Kind.BLOCK_COMMENT)] == [
        t
        for t in covered
        if t.kind not in (Kind.WHITESPACE, Kind.LINE_COMMENT, Kind.BLOCK_COMMENT) and t.text != ";"
    ]

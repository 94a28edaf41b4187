"""Table-driven tests for flux.rest.grammar: every construct of PostgREST's query grammar."""

from __future__ import annotations

import pytest

from flux.rest.grammar import (
    Field,
    Filter,
    GrammarError,
    JsonOp,
    LogicTree,
    MediaType,
    Operation,
    OrderTerm,
    Preferences,
    SelectCount,
    SelectEmbed,
    SelectField,
    SelectStar,
    parse_accept,
    parse_columns,
    parse_filter_key,
    parse_integer,
    parse_limit_key,
    parse_logic_key,
    parse_logic_tree,
    parse_offset_key,
    parse_operation,
    parse_order,
    parse_order_key,
    parse_prefer,
    parse_range_header,
    parse_select,
)


def F(name: str, *path: tuple[str, str | int]) -> Field:
    return Field(name, tuple(JsonOp(a, k) for a, k in path))  # type: ignore[arg-type]


def col(name: str, **kw) -> SelectField:  # type: ignore[no-untyped-def]
    return SelectField(F(name), **kw)


# ---------------------------------------------------------------------------------------------
# select=

SELECT_OK = [
    ("*", (SelectStar(),)),
    ("", ()),
    ("id", (col("id"),)),
    ("id,name", (col("id"), col("name"))),
    (" id , name ", (col("id"), col("name"))),
    ("\tid,\tname\t", (col("id"), col("name"))),
    ("first name", (col("first name"),)),
    ("my-col", (col("my-col"),)),
    ("$x,_y,1a", (col("$x"), col("_y"), col("1a"))),
    ('"my col"', (col("my col"),)),
    ('"a,b(c)"', (col("a,b(c)"),)),
    ('"with \\"quote\\""', (col('with "quote"'),)),
    ('" spaced "', (col(" spaced "),)),
    ("alias:id", (col("id", alias="alias"),)),
    ('"my alias":"my col"', (col("my col", alias="my alias"),)),
    ("id::text", (col("id", cast="text"),)),
    ("id::double precision", (col("id", cast="double precision"),)),
    ("a:id::text", (col("id", alias="a", cast="text"),)),
    ("data->a", (SelectField(F("data", ("->", "a"))),)),
    ("data->>a", (SelectField(F("data", ("->>", "a"))),)),
    ("data->a->>b", (SelectField(F("data", ("->", "a"), ("->>", "b"))),)),
    ("arr->0", (SelectField(F("arr", ("->", 0))),)),
    ("arr->>-1", (SelectField(F("arr", ("->>", -1))),)),
    ("arr->0->>1", (SelectField(F("arr", ("->", 0), ("->>", 1))),)),
    ("arr->12abc", (SelectField(F("arr", ("->", "12abc"))),)),
    ('data->"0"', (SelectField(F("data", ("->", "0"))),)),
    ('data->"a.b"', (SelectField(F("data", ("->", "a.b"))),)),
    ("data->!@#$%^&*_a", (SelectField(F("data", ("->", "!@#$%^&*_a"))),)),
    ("data->key-with-dash", (SelectField(F("data", ("->", "key-with-dash"))),)),
    ("x:data->a::int", (SelectField(F("data", ("->", "a")), alias="x", cast="int"),)),
    ("data->a,b", (SelectField(F("data", ("->", "a"))), col("b"))),
    ("rel(arr->0)", (SelectEmbed("rel", children=(SelectField(F("arr", ("->", 0))),)),)),
    ("client(*)", (SelectEmbed("client", children=(SelectStar(),)),)),
    ("client()", (SelectEmbed("client"),)),
    ("c:client(id)", (SelectEmbed("client", alias="c", children=(col("id"),)),)),
    ("client!fk(id)", (SelectEmbed("client", hint="fk", children=(col("id"),)),)),
    ("client!inner(id)", (SelectEmbed("client", join="inner", children=(col("id"),)),)),
    ("client!left(id)", (SelectEmbed("client", join="left", children=(col("id"),)),)),
    (
        "client!fk!inner(id)",
        (SelectEmbed("client", hint="fk", join="inner", children=(col("id"),)),),
    ),
    (
        "a:client!inner!fk(id)",
        (SelectEmbed("client", alias="a", hint="fk", join="inner", children=(col("id"),)),),
    ),
    ('client!"my fk"(id)', (SelectEmbed("client", hint="my fk", children=(col("id"),)),)),
    ("client!a!b(id)", (SelectEmbed("client", hint="a", children=(col("id"),)),)),
    ('client!""!b(id)', (SelectEmbed("client", hint="", children=(col("id"),)),)),
    ("data->a b->c!d", (SelectField(F("data", ("->", "a b"), ("->", "c!d"))),)),
    ("client!inner!left(id)", (SelectEmbed("client", join="inner", children=(col("id"),)),)),
    ("...client(name)", (SelectEmbed("client", spread=True, children=(col("name"),)),)),
    (
        "...client!fk!inner(*)",
        (SelectEmbed("client", hint="fk", join="inner", spread=True, children=(SelectStar(),)),),
    ),
    (
        "*,client(*,nested(*))",
        (
            SelectStar(),
            SelectEmbed(
                "client", children=(SelectStar(), SelectEmbed("nested", children=(SelectStar(),)))
            ),
        ),
    ),
    (
        "id, client ( id , name ) , x",
        (col("id"), SelectEmbed("client", children=(col("id"), col("name"))), col("x")),
    ),
    ("count()", (SelectCount(),)),
    ("n:count()", (SelectCount(alias="n"),)),
    ("count()::text", (SelectCount(cast="text"),)),
    ("n:count()::int", (SelectCount(alias="n", cast="int"),)),
    ("count", (col("count"),)),
    ("count:id", (col("id", alias="count"),)),
    ("amount.sum()", (col("amount", aggregate="sum"),)),
    ("amount.avg()::int", (col("amount", aggregate="avg", aggregate_cast="int"),)),
    (
        "amount::int.sum()::text",
        (col("amount", cast="int", aggregate="sum", aggregate_cast="text"),),
    ),
    ("m:amount.max()", (col("amount", alias="m", aggregate="max"),)),
    ("amount.min(),id.count()", (col("amount", aggregate="min"), col("id", aggregate="count"))),
    ("data->x.sum()", (SelectField(F("data", ("->", "x")), aggregate="sum"),)),
    (
        "orders(amount.sum(),count())",
        (SelectEmbed("orders", children=(col("amount", aggregate="sum"), SelectCount())),),
    ),
    ("é,名前", (col("é"), col("名前"))),
    # what follows the last complete item is ignored, as PostgREST's parser does
    ("id)", (col("id"),)),
    ("a,b(c))", (col("a"), SelectEmbed("b", children=(col("c"),)))),
    ("b(count)'", (SelectEmbed("b", children=(col("count"),)),)),
]


@pytest.mark.parametrize(("text", "expected"), SELECT_OK)
def test_parse_select(text: str, expected: tuple) -> None:
    assert parse_select(text) == expected


SELECT_BAD = [
    ("id,", 4),
    (",id", 1),
    ("id,,name", 4),
    ("client(id", 10),
    ("client(id,)", 11),
    ("name!hint", 5),
    ("*!hint", 2),
    ("name::", 7),
    ("a:*", 3),
    ("data->>-78xy", 11),
    ("id,clients(name[])", 16),
    ('"unterminated', 14),
    ("rel->x(*)", 7),
    ("count()x", 8),
    ("amount.foo()", 7),
    ("a:...rel(*)", 3),
    ("!", 1),
    ("client!left", 7),
    ("x:", 3),
]


@pytest.mark.parametrize(("text", "column"), SELECT_BAD)
def test_parse_select_errors(text: str, column: int) -> None:
    with pytest.raises(GrammarError) as info:
        parse_select(text)
    err = info.value
    assert err.code == "PGRST100"
    assert err.status == 400
    assert err.message == f'"failed to parse select parameter ({text})" (line 1, column {column})'
    assert err.details and err.details.startswith("unexpected ")
    assert err.hint is None


def test_select_error_body_shape() -> None:
    with pytest.raises(GrammarError) as info:
        parse_select("id,")
    assert info.value.as_body() == {
        "code": "PGRST100",
        "message": '"failed to parse select parameter (id,)" (line 1, column 4)',
        "details": "unexpected end of input expecting field name (* or [a..z0..9_$])",
        "hint": None,
    }


def test_select_is_cached_and_immutable() -> None:
    a = parse_select("id,client(name)")
    assert parse_select("id,client(name)") is a
    assert isinstance(a, tuple)
    with pytest.raises(AttributeError):
        a[0].alias = "x"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# filter keys

FILTER_KEYS = [
    ("name", ((), F("name"))),
    ("clients.name", (("clients",), F("name"))),
    ("a.b.c", (("a", "b"), F("c"))),
    ("data->a->>b", ((), F("data", ("->", "a"), ("->>", "b")))),
    ("clients.data->0", (("clients",), F("data", ("->", 0)))),
    ('"my col"', ((), F("my col"))),
    ('"a.b".c', (("a.b",), F("c"))),
    ("first name", ((), F("first name"))),
    ("with-dash", ((), F("with-dash"))),
]


@pytest.mark.parametrize(("key", "expected"), FILTER_KEYS)
def test_parse_filter_key(key: str, expected: tuple) -> None:
    assert parse_filter_key(key) == expected


@pytest.mark.parametrize("key", ["", "a.", ".a", "a..b", "a->", "a!b", "a->b.c", '"x'])
def test_parse_filter_key_errors(key: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_filter_key(key)
    assert info.value.message.startswith(f'"failed to parse tree path ({key})"')


# ---------------------------------------------------------------------------------------------
# filter values

OPS = [
    ("eq.5", Operation("eq", "5")),
    ("neq.5", Operation("neq", "5")),
    ("gt.5", Operation("gt", "5")),
    ("gte.5", Operation("gte", "5")),
    ("lt.5", Operation("lt", "5")),
    ("lte.5", Operation("lte", "5")),
    ("like.*a*", Operation("like", "*a*")),
    ("ilike.*A%b*", Operation("ilike", "*A%b*")),
    ("match.^a.*$", Operation("match", "^a.*$")),
    ("imatch.^A", Operation("imatch", "^A")),
    ("isdistinct.5", Operation("isdistinct", "5")),
    ("cs.{1,2}", Operation("cs", "{1,2}")),
    ("cd.{1,2}", Operation("cd", "{1,2}")),
    ("ov.[1,5)", Operation("ov", "[1,5)")),
    ("sl.(1,10)", Operation("sl", "(1,10)")),
    ("sr.(1,10)", Operation("sr", "(1,10)")),
    ("nxr.(1,10)", Operation("nxr", "(1,10)")),
    ("nxl.(1,10)", Operation("nxl", "(1,10)")),
    ("adj.(1,10)", Operation("adj", "(1,10)")),
    ("fts.cat", Operation("fts", "cat")),
    ("plfts.fat cat", Operation("plfts", "fat cat")),
    ("phfts.fat cat", Operation("phfts", "fat cat")),
    ('wfts."fat cat" -rat', Operation("wfts", '"fat cat" -rat')),
    ("fts(english).cat", Operation("fts", "cat", language="english")),
    ("plfts(simple).a", Operation("plfts", "a", language="simple")),
    ("not.wfts(french).chat", Operation("wfts", "chat", negated=True, language="french")),
    # raw values keep everything: dots, quotes, commas, parens, empty
    ("eq.a.b.c", Operation("eq", "a.b.c")),
    ('eq."quoted"', Operation("eq", '"quoted"')),
    ("eq.", Operation("eq", "")),
    ("eq.a,b(c)", Operation("eq", "a,b(c)")),
    ("eq.not.x", Operation("eq", "not.x")),
    # negation
    ("not.eq.5", Operation("eq", "5", negated=True)),
    ("not.like.a*", Operation("like", "a*", negated=True)),
    ("not.isdistinct.1", Operation("isdistinct", "1", negated=True)),
    # quantifiers
    ("eq(any).{1,2}", Operation("eq", "{1,2}", quantifier="any")),
    ("eq(all).{1,2}", Operation("eq", "{1,2}", quantifier="all")),
    ("gt(any).{1}", Operation("gt", "{1}", quantifier="any")),
    ("gte(all).{1}", Operation("gte", "{1}", quantifier="all")),
    ("lt(any).{1}", Operation("lt", "{1}", quantifier="any")),
    ("lte(any).{1}", Operation("lte", "{1}", quantifier="any")),
    ("like(any).{a*,b*}", Operation("like", "{a*,b*}", quantifier="any")),
    ("ilike(all).{a*}", Operation("ilike", "{a*}", quantifier="all")),
    ("match(any).{^a}", Operation("match", "{^a}", quantifier="any")),
    ("imatch(all).{^a}", Operation("imatch", "{^a}", quantifier="all")),
    ("not.eq(all).value", Operation("eq", "value", negated=True, quantifier="all")),
    # is
    ("is.null", Operation("is", "null")),
    ("is.NULL", Operation("is", "null")),
    ("is.Null", Operation("is", "null")),
    ("is.not_null", Operation("is", "not_null")),
    ("is.true", Operation("is", "true")),
    ("is.TRUE", Operation("is", "true")),
    ("is.false", Operation("is", "false")),
    ("is.unknown", Operation("is", "unknown")),
    ("not.is.null", Operation("is", "null", negated=True)),
    # in
    ("in.(1,2,3)", Operation("in", ("1", "2", "3"))),
    ("in.(a)", Operation("in", ("a",))),
    ("in.()", Operation("in", ())),
    ('in.("")', Operation("in", ("",))),
    ("in.(,)", Operation("in", ("", ""))),
    ('in.("a,b","c)")', Operation("in", ("a,b", "c)"))),
    ('in.("a\\"b","c\\\\d")', Operation("in", ('a"b', "c\\d"))),
    ('in.("\\x")', Operation("in", ("x",))),
    ('in.(a"b,c)', Operation("in", ('a"b', "c"))),
    ('in.("a"b,c)', Operation("in", ('"a"b', "c"))),
    ('in.("a)', Operation("in", ('"a',))),
    ("in.( 1, 2 )", Operation("in", ("1", " 2 "))),
    ("in.(1,2) ", Operation("in", ("1", "2"))),
    ("not.in.(1,2)", Operation("in", ("1", "2"), negated=True)),
    ("in.(a.b,c d)", Operation("in", ("a.b", "c d"))),
]


@pytest.mark.parametrize(("text", "expected"), OPS)
def test_parse_operation(text: str, expected: Operation) -> None:
    assert parse_operation(text) == expected


OP_BAD = [
    ("noop.0", 1, '"not" or operator (eq, gt, ...)'),
    ("val", 1, None),
    ("", 1, None),
    ("eq", 3, "delimiter (.)"),
    ("EQ.1", 1, None),
    ("not.noop.1", 5, "operator (eq, gt, ...)"),
    ("not.not.eq.1", 5, None),
    ("not.", 5, None),
    ("eq(foo).1", 3, None),
    ("eq().1", 3, None),
    ("neq(any).1", 4, None),
    ("cs(all).{1}", 3, None),
    ("fts().x", 4, None),
    ("fts(english.x", 4, None),
    ("in.1,2", 4, '"("'),
    ("in().x", 3, None),
    ("in.(1,2", 8, None),
    ("in.(1,2)x", 9, "end of input"),
    ("is.nil", 4, None),
    ("is.nullx", 8, "end of input"),
    ("is().value", 3, None),
    ("is(any).null", 3, None),
    ("in(any).(1)", 3, None),
    ("eqx.1", 1, None),
]


@pytest.mark.parametrize(("text", "column", "expecting"), OP_BAD)
def test_parse_operation_errors(text: str, column: int, expecting: str | None) -> None:
    with pytest.raises(GrammarError) as info:
        parse_operation(text)
    err = info.value
    assert err.code == "PGRST100"
    assert err.message == f'"failed to parse filter ({text})" (line 1, column {column})'
    if expecting is not None:
        assert err.details is not None and err.details.endswith("expecting " + expecting)


def test_error_position_counts_lines_and_tabs() -> None:
    with pytest.raises(GrammarError) as info:
        parse_operation("in.(a,\nb")
    assert info.value.message.endswith("(line 2, column 2)")
    with pytest.raises(GrammarError) as info:
        parse_select("\tx,")
    assert info.value.message.endswith("(line 1, column 11)")


# ---------------------------------------------------------------------------------------------
# logic keys and trees

LOGIC_KEYS = [
    ("or", ((), "or", False)),
    ("and", ((), "and", False)),
    ("not.or", ((), "or", True)),
    ("not.and", ((), "and", True)),
    ("clients.or", (("clients",), "or", False)),
    ("clients.not.and", (("clients",), "and", True)),
    ("a.b.or", (("a", "b"), "or", False)),
    ('"x.y".or', (("x.y",), "or", False)),
    ("color", None),
    ("order", None),
    ("name", None),
    ("clients.name", None),
    ("or.x", None),
    ('x."or"', None),
]


@pytest.mark.parametrize(("key", "expected"), LOGIC_KEYS)
def test_parse_logic_key(key: str, expected: tuple | None) -> None:
    assert parse_logic_key(key) == expected


def test_parse_logic_key_error() -> None:
    with pytest.raises(GrammarError) as info:
        parse_logic_key("a..or")
    assert info.value.message.startswith('"failed to parse logic path (a..or)"')


def flt(name: str, op: str, value, **kw) -> Filter:  # type: ignore[no-untyped-def]
    return Filter(F(name), Operation(op, value, **kw))


LOGIC = [
    ("or", False, "(a.eq.1,b.eq.2)", LogicTree("or", (flt("a", "eq", "1"), flt("b", "eq", "2")))),
    ("and", True, "(a.eq.1)", LogicTree("and", (flt("a", "eq", "1"),), negated=True)),
    (
        "or",
        False,
        "(a.eq.1,and(b.gt.2,c.not.is.null),d.in.(1,2))",
        LogicTree(
            "or",
            (
                flt("a", "eq", "1"),
                LogicTree("and", (flt("b", "gt", "2"), flt("c", "is", "null", negated=True))),
                flt("d", "in", ("1", "2")),
            ),
        ),
    ),
    # the contract's `not.c.is.null` form (Flux extension): a negated filter
    (
        "or",
        False,
        "(not.c.is.null,b.eq.1)",
        LogicTree("or", (flt("c", "is", "null", negated=True), flt("b", "eq", "1"))),
    ),
    (
        "or",
        False,
        "(a.eq.1,not.and(b.eq.2,not.or(c.eq.3,d.eq.4)))",
        LogicTree(
            "or",
            (
                flt("a", "eq", "1"),
                LogicTree(
                    "and",
                    (
                        flt("b", "eq", "2"),
                        LogicTree("or", (flt("c", "eq", "3"), flt("d", "eq", "4")), negated=True),
                    ),
                    negated=True,
                ),
            ),
        ),
    ),
    (
        "or",
        False,
        '(name.eq."a,b",name.eq."x)y",name.like."q\\"*")',
        LogicTree(
            "or", (flt("name", "eq", "a,b"), flt("name", "eq", "x)y"), flt("name", "like", 'q"*'))
        ),
    ),
    (
        "or",
        False,
        "(tags.cs.{a,b},tags.ov.{c})",
        LogicTree("or", (flt("tags", "cs", "{a,b}"), flt("tags", "ov", "{c}"))),
    ),
    (
        "or",
        False,
        '(r.adj."[1,10)",r.sl."(1,2)")',
        LogicTree("or", (flt("r", "adj", "[1,10)"), flt("r", "sl", "(1,2)"))),
    ),
    ("or", False, "(a.eq.,b.eq.x y)", LogicTree("or", (flt("a", "eq", ""), flt("b", "eq", "x y")))),
    (
        "or",
        False,
        "( a.eq.1 , b.eq.2 )",
        LogicTree("or", (flt("a", "eq", "1 "), flt("b", "eq", "2 "))),
    ),
    (
        "or",
        False,
        "(data->a->>b.eq.1,arr->0.gt.2)",
        LogicTree(
            "or",
            (
                Filter(F("data", ("->", "a"), ("->>", "b")), Operation("eq", "1")),
                Filter(F("arr", ("->", 0)), Operation("gt", "2")),
            ),
        ),
    ),
    (
        "or",
        False,
        "(a.eq(any).{1,2},t.fts(english).cat,x.isdistinct.3,y.is.TRUE)",
        LogicTree(
            "or",
            (
                flt("a", "eq", "{1,2}", quantifier="any"),
                flt("t", "fts", "cat", language="english"),
                flt("x", "isdistinct", "3"),
                flt("y", "is", "true"),
            ),
        ),
    ),
    (
        "or",
        False,
        '(a.in.("x,y",z),b.not.in.(1))',
        LogicTree("or", (flt("a", "in", ("x,y", "z")), flt("b", "in", ("1",), negated=True))),
    ),
    ("or", False, "(not.eq.1)", LogicTree("or", (flt("not", "eq", "1"),))),
    (
        "or",
        False,
        "(and.eq.1,or.is.null)",
        LogicTree("or", (flt("and", "eq", "1"), flt("or", "is", "null"))),
    ),
    (
        "and",
        False,
        "(or(a.eq.1,b.eq.2),or(c.eq.3))",
        LogicTree(
            "and",
            (
                LogicTree("or", (flt("a", "eq", "1"), flt("b", "eq", "2"))),
                LogicTree("or", (flt("c", "eq", "3"),)),
            ),
        ),
    ),
    ("or", False, '("my col".eq.1)', LogicTree("or", (flt("my col", "eq", "1"),))),
]


@pytest.mark.parametrize(("op", "negated", "value", "expected"), LOGIC)
def test_parse_logic_tree(op: str, negated: bool, value: str, expected: LogicTree) -> None:
    assert parse_logic_tree(op, negated, value) == expected


LOGIC_BAD = [
    ("or", "()", 4),
    ("or", "(id.in.1,2,id.eq.3)", 10),
    ("or", ")(", 3),
    ("and", "(ord(id.eq.1,id.eq.1),id.eq.2)", 7),
    ("or", "(id.eq.1,not.xor(id.eq.2,id.eq.3))", 16),
    ("or", "(a.eq.1,)", 11),
    ("or", "(a.eq.1", 10),
    ("or", "(a.eq.1))", 11),
    ("or", "a.eq.1", 3),
    ("or", "", 3),
    ("or", "(a.noop.1)", 6),
    ("or", "(a.is.nullx)", 13),
    ("or", '(a.in.("x)', 13),
    ("or", "(a.cs.{1,2}x)", 14),
    ("or", "(not.a.not.eq.1)", 8),
]


@pytest.mark.parametrize(("op", "value", "column"), LOGIC_BAD)
def test_parse_logic_tree_errors(op: str, value: str, column: int) -> None:
    with pytest.raises(GrammarError) as info:
        parse_logic_tree(op, False, value)
    assert info.value.message == (
        f'"failed to parse logic tree ({value})" (line 1, column {column})'
    )


def test_logic_tree_error_column_counts_negation_prefix() -> None:
    with pytest.raises(GrammarError) as info:
        parse_logic_tree("or", True, "()")
    assert info.value.message == '"failed to parse logic tree (())" (line 1, column 8)'


# ---------------------------------------------------------------------------------------------
# order=

ORDER = [
    ("name", (OrderTerm(F("name")),)),
    ("name.asc", (OrderTerm(F("name"), direction="asc"),)),
    ("name.desc", (OrderTerm(F("name"), direction="desc"),)),
    ("name.nullsfirst", (OrderTerm(F("name"), nulls="first"),)),
    ("name.desc.nullslast", (OrderTerm(F("name"), direction="desc", nulls="last"),)),
    ("name.asc.nullsfirst", (OrderTerm(F("name"), direction="asc", nulls="first"),)),
    ("a,b.desc", (OrderTerm(F("a")), OrderTerm(F("b"), direction="desc"))),
    (" a , b ", (OrderTerm(F("a")), OrderTerm(F("b")))),
    (
        "json_col->key.asc.nullslast",
        (OrderTerm(F("json_col", ("->", "key")), direction="asc", nulls="last"),),
    ),
    ("data->>x", (OrderTerm(F("data", ("->>", "x"))),)),
    ("arr->0.desc", (OrderTerm(F("arr", ("->", 0)), direction="desc"),)),
    (
        "json_col->!@#$%^&*_a.asc",
        (OrderTerm(F("json_col", ("->", "!@#$%^&*_a")), direction="asc"),),
    ),
    ("clients(name)", (OrderTerm(F("name"), relation="clients"),)),
    (
        "clients(json_col->key).desc.nullsfirst",
        (
            OrderTerm(
                F("json_col", ("->", "key")), relation="clients", direction="desc", nulls="first"
            ),
        ),
    ),
    (
        "name,clients(name),id",
        (OrderTerm(F("name")), OrderTerm(F("name"), relation="clients"), OrderTerm(F("id"))),
    ),
    ('"my col".desc', (OrderTerm(F("my col"), direction="desc"),)),
    ("first name.desc", (OrderTerm(F("first name"), direction="desc"),)),
]


@pytest.mark.parametrize(("text", "expected"), ORDER)
def test_parse_order(text: str, expected: tuple) -> None:
    assert parse_order(text) == expected


ORDER_BAD = [
    ("", 1),
    ("id,", 4),
    (",id", 1),
    ("clients(name,id)", 13),
    ("id.ac", 4),
    ("id.descc", 8),
    ("id.nulsfist", 4),
    ("id.nullslasttt", 13),
    ("id.smth34", 4),
    ("id.asc.nlsfst", 8),
    ("id.asc.nullslasttt", 17),
    ("id.asc.smth34", 8),
    ("id.desc.asc", 9),
    ("id.nullsfirst.desc", 14),
    ("clients(name", 13),
]


@pytest.mark.parametrize(("text", "column"), ORDER_BAD)
def test_parse_order_errors(text: str, column: int) -> None:
    with pytest.raises(GrammarError) as info:
        parse_order(text)
    assert info.value.message == f'"failed to parse order ({text})" (line 1, column {column})'


# ---------------------------------------------------------------------------------------------
# embedded keys, limit/offset, columns


@pytest.mark.parametrize(
    ("fn", "key", "expected"),
    [
        (parse_order_key, "order", ()),
        (parse_order_key, "clients.order", ("clients",)),
        (parse_order_key, "a.b.order", ("a", "b")),
        (parse_order_key, "orders", None),
        (parse_order_key, "order.x", None),
        (parse_order_key, "limit", None),
        (parse_limit_key, "limit", ()),
        (parse_limit_key, "clients.limit", ("clients",)),
        (parse_limit_key, "offset", None),
        (parse_offset_key, "offset", ()),
        (parse_offset_key, "clients.offset", ("clients",)),
        (parse_offset_key, '"my rel".offset', ("my rel",)),
        (parse_offset_key, "limit", None),
    ],
)
def test_embed_keys(fn, key: str, expected) -> None:  # type: ignore[no-untyped-def]
    assert fn(key) == expected


def test_embed_key_error() -> None:
    with pytest.raises(GrammarError) as info:
        parse_order_key("a!.order")
    assert info.value.message.startswith('"failed to parse tree path (a!.order)"')


@pytest.mark.parametrize(
    ("text", "expected"), [("0", 0), ("10", 10), (" 7 ", 7), ("0010", 10), ("-4", -4)]
)
def test_parse_integer(text: str, expected: int) -> None:
    assert parse_integer(text, "limit") == expected


@pytest.mark.parametrize("text", ["", "-", "--1", "1.5", "abc", "1e3", "١٢", "+1", "1 2", "- 1"])
def test_parse_integer_errors(text: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_integer(text, "offset")
    assert info.value.code == "PGRST100"
    assert info.value.message.startswith(f'"failed to parse offset parameter ({text})"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a , b ", ("a", "b")),
        ('"my col",x-y', ("my col", "x-y")),
    ],
)
def test_parse_columns(text: str, expected: tuple) -> None:
    assert parse_columns(text) == expected


@pytest.mark.parametrize("text", ["", "a,", ",a", "a,,b", "a->b", "a(b)"])
def test_parse_columns_errors(text: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_columns(text, "on_conflict")
    assert info.value.message.startswith(f'"failed to parse on_conflict parameter ({text})"')


# ---------------------------------------------------------------------------------------------
# Range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-9", (0, 10)),
        ("5-", (5, None)),
        ("10-10", (10, 1)),
        ("0-0", (0, 1)),
        ("", (0, None)),
        ("items=0-9", (0, None)),
        ("-5", (0, None)),
        ("a-b", (0, None)),
        (" 0-9", (0, None)),
    ],
)
def test_parse_range_header(text: str, expected: tuple) -> None:
    assert parse_range_header(text) == expected


def test_parse_range_header_lower_above_upper() -> None:
    with pytest.raises(GrammarError) as info:
        parse_range_header("5-2")
    assert info.value.code == "PGRST103"
    assert info.value.status == 416
    assert info.value.message == "Requested range not satisfiable"


# ---------------------------------------------------------------------------------------------
# Prefer


def test_parse_prefer_all_kinds() -> None:
    prefs = parse_prefer(
        [
            "return=representation, count=exact, resolution=merge-duplicates",
            "missing=default,handling=strict ,tx=rollback",
            "timezone=America/Los_Angeles, max-affected=5, params=single-object",
        ]
    )
    assert prefs == Preferences(
        return_="representation",
        count="exact",
        resolution="merge-duplicates",
        missing="default",
        handling="strict",
        tx="rollback",
        timezone="America/Los_Angeles",
        max_affected=5,
        params="single-object",
        invalid=(),
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], Preferences()),
        ([""], Preferences()),
        (["return=minimal"], Preferences(return_="minimal")),
        (["return=headers-only"], Preferences(return_="headers-only")),
        (["count=planned"], Preferences(count="planned")),
        (["count=estimated"], Preferences(count="estimated")),
        (["resolution=ignore-duplicates"], Preferences(resolution="ignore-duplicates")),
        (["missing=null"], Preferences(missing="null")),
        (["handling=lenient"], Preferences(handling="lenient")),
        (["tx=commit"], Preferences(tx="commit")),
        (["return=minimal", "return=representation"], Preferences(return_="minimal")),
        (["count=exact,count=planned"], Preferences(count="exact")),
        (
            ["foo, return=bogus,count=exact"],
            Preferences(count="exact", invalid=("foo", "return=bogus")),
        ),
        (["Return=minimal"], Preferences(invalid=("Return=minimal",))),
        (["max-affected=abc"], Preferences()),
        (["max-affected=-1"], Preferences(max_affected=-1)),
        (["max-affected=1,max-affected=2"], Preferences(max_affected=1)),
        (["timezone="], Preferences(timezone="")),
        (["params=multiple-objects"], Preferences(invalid=("params=multiple-objects",))),
        ([" , ,return=minimal,"], Preferences(return_="minimal")),
    ],
)
def test_parse_prefer(headers: list[str], expected: Preferences) -> None:
    assert parse_prefer(headers) == expected


# ---------------------------------------------------------------------------------------------
# Accept


def mt(t: str, s: str, q: float = 1.0, **params: str) -> MediaType:
    return MediaType(t, s, dict(params), q)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (mt("*", "*"),)),
        ("", (mt("*", "*"),)),
        ("  ", (mt("*", "*"),)),
        ("application/json", (mt("application", "json"),)),
        ("Application/JSON", (mt("application", "json"),)),
        ("text/csv;q=0.5, application/json", (mt("application", "json"), mt("text", "csv", 0.5))),
        ("*/*, application/json", (mt("application", "json"), mt("*", "*"))),
        ("text/*, text/csv", (mt("text", "csv"), mt("text", "*"))),
        ("application/json, text/csv", (mt("application", "json"), mt("text", "csv"))),
        (
            "application/json;q=0.1, text/csv;q=0.1",
            (mt("application", "json", 0.1), mt("text", "csv", 0.1)),
        ),
        (
            "application/vnd.pgrst.object+json;nulls=stripped",
            (mt("application", "vnd.pgrst.object+json", nulls="stripped"),),
        ),
        (
            'application/vnd.pgrst.plan+json; for="application/json"; options=analyze|verbose',
            (
                mt(
                    "application",
                    "vnd.pgrst.plan+json",
                    **{"for": "application/json", "options": "analyze|verbose"},
                ),
            ),
        ),
        ("application/json;q=abc", (mt("application", "json"),)),
        ("application/json;q=7", (mt("application", "json"),)),
        ("text/csv;q=0", (mt("text", "csv", 0.0),)),
        ("application/json,,", (mt("application", "json"),)),
        ("json", (mt("json", ""),)),
    ],
)
def test_parse_accept(text: str | None, expected: tuple) -> None:
    assert parse_accept(text) == expected


@pytest.mark.parametrize(
    ("text", "details"),
    [
        # both taken verbatim from PostgREST's QueryParams doctests
        ("noop.0", 'unexpected "o" expecting "not" or operator (eq, gt, ...)'),
        ("val", 'unexpected "v" expecting "not" or operator (eq, gt, ...)'),
        ('"x', 'unexpected "\\"" expecting "not" or operator (eq, gt, ...)'),
        ("éq.1", 'unexpected "\\233" expecting "not" or operator (eq, gt, ...)'),
        ("n", 'unexpected end of input expecting "not" or operator (eq, gt, ...)'),
    ],
)
def test_unknown_operator_details_match_postgrest(text: str, details: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_operation(text)
    assert info.value.message == f'"failed to parse filter ({text})" (line 1, column 1)'
    assert info.value.details == details


def test_top_level_filter_tolerates_trailing_blanks_after_list_and_is() -> None:
    assert parse_operation("is.null \t") == Operation("is", "null")
    assert parse_operation("in.(1) ") == Operation("in", ("1",))


@pytest.mark.parametrize("depth", [48, 49, 3000])
def test_deep_nesting_is_a_grammar_error_not_a_crash(depth: int) -> None:
    select = "a(" * depth + "x" + ")" * depth
    tree = "(" + "or(" * (depth - 1) + "a.eq.1" + ")" * depth
    if depth <= 48:
        assert parse_select(select)[0].relation == "a"  # type: ignore[union-attr]
        assert parse_logic_tree("or", False, tree).operator == "or"
        return
    for parse in (lambda: parse_select(select), lambda: parse_logic_tree("or", False, tree)):
        with pytest.raises(GrammarError) as info:
            parse()
        assert info.value.details and "levels of nesting" in info.value.details


def test_long_inputs_parse_without_being_cached() -> None:
    long_select = ",".join(f"c{i}" for i in range(600))
    before = parse_select.cache_info().currsize  # type: ignore[attr-defined]
    assert len(parse_select(long_select)) == 600
    assert parse_select.cache_info().currsize == before  # type: ignore[attr-defined]
    assert parse_select("id") is parse_select("id")

"""Property tests for flux.rest.grammar: no input crashes a parser, and rendered trees round-trip.

Two families: (1) random and mutated strings only ever raise GrammarError; (2) a small
renderer in this file turns random parse trees into PostgREST syntax (names always quoted,
values quoted where the grammar needs it) and parsing gives the same tree back.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux.rest.grammar import (
    Field,
    Filter,
    GrammarError,
    JsonOp,
    LogicTree,
    Operation,
    OrderTerm,
    SelectCount,
    SelectEmbed,
    SelectField,
    SelectItem,
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

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# (1) nothing but GrammarError, ever

PARSERS: list[Callable[[str], object]] = [
    parse_select,
    parse_filter_key,
    parse_operation,
    parse_order,
    parse_columns,
    parse_logic_key,
    parse_order_key,
    parse_limit_key,
    parse_offset_key,
    parse_range_header,
    parse_accept,
    lambda s: parse_logic_tree("or", False, s),
    lambda s: parse_logic_tree("and", True, s),
    lambda s: parse_integer(s, "limit"),
    lambda s: parse_prefer([s, s]),
]

SIGNIFICANT = '.,()"\\:!->*{}[] \t$_aznotiqeslcd019'
grammar_text = st.text(alphabet=SIGNIFICANT, max_size=40)

SEEDS = [
    "id,alias:name::text,data->a->>b,arr->0,c:client!fk!inner(*,x),...sp(a),count()",
    'total:amount.sum()::int,"my col",rel(arr->-1,n:count()::int)',
    "not.eq(any).{1,2}",
    'in.(1,"a,b","c\\"d",)',
    "fts(english).fat cat",
    '(a.eq.1,and(b.gt.2,c.not.is.null),d.in.(1,2),e.eq."x,y",f.cs.{1,2})',
    "name.desc.nullslast,clients(data->x).asc,arr->0",
    "clients.not.or",
    "return=representation, count=exact, max-affected=5",
    'application/vnd.pgrst.plan+json; for="application/json"; q=0.5, */*',
]


def _only_grammar_errors(text: str) -> None:
    for parse in PARSERS:
        try:
            parse(text)
        except GrammarError as e:
            assert e.code in ("PGRST100", "PGRST103")
            assert isinstance(e.message, str) and e.message
            assert e.status in (400, 416)


@SETTINGS
@given(st.text(max_size=60))
def test_random_text_raises_only_grammar_errors(text: str) -> None:
    _only_grammar_errors(text)


@SETTINGS
@given(grammar_text)
def test_grammar_alphabet_raises_only_grammar_errors(text: str) -> None:
    _only_grammar_errors(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        char = draw(st.sampled_from(SIGNIFICANT))
        if kind == "insert":
            text = text[:pos] + char + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + 1 :]
        elif kind == "replace":
            text = text[:pos] + char + text[pos + 1 :]
        else:
            text = text[:pos]
    return text


@SETTINGS
@given(mutated())
def test_mutated_valid_strings_raise_only_grammar_errors(text: str) -> None:
    _only_grammar_errors(text)


@SETTINGS
@given(mutated())
def test_errors_are_deterministic_and_positioned(text: str) -> None:
    for parse in (parse_select, parse_order, parse_operation):
        try:
            parse.__wrapped__(text)  # type: ignore[attr-defined]
        except GrammarError as first:
            try:
                parse.__wrapped__(text)  # type: ignore[attr-defined]
            except GrammarError as second:
                assert first.as_body() == second.as_body()
                assert "(line " in first.message and ", column " in first.message


# ---------------------------------------------------------------------------------------------
# (2) round trips through a renderer


def q(text: str) -> str:
    """Quote a name or value the way PostgREST reads it back: backslash escapes `\\` and `"`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


names = st.text(min_size=0, max_size=8)
idents = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
json_ops = st.builds(JsonOp, st.sampled_from(["->", "->>"]), st.one_of(st.integers(-99, 99), names))
fields = st.builds(Field, names, st.lists(json_ops, max_size=3).map(tuple))


def render_field(f: Field) -> str:
    out = q(f.name)
    for op in f.json_path:
        out += op.arrow + (str(op.key) if isinstance(op.key, int) else q(op.key))
    return out


select_fields = st.builds(
    SelectField,
    fields,
    st.none() | names,
    st.none() | idents,
    st.none() | st.sampled_from(["sum", "avg", "count", "max", "min"]),
    st.none() | idents,
).filter(lambda s: s.aggregate or s.aggregate_cast is None)
leaf_items = st.one_of(
    st.just(SelectStar()),
    select_fields,
    st.builds(SelectCount, st.none() | names, st.none() | idents),
)


def _embeds(children: st.SearchStrategy[tuple[SelectItem, ...]]) -> st.SearchStrategy:
    return st.builds(
        SelectEmbed,
        names.filter(lambda n: n != "count"),
        st.none() | names,
        st.none() | names,
        st.none() | st.sampled_from(["inner", "left"]),
        st.booleans(),
        children,
    ).map(
        lambda e: SelectEmbed(e.relation, None, e.hint, e.join, True, e.children) if e.spread else e
    )


select_items = st.recursive(
    leaf_items, lambda inner: _embeds(st.lists(inner, max_size=3).map(tuple)), max_leaves=8
)


def render_item(item: SelectItem) -> str:
    if isinstance(item, SelectStar):
        return "*"
    if isinstance(item, SelectCount):
        alias = q(item.alias) + ":" if item.alias is not None else ""
        return alias + "count()" + (f"::{item.cast}" if item.cast else "")
    if isinstance(item, SelectField):
        out = (q(item.alias) + ":" if item.alias is not None else "") + render_field(item.field)
        out += f"::{item.cast}" if item.cast else ""
        out += f".{item.aggregate}()" if item.aggregate else ""
        return out + (f"::{item.aggregate_cast}" if item.aggregate_cast else "")
    out = "..." if item.spread else ""
    out += q(item.alias) + ":" if item.alias is not None else ""
    out += q(item.relation)
    out += "!" + q(item.hint) if item.hint is not None else ""
    out += "!" + item.join if item.join else ""
    return out + "(" + ",".join(map(render_item, item.children)) + ")"


@SETTINGS
@given(st.lists(select_items, max_size=4).map(tuple))
def test_select_round_trip(items: tuple[SelectItem, ...]) -> None:
    assert parse_select(",".join(map(render_item, items))) == items


@SETTINGS
@given(st.lists(names, min_size=1, max_size=4), st.lists(json_ops, max_size=3))
def test_filter_key_round_trip(parts: list[str], path: list[JsonOp]) -> None:
    key = "".join(q(p) + "." for p in parts[:-1]) + render_field(Field(parts[-1], tuple(path)))
    assert parse_filter_key(key) == (tuple(parts[:-1]), Field(parts[-1], tuple(path)))


quant_ops = ["eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"]
plain_ops = ["neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "isdistinct"]
fts_ops = ["fts", "plfts", "phfts", "wfts"]
values = st.text(max_size=10)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    negated = draw(st.booleans())
    kind = draw(st.sampled_from(["quant", "plain", "fts", "in", "is"]))
    if kind == "quant":
        return Operation(
            draw(st.sampled_from(quant_ops)),
            draw(values),
            negated,
            draw(st.none() | st.sampled_from(["any", "all"])),
        )
    if kind == "plain":
        return Operation(draw(st.sampled_from(plain_ops)), draw(values), negated)
    if kind == "fts":
        return Operation(
            draw(st.sampled_from(fts_ops)), draw(values), negated, language=draw(st.none() | idents)
        )
    if kind == "in":
        items = draw(st.lists(values, max_size=4).map(tuple))
        return Operation("in", items, negated)
    is_value = draw(st.sampled_from(["null", "not_null", "true", "false", "unknown"]))
    return Operation("is", is_value, negated)


def render_op(op: Operation, quote_value: bool) -> str:
    out = "not." if op.negated else ""
    out += op.operator
    out += f"({op.quantifier})" if op.quantifier else ""
    out += f"({op.language})" if op.language else ""
    if op.operator == "in":
        return out + ".(" + ",".join(map(q, op.value)) + ")"
    if op.operator == "is":
        return out + "." + str(op.value).upper()
    return out + "." + (q(str(op.value)) if quote_value else str(op.value))


@SETTINGS
@given(operations())
def test_operation_round_trip(op: Operation) -> None:
    assert parse_operation(render_op(op, quote_value=False)) == op


logic_filters = st.builds(Filter, fields, operations())
logic_trees = st.recursive(
    st.builds(
        LogicTree,
        st.sampled_from(["and", "or"]),
        st.lists(logic_filters, min_size=1, max_size=3).map(tuple),
        st.booleans(),
    ),
    lambda inner: st.builds(
        LogicTree,
        st.sampled_from(["and", "or"]),
        st.lists(inner | logic_filters, min_size=1, max_size=3).map(tuple),
        st.booleans(),
    ),
    max_leaves=6,
)


def render_node(node: LogicTree | Filter) -> str:
    if isinstance(node, Filter):
        return render_field(node.field) + "." + render_op(node.operation, quote_value=True)
    prefix = "not." if node.negated else ""
    return prefix + node.operator + "(" + ",".join(map(render_node, node.children)) + ")"


@SETTINGS
@given(logic_trees)
def test_logic_tree_round_trip(tree: LogicTree) -> None:
    value = "(" + ",".join(map(render_node, tree.children)) + ")"
    assert parse_logic_tree(tree.operator, tree.negated, value) == tree


order_terms = st.builds(
    OrderTerm,
    fields,
    st.none() | names,
    st.none() | st.sampled_from(["asc", "desc"]),
    st.none() | st.sampled_from(["first", "last"]),
)


def render_order(term: OrderTerm) -> str:
    out = render_field(term.field)
    if term.relation is not None:
        out = q(term.relation) + "(" + out + ")"
    out += f".{term.direction}" if term.direction else ""
    return out + (f".nulls{term.nulls}" if term.nulls else "")


@SETTINGS
@given(st.lists(order_terms, min_size=1, max_size=4).map(tuple))
def test_order_round_trip(terms: tuple[OrderTerm, ...]) -> None:
    assert parse_order(",".join(map(render_order, terms))) == terms


@SETTINGS
@given(st.lists(names, min_size=1, max_size=5).map(tuple))
def test_columns_round_trip(cols: tuple[str, ...]) -> None:
    assert parse_columns(",".join(map(q, cols))) == cols


@SETTINGS
@given(st.integers(0, 10**12), st.integers(0, 10**6))
def test_range_round_trip(lower: int, size: int) -> None:
    assert parse_range_header(f"{lower}-{lower + size}") == (lower, size + 1)
    assert parse_range_header(f"{lower}-") == (lower, None)


@SETTINGS
@given(st.integers(0, 10**18))
def test_non_negative_int_round_trip(n: int) -> None:
    assert parse_integer(str(n), "limit") == n

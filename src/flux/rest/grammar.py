"""PostgREST v14 query-string and header grammar, as pure functions.

This module owns parsing only: `select=`, filter keys and values (`not.`, every operator,
`(any)`/`(all)`, `fts(lang)`, `in.(...)` lists with quoting), `or=`/`and=` logic trees, `order=`,
embedded keys (`clients.order`, `clients.limit`), `columns=`/`on_conflict=`, and the `Prefer`,
`Accept` and `Range` headers. It mirrors PostgREST's Parsec grammar
(`src/PostgREST/ApiRequest/QueryParams.hs`) with a hand-written recursive-descent cursor.

Every failure raises `GrammarError` (code `PGRST100`, or `PGRST103` for an unsatisfiable
`Range`) whose message and details follow PostgREST's shape:
`"failed to parse filter (abc)" (line 1, column 1)` / `unexpected "a" expecting ...`.

As in PostgREST, `(any)`/`(all)` apply to eq gt gte lt lte like ilike match imatch (not neq),
top-level filter values are raw (quotes are only syntax inside `in.(...)` and logic trees) and
`is.` values are case-insensitive.

Deliberate differences from PostgREST, none visible to well-formed requests: trailing unparsed
input is an error instead of being silently dropped (PostgREST's parsers do not demand end of
input); a numeric JSON path step (`arr->0`) is an array index also when followed by `)` or a
blank; `in.()` yields an empty tuple (`in.("")` is one empty string); blanks may follow `*`
in `select`; inside logic trees `not.col.op.val` is accepted as `col.not.op.val`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Literal, NoReturn, TypeVar

from flux.errors import FluxError

__all__ = [
    "Field",
    "Filter",
    "GrammarError",
    "JsonOp",
    "LogicTree",
    "MediaType",
    "Operation",
    "OrderTerm",
    "Preferences",
    "SelectCount",
    "SelectEmbed",
    "SelectField",
    "SelectItem",
    "SelectStar",
    "parse_accept",
    "parse_columns",
    "parse_filter_key",
    "parse_limit_key",
    "parse_logic_key",
    "parse_logic_tree",
    "parse_integer",
    "parse_offset_key",
    "parse_operation",
    "parse_order",
    "parse_order_key",
    "parse_prefer",
    "parse_range_header",
    "parse_select",
]

_CACHE = 4096  # entries per parser
_CACHE_MAX_CHARS = 1024  # longer inputs are parsed every time, so the caches stay small
_MAX_DEPTH = 48  # embed / logic-tree nesting; deeper is a GrammarError, never a RecursionError
_T = TypeVar("_T", bound=Callable[..., object])


def _memoised(fn: _T) -> _T:
    """`lru_cache` for pure parsers, bypassed for long inputs (bounded memory per process)."""
    cached = lru_cache(maxsize=_CACHE)(fn)

    @wraps(fn)
    def parse(*args: object) -> object:
        size = 0
        for a in args:
            if isinstance(a, str):
                size += len(a)
            elif isinstance(a, tuple):
                size += sum(len(x) for x in a)
        return fn(*args) if size > _CACHE_MAX_CHARS else cached(*args)

    parse.cache_info = cached.cache_info  # type: ignore[attr-defined]
    parse.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return parse  # type: ignore[return-value]


class GrammarError(FluxError):
    """A request that does not follow PostgREST's grammar (HTTP 400, or 416 for PGRST103)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint, status=416 if code == "PGRST103" else 400)
        self.details = details
        self.position = position  # offset of the failure in the parsed text, for error merging

    def as_body(self) -> dict[str, str | None]:
        """The PostgREST error body `{"code","message","details","hint"}`."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        }


# ---------------------------------------------------------------------------------------------
# Parsed shapes (the contract shared with the rest of flux.rest)


@dataclass(frozen=True, slots=True)
class JsonOp:
    arrow: Literal["->", "->>"]
    key: str | int  # int = array index


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    json_path: tuple[JsonOp, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectStar:
    pass


@dataclass(frozen=True, slots=True)
class SelectField:
    field: Field
    alias: str | None = None
    cast: str | None = None
    aggregate: str | None = None  # count|sum|avg|max|min
    aggregate_cast: str | None = None


@dataclass(frozen=True, slots=True)
class SelectCount:
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True, slots=True)
class SelectEmbed:
    relation: str
    alias: str | None = None
    hint: str | None = None
    join: Literal["inner", "left"] | None = None
    spread: bool = False
    children: tuple[SelectItem, ...] = ()


SelectItem = SelectStar | SelectField | SelectCount | SelectEmbed


@dataclass(frozen=True, slots=True)
class Operation:
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    field: Field
    operation: Operation


@dataclass(frozen=True, slots=True)
class LogicTree:
    operator: Literal["and", "or"]
    children: tuple[LogicTree | Filter, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class OrderTerm:
    field: Field
    relation: str | None = None
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    timezone: str | None = None
    max_affected: int | None = None
    params: str | None = None
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaType:
    """One Accept entry. `params` is shared between cached results: treat it as read-only."""

    type: str
    subtype: str
    params: dict[str, str]
    q: float


# ---------------------------------------------------------------------------------------------
# Cursor and error reporting

_WS = " \t"
_FIELD_NAME = "field name (* or [a..z0..9_$])"
_OPERATOR = "operator (eq, gt, ...)"
_SIMPLE_OPS = frozenset({"neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"})
_QUANT_OPS = frozenset({"eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"})
_FTS_OPS = frozenset({"fts", "plfts", "phfts", "wfts"})
_IS_VALUES = ("null", "not_null", "true", "false", "unknown")
_AGGREGATES = ("sum", "avg", "count", "max", "min")
_OP_WORD = re.compile(r"[a-z]+")
_JSON_INDEX = re.compile(r"-?[0-9]+")
_ASCII_IDENT = re.compile(r"[A-Za-z0-9_ $]*")
_JSON_KEY = re.compile(r"[^(\-:.,>)]*")
_JSON_INDEX_END = ("->", "::", ".", ",", ")", " ", "\t")


def _is_ident_char(c: str) -> bool:
    return c.isalpha() or "0" <= c <= "9" or c in "_ $"


_HS_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _hs_show(c: str) -> str:
    """A character as Haskell's `show [c]` prints it (Parsec's "unexpected ..." details)."""
    if c in _HS_ESCAPES:
        return '"' + _HS_ESCAPES[c] + '"'
    return '"' + (c if " " <= c <= "~" else f"\\{ord(c)}") + '"'


def _column(text: str, pos: int) -> tuple[int, int]:
    """Parsec-style (line, column) of `pos`: 1-based, tabs advance to the next 8-column stop."""
    line = text.count("\n", 0, pos) + 1
    col = 1
    for c in text[text.rfind("\n", 0, pos) + 1 : pos]:
        col = col + 8 - (col - 1) % 8 if c == "\t" else col + 1
    return line, col


class _Cursor:
    """A position in one string plus the PostgREST source name used in error messages."""

    __slots__ = ("s", "i", "n", "src", "depth")

    def __init__(self, s: str, src: str) -> None:
        self.s = s
        self.i = 0
        self.n = len(s)
        self.src = src
        self.depth = 0

    def enter(self) -> None:
        """One nesting level down (embed children, logic tree operands)."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            self.fail(f"at most {_MAX_DEPTH} levels of nesting")

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def at(self, lit: str) -> bool:
        return self.s.startswith(lit, self.i)

    def eof(self) -> bool:
        return self.i >= self.n

    def skip_ws(self) -> None:
        s, i, n = self.s, self.i, self.n
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def error(
        self, expecting: str | None, pos: int | None = None, shown: int | None = None
    ) -> GrammarError:
        """Error at `pos`; `shown` is where the unexpected character is (default `pos`)."""
        pos = self.i if pos is None else pos
        shown = pos if shown is None else shown
        line, col = _column(self.s, pos)
        if shown < self.n:
            unexpected = "unexpected " + _hs_show(self.s[shown])
        else:
            unexpected = "unexpected end of input"
        details = f"{unexpected} expecting {expecting}" if expecting else unexpected
        return GrammarError(
            "PGRST100", f'"{self.src}" (line {line}, column {col})', details, position=pos
        )

    def fail(
        self, expecting: str | None, pos: int | None = None, shown: int | None = None
    ) -> NoReturn:
        raise self.error(expecting, pos, shown)

    def expect(self, ch: str, expecting: str | None = None) -> None:
        if self.i < self.n and self.s[self.i] == ch:
            self.i += 1
        else:
            self.fail(expecting or f'"{ch}"')

    def finish(self, expecting: str) -> None:
        """Demand end of input (PostgREST would silently ignore the rest)."""
        if self.i < self.n:
            self.fail(expecting)


def _further(a: GrammarError, b: GrammarError) -> GrammarError:
    """Of two alternative failures, the one that got further (Parsec's error merging)."""
    return a if (a.position or 0) >= (b.position or 0) else b


# ---------------------------------------------------------------------------------------------
# Lexical pieces shared by every parameter


def _quoted(p: _Cursor) -> str:
    """`"..."` with backslash escaping any character; the cursor is on the opening quote."""
    s, n = p.s, p.n
    i = p.i + 1
    out: list[str] = []
    start = i
    while i < n:
        c = s[i]
        if c == '"':
            out.append(s[start:i])
            p.i = i + 1
            return "".join(out)
        if c == "\\":
            out.append(s[start:i])
            if i + 1 >= n:
                break
            out.append(s[i + 1])
            i += 2
            start = i
            continue
        i += 1
    p.fail('"\\""', n)


def _identifier(p: _Cursor, expecting: str = _FIELD_NAME) -> str:
    """Parsec's `pIdentifier`: letters, ASCII digits, `_`, ` `, `$`; stripped of blanks."""
    s, n, start = p.s, p.n, p.i
    i = _ASCII_IDENT.match(s, start).end()  # type: ignore[union-attr]
    while i < n and _is_ident_char(s[i]):  # a non-ASCII letter: keep going
        i = _ASCII_IDENT.match(s, i + 1).end()  # type: ignore[union-attr]
    if i == start:
        p.fail(expecting)
    p.i = i
    return s[start:i].strip()


def _dash_separated(p: _Cursor, part: Callable[[_Cursor], str]) -> str:
    """`part(-part)*` where a `-` starting `->` ends the name (it is a JSON arrow)."""
    parts = [part(p)]
    while p.at("-") and not p.at("->"):
        p.i += 1
        parts.append(part(p))
    return "-".join(parts)


def _field_name(p: _Cursor) -> str:
    if p.peek() == '"':
        return _quoted(p)
    return _dash_separated(p, _identifier)


def _can_start_field_name(p: _Cursor) -> bool:
    c = p.peek()
    return c == '"' or (c != "" and _is_ident_char(c))


def _json_key_part(p: _Cursor) -> str:
    start = p.i
    end = _JSON_KEY.match(p.s, start).end()  # type: ignore[union-attr]
    if end == start:
        p.fail("any non reserved character different from: .,>()")
    p.i = end
    return p.s[start:end].strip()


def _json_path(p: _Cursor) -> tuple[JsonOp, ...]:
    ops: list[JsonOp] = []
    while p.at("->"):
        arrow: Literal["->", "->>"]
        if p.at("->>"):
            arrow, p.i = "->>", p.i + 3
        else:
            arrow, p.i = "->", p.i + 2
        m = _JSON_INDEX.match(p.s, p.i)
        if m and (m.end() == p.n or p.s.startswith(_JSON_INDEX_END, m.end())):
            p.i = m.end()
            ops.append(JsonOp(arrow, int(m.group())))
        elif p.peek() == '"':
            ops.append(JsonOp(arrow, _quoted(p)))
        else:
            try:
                ops.append(JsonOp(arrow, _dash_separated(p, _json_key_part)))
            except GrammarError as e:
                if m is None or (e.position or 0) >= m.end():
                    raise
                p.fail('digit, "->", "::", ".", ",", ")" or end of input', m.end())
    return tuple(ops)


def _field(p: _Cursor) -> Field:
    """PostgREST's `pField`: blanks, a field name, an optional JSON path, blanks."""
    p.skip_ws()
    name = _field_name(p)
    path = _json_path(p) if p.at("->") else ()
    p.skip_ws()
    return Field(name, path)


def _cast(p: _Cursor) -> str | None:
    if not p.at("::"):
        return None
    p.i += 2
    return _identifier(p, "letter or digit")


# ---------------------------------------------------------------------------------------------
# select=


def _embed_params(p: _Cursor) -> tuple[str | None, Literal["inner", "left"] | None]:
    hint: str | None = None
    join: Literal["inner", "left"] | None = None
    for _ in range(2):
        if p.peek() != "!":
            break
        p.i += 1
        if p.at("left"):
            p.i += 4
            join = join or "left"
        elif p.at("inner"):
            p.i += 5
            join = join or "inner"
        else:
            name = _field_name(p)
            if hint is None:
                hint = name
    return hint, join


def _select_end(p: _Cursor, expecting: str) -> None:
    p.skip_ws()
    if p.peek() not in ("", ",", ")"):
        p.fail(expecting)


def _embed(p: _Cursor, relation: str, alias: str | None, spread: bool) -> SelectEmbed | None:
    """`!hint`/`!inner` and `(children)` after a relation name; None if no `(` follows."""
    hint, join = _embed_params(p)
    if p.peek() != "(":
        return None
    p.i += 1
    p.enter()
    children = _select_forest(p)
    p.depth -= 1
    p.expect(")", '",", ")"')
    p.skip_ws()
    return SelectEmbed(relation, alias, hint, join, spread, children)


def _select_item(p: _Cursor) -> SelectItem:
    """One `select` item; a single left-to-right pass over PostgREST's three alternatives
    (spread embed, embed, field) which all begin with `[alias:]name`."""
    p.skip_ws()
    if p.at("..."):
        p.i += 3
        embed = _embed(p, _field_name(p), None, True)
        if embed is None:
            p.fail('"!" or "("')
        return embed
    if p.peek() == "*":
        p.i += 1
        _select_end(p, '")", "," or end of input')
        return SelectStar()
    alias = None
    name_at = p.i
    name = _field_name(p)
    if p.peek() == ":" and not p.at("::"):
        p.i += 1
        alias, name_at = name, p.i
        name = _field_name(p)
    if p.peek() in ("!", "("):
        if name != "count":
            after_name = p.i
            embed = _embed(p, name, alias, False)
            if embed is not None:
                return embed
            p.i = after_name
        elif p.s[name_at] != '"' and p.at("()"):
            p.i += 2
            cast = _cast(p)
            _select_end(p, '"::", ")", "," or end of input')
            return SelectCount(alias, cast)
    fld = Field(name, _json_path(p) if p.at("->") else ())
    p.skip_ws()
    cast = _cast(p)
    aggregate = None
    if p.peek() == ".":
        for agg in _AGGREGATES:
            if p.s.startswith(agg + "()", p.i + 1):
                aggregate = agg
                p.i += len(agg) + 3
                break
    aggregate_cast = _cast(p) if aggregate else None
    _select_end(p, 'letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input')
    return SelectField(fld, alias, cast, aggregate, aggregate_cast)


def _select_forest(p: _Cursor) -> tuple[SelectItem, ...]:
    if p.eof() or p.peek() == ")":
        return ()
    items = [_select_item(p)]
    while p.peek() == ",":
        p.i += 1
        items.append(_select_item(p))
    return tuple(items)


@_memoised
def parse_select(value: str) -> tuple[SelectItem, ...]:
    """Parse `select=`; an empty string selects nothing (PostgREST returns `{}` rows).

    Like PostgREST, whatever follows the last complete item is ignored (`a,b(c))` selects
    `a,b(c)`): clients send such strings and PostgREST answers them.
    """
    p = _Cursor(value, f"failed to parse select parameter ({value})")
    return _select_forest(p)


# ---------------------------------------------------------------------------------------------
# filters


def _key_path(p: _Cursor) -> list[str]:
    parts = [_field_name(p)]
    while p.peek() == ".":
        p.i += 1
        parts.append(_field_name(p))
    return parts


@_memoised
def parse_filter_key(key: str) -> tuple[tuple[str, ...], Field]:
    """`clients.data->a->>b` -> (("clients",), Field("data", (->a, ->>b)))."""
    p = _Cursor(key, f"failed to parse tree path ({key})")
    parts = _key_path(p)
    path = _json_path(p)
    p.finish('delimiter (.), "->>", "->" or end of input')
    return tuple(parts[:-1]), Field(parts[-1], path)


def _list_value(p: _Cursor) -> tuple[str, ...]:
    """`(a,"b,c",d)`: quoted elements drop quotes and apply backslash escapes; `()` is empty."""
    p.expect("(")
    p.skip_ws()
    s, n = p.s, p.n
    items: list[str] = []
    quoted = False
    while True:
        start = p.i
        quoted = False
        if p.peek() == '"':
            try:
                item = _quoted(p)
                quoted = p.peek() in ("", ",", ")")
            except GrammarError:
                pass
        if quoted:
            items.append(item)
        else:
            i = p.i = start
            while i < n and s[i] not in ",)":
                i += 1
            items.append(s[start:i])
            p.i = i
        if p.peek() != ",":
            break
        p.i += 1
    p.expect(")", '"," or ")"')
    p.skip_ws()
    if len(items) == 1 and not items[0] and not quoted:
        return ()
    return tuple(items)


def _logic_value(p: _Cursor) -> str:
    """A value inside `or=(...)`: `"quoted"`, `{pg,array}`, or text up to `,` or `)`."""
    s, n = p.s, p.n
    start = p.i
    c = p.peek()
    if c == '"':
        try:
            value = _quoted(p)
            if p.peek() in ("", ",", ")"):
                return value
        except GrammarError:
            pass
        p.i = start
    elif c == "{":
        close = s.find("}", start + 1)
        if close != -1 and "{" not in s[start + 1 : close]:
            p.i = close + 1
            return s[start : p.i]
    i = start
    while i < n and s[i] not in ",)":
        i += 1
    p.i = i
    return s[start:i]


def _op_expr(p: _Cursor, in_logic: bool) -> Operation:
    negated = False
    if p.at("not."):
        negated = True
        p.i += 4
    start = p.i
    m = _OP_WORD.match(p.s, start)
    word = m.group() if m else ""
    known = (
        word in _QUANT_OPS
        or word in _SIMPLE_OPS
        or word in _FTS_OPS
        or word in ("in", "is", "isdistinct")
    )
    if not known:
        if negated:
            p.fail(_OPERATOR, start)
        # Parsec tried `not` first: it shows the first character that is not part of "not"
        shown = start
        while shown < p.n and shown - start < 3 and p.s[shown] == "not"[shown - start]:
            shown += 1
        p.fail(f'"not" or {_OPERATOR}', start, shown)
    p.i = m.end()  # type: ignore[union-attr]
    quantifier: Literal["any", "all"] | None = None
    language = None
    if p.peek() == "(":
        if word in _QUANT_OPS and (p.at("(any)") or p.at("(all)")):
            quantifier = "any" if p.at("(any)") else "all"
            p.i += 5
        elif word in _FTS_OPS:
            save = p.i
            p.i += 1
            try:
                language = _identifier(p, "letter or digit")
            except GrammarError:
                language = None
            if language is not None and p.peek() == ")":
                p.i += 1
            else:
                language, p.i = None, save
    if p.peek() != ".":
        p.fail(_OPERATOR if p.peek() == "(" else "delimiter (.)")
    p.i += 1
    value: str | tuple[str, ...]
    if word == "in":
        value = _list_value(p)
    elif word == "is":
        value = _is_value(p)
    elif in_logic:
        value = _logic_value(p)
    else:
        value = p.s[p.i :]
        p.i = p.n
    return Operation(word, value, negated, quantifier, language)


def _is_value(p: _Cursor) -> str:
    for v in _IS_VALUES:
        if p.s[p.i : p.i + len(v)].lower() == v:
            p.i += len(v)
            return v
    p.fail("isVal: (null, not_null, true, false, unknown)")


@_memoised
def parse_operation(value: str) -> Operation:
    """A filter value: `[not.]op[(any|all)|(lang)].value`, `in.(...)`, `is.null`."""
    p = _Cursor(value, f"failed to parse filter ({value})")
    op = _op_expr(p, in_logic=False)
    p.skip_ws()
    p.finish("end of input")
    return op


# ---------------------------------------------------------------------------------------------
# or= / and= logic trees


def _key_last_word(key: str) -> str:
    return key.rsplit(".", 1)[-1]


@_memoised
def parse_logic_key(key: str) -> tuple[tuple[str, ...], str, bool] | None:
    """`clients.not.or` -> (("clients",), "or", True); keys not ending in and/or -> None."""
    if _key_last_word(key) not in ("and", "or"):
        return None
    p = _Cursor(key, f"failed to parse logic path ({key})")
    parts = _key_path(p)
    p.finish("delimiter (.) or end of input")
    embed = tuple(x for x in parts[:-1] if x != "not")
    return embed, parts[-1], "not" in parts[:-1]


def _logic_filter(p: _Cursor) -> Filter | None:
    """`field.op.value` inside a tree, or None (cursor restored) when it is not one."""
    start = p.i
    p.skip_ws()
    if not _can_start_field_name(p):
        p.i = start
        return None
    fld = _field(p)
    if p.peek() != ".":
        p.i = start
        return None
    p.i += 1
    return Filter(fld, _op_expr(p, in_logic=True))


def _logic_node(p: _Cursor) -> LogicTree | Filter:
    """A tree child: `field.[not.]op.value`, `[not.]and(...)`/`[not.]or(...)`, or (a Flux
    extension PostgREST rejects) `not.field.op.value`, the negated filter."""
    start, depth = p.i, p.depth
    try:
        node = _logic_filter(p)
    except GrammarError as e:
        p.i = start
        try:
            return _logic_expr(p, False)
        except GrammarError as e2:
            p.i, p.depth = start, depth
            negated = _negated_logic_filter(p)
            if negated is None:
                raise _further(e, e2) from None
            return negated
    return node if node is not None else _logic_expr(p, False)


def _negated_logic_filter(p: _Cursor) -> Filter | None:
    start = p.i
    p.skip_ws()
    if not p.at("not."):
        return None
    p.i += 4
    try:
        node = _logic_filter(p)
    except GrammarError:
        node = None
    if node is None or node.operation.negated:
        p.i = start
        return None
    op = node.operation
    return Filter(node.field, Operation(op.operator, op.value, True, op.quantifier, op.language))


def _logic_expr(p: _Cursor, root: bool) -> LogicTree:
    negated = False
    if p.at("not."):
        negated = True
        p.i += 4
    if p.at("and"):
        op: Literal["and", "or"] = "and"
        p.i += 3
    elif p.at("or"):
        op = "or"
        p.i += 2
    elif negated or root:
        p.fail("logic operator (and, or)")
    else:
        p.fail(f"{_FIELD_NAME}, negation operator (not) or logic operator (and, or)")
    p.skip_ws()
    p.expect("(")
    p.skip_ws()
    p.enter()
    children = [_logic_node(p)]
    p.skip_ws()
    while p.peek() == ",":
        p.i += 1
        p.skip_ws()
        children.append(_logic_node(p))
        p.skip_ws()
    p.expect(")", '"," or ")"')
    p.skip_ws()
    p.depth -= 1
    return LogicTree(op, tuple(children), negated)


@_memoised
def parse_logic_tree(operator: str, negated: bool, value: str) -> LogicTree:
    """`or=(a.eq.1,and(b.gt.2,not.c.is.null))` -> a LogicTree (positions count `or` too)."""
    text = ("not." if negated else "") + operator + value
    p = _Cursor(text, f"failed to parse logic tree ({value})")
    tree = _logic_expr(p, True)
    p.finish("end of input")
    return tree


# ---------------------------------------------------------------------------------------------
# order=, limit/offset keys, columns=


def _order_term(p: _Cursor) -> OrderTerm:
    p.skip_ws()
    name = _field_name(p)
    relation = None
    if p.peek() == "(":
        p.i += 1
        fld = _field(p)
        p.expect(")")
        relation = name
    else:
        fld = Field(name, _json_path(p) if p.at("->") else ())
        p.skip_ws()
    direction: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None
    if p.at(".asc"):
        direction, p.i = "asc", p.i + 4
    elif p.at(".desc"):
        direction, p.i = "desc", p.i + 5
    if p.at(".nullsfirst"):
        nulls, p.i = "first", p.i + 11
    elif p.at(".nullslast"):
        nulls, p.i = "last", p.i + 10
    if p.peek() == ".":
        if direction or nulls:
            expected = '"nullsfirst" or "nullslast"' if not nulls else '"," or end of input'
        else:
            expected = '"asc", "desc", "nullsfirst" or "nullslast"'
        p.fail(expected, p.i + 1 if not nulls else p.i)
    p.skip_ws()
    if p.peek() not in ("", ","):
        p.fail('delimiter (.), "," or end of input' if not nulls else '"," or end of input')
    return OrderTerm(fld, relation, direction, nulls)


@_memoised
def parse_order(value: str) -> tuple[OrderTerm, ...]:
    """`name.desc.nullslast,clients(name).asc,data->>x` -> OrderTerms."""
    p = _Cursor(value, f"failed to parse order ({value})")
    terms = [_order_term(p)]
    while p.peek() == ",":
        p.i += 1
        terms.append(_order_term(p))
    return tuple(terms)


def _embed_key(key: str, word: str) -> tuple[str, ...] | None:
    if _key_last_word(key) != word:
        return None
    p = _Cursor(key, f"failed to parse tree path ({key})")
    parts = _key_path(p)
    p.finish("delimiter (.) or end of input")
    return tuple(parts[:-1])


@_memoised
def parse_order_key(key: str) -> tuple[str, ...] | None:
    """`order` -> (), `clients.order` -> ("clients",), other keys -> None."""
    return _embed_key(key, "order")


@_memoised
def parse_limit_key(key: str) -> tuple[str, ...] | None:
    """`limit` -> (), `clients.limit` -> ("clients",), other keys -> None."""
    return _embed_key(key, "limit")


@_memoised
def parse_offset_key(key: str) -> tuple[str, ...] | None:
    """`offset` -> (), `clients.offset` -> ("clients",), other keys -> None."""
    return _embed_key(key, "offset")


def parse_integer(value: str, what: str) -> int:
    """`limit=10` / `offset=-4`: an optional `-` then digits (blanks around allowed), or
    GrammarError PGRST100. The sign is the caller's to judge (a negative limit is a 416)."""
    stripped = value.strip(" \t")
    digits = stripped[1:] if stripped.startswith("-") else stripped
    if digits.isascii() and digits.isdigit():
        return int(stripped)
    p = _Cursor(value, f"failed to parse {what} parameter ({value})")
    p.skip_ws()
    if p.peek() == "-":
        p.i += 1
    while p.peek() and "0" <= p.peek() <= "9":
        p.i += 1
    p.fail("digit")


@_memoised
def parse_columns(value: str, what: str = "columns") -> tuple[str, ...]:
    """`columns=a,b` / `on_conflict=a,b` (`what` names the parameter in errors)."""
    p = _Cursor(value, f"failed to parse {what} parameter ({value})")
    names = []
    while True:
        p.skip_ws()
        names.append(_field_name(p))
        p.skip_ws()
        if p.peek() != ",":
            break
        p.i += 1
    p.finish('"," or end of input')
    return tuple(names)


# ---------------------------------------------------------------------------------------------
# headers

_RANGE = re.compile(r"([0-9]+)-([0-9]*)")


@_memoised
def parse_range_header(value: str) -> tuple[int, int | None]:
    """`Range: 0-9` -> (offset 0, limit 10); `5-` -> (5, None); unparsable -> (0, None).

    A lower bound above the upper one is PGRST103 (HTTP 416), like PostgREST.
    """
    m = _RANGE.fullmatch(value)
    if m is None:
        return 0, None
    lower = int(m.group(1))
    if not m.group(2):
        return lower, None
    upper = int(m.group(2))
    if lower > upper:
        raise GrammarError(
            "PGRST103",
            "Requested range not satisfiable",
            "The lower boundary must be lower than or equal to the upper boundary in the Range "
            "header.",
        )
    return lower, upper - lower + 1


_PREF_FIELDS: dict[str, tuple[str, str]] = {
    "return=representation": ("return_", "representation"),
    "return=minimal": ("return_", "minimal"),
    "return=headers-only": ("return_", "headers-only"),
    "count=exact": ("count", "exact"),
    "count=planned": ("count", "planned"),
    "count=estimated": ("count", "estimated"),
    "resolution=merge-duplicates": ("resolution", "merge-duplicates"),
    "resolution=ignore-duplicates": ("resolution", "ignore-duplicates"),
    "missing=default": ("missing", "default"),
    "missing=null": ("missing", "null"),
    "handling=strict": ("handling", "strict"),
    "handling=lenient": ("handling", "lenient"),
    "tx=commit": ("tx", "commit"),
    "tx=rollback": ("tx", "rollback"),
    "params=single-object": ("params", "single-object"),
}


def parse_prefer(values: list[str]) -> Preferences:
    """All `Prefer` headers, comma lists; the first token of each kind wins (like PostgREST).

    `timezone=` is taken verbatim (the caller checks it against pg_timezone_names);
    `max-affected=` that is not an integer is ignored; anything else unknown is `invalid`.
    """
    return _parse_prefer(tuple(values))


@_memoised
def _parse_prefer(values: tuple[str, ...]) -> Preferences:
    found: dict[str, str | int | None] = {}
    invalid: list[str] = []
    for header in values:
        for raw in header.split(","):
            token = raw.strip()
            if not token:
                continue
            known = _PREF_FIELDS.get(token)
            if known is not None:
                found.setdefault(known[0], known[1])
            elif token.startswith("timezone="):
                found.setdefault("timezone", token[9:])
            elif token.startswith("max-affected="):
                number = token[13:].strip()
                if "max_affected" not in found:
                    found["max_affected"] = (
                        int(number) if re.fullmatch(r"-?[0-9]+", number) else None
                    )
            else:
                invalid.append(token)
    return Preferences(invalid=tuple(invalid), **found)  # type: ignore[arg-type]


_ANY = MediaType("*", "*", {}, 1.0)


def _media_type(entry: str) -> tuple[MediaType, int] | None:
    parts = [x.strip() for x in entry.split(";")]
    kind = parts[0].lower()
    if not kind:
        return None
    typ, _, sub = kind.partition("/")
    q = 1.0
    params: dict[str, str] = {}
    for part in parts[1:]:
        name, _, val = part.partition("=")
        name, val = name.strip().lower(), val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        if name == "q":
            try:
                q = min(max(float(val), 0.0), 1.0)
            except ValueError:
                q = 1.0
        elif name:
            params[name] = val
    return MediaType(typ, sub, params, q), kind.count("*")


@_memoised
def parse_accept(value: str | None) -> tuple[MediaType, ...]:
    """`Accept` entries sorted like WAI's parseHttpAccept: by q, then by specificity (number
    of parameters minus number of `*`), both descending; stable otherwise.

    A missing or blank header means `*/*`.
    """
    if value is None or not value.strip():
        return (_ANY,)
    parsed = [m for m in map(_media_type, value.split(",")) if m is not None]
    if not parsed:
        return (_ANY,)
    parsed.sort(key=lambda m: (-m[0].q, m[1] - len(m[0].params)))
    return tuple(m for m, _ in parsed)

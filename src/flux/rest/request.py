"""HTTP request → ApiRequest: the parsed query string, headers and preferences.

This is PostgREST's ApiRequest step: it knows the grammar, not the schema. Parse failures
surface as `ApiError`s (400 PGRST100, 416 PGRST103) built from `GrammarError`s.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from flux.rest import grammar as g
from flux.rest.errors import ApiError, invalid_range

EmbedPath = tuple[str, ...]


@dataclass(slots=True)
class QueryParams:
    select: tuple[g.SelectItem, ...] = (g.SelectStar(),)
    filters: list[tuple[EmbedPath, g.Filter]] = field(default_factory=list)
    logic: list[tuple[EmbedPath, g.LogicTree]] = field(default_factory=list)
    order: dict[EmbedPath, tuple[g.OrderTerm, ...]] = field(default_factory=dict)
    limit: dict[EmbedPath, int] = field(default_factory=dict)
    offset: dict[EmbedPath, int] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    rpc_args: list[tuple[str, str]] = field(default_factory=list)  # GET /rpc/fn?a=1


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    resource: str | None  # relation name; None for the root endpoint
    query: QueryParams
    headers: dict[str, str]  # lower-cased names (last value wins, as PostgREST)
    cookies: dict[str, str]
    preferences: g.Preferences
    accept: tuple[g.MediaType, ...]
    range: tuple[int, int | None] | None  # Range header as (offset, limit)
    profile: str | None  # Accept-Profile / Content-Profile header
    is_rpc: bool = False
    pairs: tuple[tuple[str, str], ...] = ()  # the query string as received

    def content_location(self) -> str:
        return content_location(self.resource or "", self.pairs)

    def headers_json(self) -> str:
        return json.dumps(self.headers, ensure_ascii=False, separators=(",", ":"))

    def cookies_json(self) -> str:
        return json.dumps(self.cookies, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)  # clients repeat their reads: keep the hot path cheap
def content_location(resource: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """`/<resource>?<query>` with the parameters sorted by name (stable) and re-encoded as
    PostgREST's canonical query string (`Content-Location` of a read)."""
    path = "/" + quote(resource, safe="")
    if not pairs:
        return path
    ordered = sorted(pairs, key=lambda kv: kv[0])
    return path + "?" + "&".join(f"{quote_plus(k, '')}={quote_plus(v, '')}" for k, v in ordered)


def grammar_error(exc: g.GrammarError) -> ApiError:
    if exc.code == "PGRST103":
        return invalid_range(exc.details or "")
    return ApiError(exc.status, exc.code, exc.message, exc.details, exc.hint)


_OPERATOR_WORDS = frozenset(
    [
        "eq",
        "gte",
        "gt",
        "lte",
        "lt",
        "neq",
        "like",
        "ilike",
        "cs",
        "cd",
        "ov",
        "sl",
        "sr",
        "nxr",
        "nxl",
        "adj",
        "match",
        "imatch",
        "isdistinct",
    ]
)
_FTS_WORDS = frozenset(("fts", "plfts", "phfts", "wfts"))


def is_filter_value(key: str, value: str) -> bool:
    """PostgREST's split of RPC query pairs: filters have an operator (or an embed path)."""
    if "." in key:
        return True
    parts = value.split(".")
    if parts[0] == "not" and len(parts) > 1:
        return True
    if parts[0] in ("is", "in") or parts[0] in _OPERATOR_WORDS or parts[0] in _FTS_WORDS:
        return True
    head, paren, _ = value.partition("(")
    return bool(paren) and head in _FTS_WORDS


def parse_query(pairs: Iterable[tuple[str, str]], is_rpc: bool = False) -> QueryParams:
    """Classify and parse every query-string pair the way PostgREST does.

    For `/rpc/` calls, pairs without an operator are the function's named arguments.
    """
    params = QueryParams()
    try:
        for key, value in pairs:
            if key == "select":
                params.select = g.parse_select(value)
            elif key == "columns":
                params.columns = g.parse_columns(value)
            elif key == "on_conflict":
                params.on_conflict = g.parse_columns(value, "on_conflict")
            elif (path := g.parse_order_key(key)) is not None:
                params.order[path] = g.parse_order(value)
            elif (path := g.parse_limit_key(key)) is not None:
                params.limit[path] = g.parse_integer(value, "limit")
                if params.limit[path] < 0:
                    raise invalid_range("Limit should be greater than or equal to zero.")
            elif (path := g.parse_offset_key(key)) is not None:
                # as PostgREST: a negative offset does not move the lower bound
                params.offset[path] = max(g.parse_integer(value, "offset"), 0)
            elif (logic := g.parse_logic_key(key)) is not None:
                path, operator, negated = logic
                params.logic.append((path, g.parse_logic_tree(operator, negated, value)))
            elif is_rpc and not is_filter_value(key, value):
                params.rpc_args.append((key, value))
            else:
                path, fld = g.parse_filter_key(key)
                params.filters.append((path, g.Filter(fld, g.parse_operation(value))))
    except g.GrammarError as exc:
        raise grammar_error(exc) from None
    return params


def build_request(
    method: str,
    path: str,
    resource: str | None,
    query_pairs: Iterable[tuple[str, str]],
    raw_headers: Iterable[tuple[str, str]],
) -> ApiRequest:
    headers: dict[str, str] = {}
    prefer: list[str] = []
    for name, value in raw_headers:
        lname = name.lower()
        headers[lname] = value
        if lname == "prefer":
            prefer.append(value)
    cookies: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            cookies[k.strip()] = v.strip()
    try:
        preferences = g.parse_prefer(prefer)
        accept = g.parse_accept(headers.get("accept"))
        rng = None
        if (method in ("GET", "HEAD") or path.startswith("/rpc/")) and "range" in headers:
            unit = headers.get("range-unit", "items")
            if unit == "items":
                rng = g.parse_range_header(headers["range"])
    except g.GrammarError as exc:
        raise grammar_error(exc) from None
    is_rpc = path.startswith("/rpc/")
    pairs = tuple(query_pairs)
    query = parse_query(pairs, is_rpc)
    profile = (
        headers.get("accept-profile")
        if method in ("GET", "HEAD")
        else headers.get("content-profile")
    )
    return ApiRequest(
        method,
        path,
        resource,
        query,
        headers,
        cookies,
        preferences,
        accept,
        rng,
        profile,
        is_rpc,
        pairs,
    )

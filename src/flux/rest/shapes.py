"""Read requests → built SQL, cached per request shape (SPEC §9).

A request's shape is what decides its SQL: the schema snapshot (by serial, so a reloaded
snapshot never reuses entries), method, resource, the query string with the values of simple
comparison filters (`col=[not.]eq|neq|gt|gte|lt|lte.value`) taken out, and the headers that
change the plan (Accept, Prefer, Range). The SQL of a shape is built once from the request
with placeholders in place of those values; a hit copies the statements and puts the
request's own values where the placeholders went. A shape whose placeholders do not come
out as verbatim parameters is remembered as not cacheable.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

from flux.rest import grammar as g
from flux.rest.lru import LRU
from flux.rest.media import Media
from flux.rest.plan import ReadPlan
from flux.rest.request import ApiRequest, parse_query
from flux.rest.sql import Statement

SHAPES = 1000  # built read statements remembered per engine
_VALUE = re.compile(r"(?:not\.)?(?:eq|neq|gt|gte|lt|lte)\.")
_RESERVED = frozenset({"select", "order", "limit", "offset", "or", "and", "columns", "on_conflict"})
_MARK = "\ufdd0"  # a Unicode noncharacter: never part of a real request's SQL


@dataclass(frozen=True, slots=True)
class Shape:
    key: tuple[object, ...]
    pairs: tuple[tuple[str, str], ...]  # the query with placeholders for the values
    values: tuple[str, ...]  # the request's own values, placeholder order


def placeholder(index: int) -> str:
    return f"{_MARK}{index}{_MARK}"


def shape_of(api: ApiRequest, serial: Hashable) -> Shape | None:
    """The request's shape against `serial` (the snapshot's, with anything else the SQL depends
    on, such as the row limit); None when a value does not parse."""
    pairs: list[tuple[str, str]] = []
    values: list[str] = []
    for key, value in api.pairs:
        match = _VALUE.match(value)
        if match is None or key.rsplit(".", 1)[-1] in _RESERVED or _MARK in value:
            pairs.append((key, value))
            continue
        try:
            operation = g.parse_operation(value)
        except g.GrammarError:
            return None
        pairs.append((key, match.group() + placeholder(len(values))))
        values.append(str(operation.value))
    key = (
        serial,
        api.method,
        api.resource,
        tuple(pairs),
        api.headers.get("accept"),
        api.preferences,
        api.range,
    )
    return Shape(key, tuple(pairs), tuple(values))


def placeholder_request(api: ApiRequest, shape: Shape) -> ApiRequest:
    """The request as its shape: placeholders where the values were."""
    return replace(api, query=parse_query(shape.pairs, api.is_rpc))


@dataclass(frozen=True, slots=True)
class BuiltRead:
    """A shape's plan, media and statements; `slots` say where each request value goes."""

    plan: ReadPlan
    media: Media
    statements: tuple[Statement, ...]
    slots: tuple[tuple[tuple[int, int], ...], ...]  # per statement: (param index, value index)

    def statements_for(self, values: Sequence[str]) -> list[Statement]:
        out = []
        for statement, slots in zip(self.statements, self.slots, strict=True):
            if not slots:
                out.append(statement)
                continue
            params = list(statement.params)
            for param, value in slots:
                params[param] = values[value]
            out.append(Statement(statement.sql, params, statement.all_rows))
        return out


def template(
    plan: ReadPlan, media: Media, statements: Sequence[Statement], count: int
) -> BuiltRead | None:
    """A BuiltRead when every placeholder came out as a whole parameter (else None)."""
    names = {placeholder(i): i for i in range(count)}
    seen: set[int] = set()
    slots = []
    for statement in statements:
        if _MARK in statement.sql:
            return None
        found = []
        for index, param in enumerate(statement.params):
            if isinstance(param, str) and _MARK in param:
                if param not in names:
                    return None
                found.append((index, names[param]))
                seen.add(names[param])
        slots.append(tuple(found))
    if len(seen) != count:
        return None
    return BuiltRead(plan, media, tuple(statements), tuple(slots))


class ShapeCache:
    """Bounded LRU of BuiltRead per shape key; False marks a shape that is not cacheable."""

    def __init__(self, size: int = SHAPES) -> None:
        self._lru: LRU[tuple[object, ...], BuiltRead | bool] = LRU(size)

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, shape: Shape) -> BuiltRead | bool | None:
        return self._lru.get(shape.key)

    def put(self, shape: Shape, built: BuiltRead | None) -> None:
        self._lru.put(shape.key, built if built is not None else False)

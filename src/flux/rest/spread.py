"""Spread embeds (`...rel(...)`) and aggregates over them, planned like PostgREST v14.

A spread gives its parent columns instead of one JSON value: a to-one spread its columns as
they are, a to-many spread each column as a JSON array of that column's values (sql.py builds
both from `Embed.columns`). An aggregate inside a to-one spread is hoisted: the spread selects
the bare value and the nearest ancestor that is not itself a to-one spread applies the
aggregate, grouping by everything else it selects. To-many spreads refuse aggregates.
`*` becomes the relation's columns wherever names are needed: under an aggregate (to group by
them) and inside a to-many spread (one array per column).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from flux.rest import grammar as g
from flux.rest.errors import not_implemented

if TYPE_CHECKING:
    from flux.rest.plan import Embed, ReadNode

TO_MANY_AGGREGATES = "Aggregates are not implemented for one-to-many or many-to-many spreads."


@dataclass(frozen=True, slots=True)
class SpreadColumn:
    """A column of a spread's lateral row as its parent selects it."""

    name: str
    aggregate: str | None = None  # hoisted from the spread, applied by the parent
    aggregate_cast: str | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class SelectRow:
    """The node's whole row as `alias`: a hoisted `count()` counts the rows that exist."""

    alias: str


def is_aggregate(item: object) -> bool:
    return isinstance(item, g.SelectCount) or (
        isinstance(item, g.SelectField) and item.aggregate is not None
    )


def prepare_spreads(root: ReadNode) -> None:
    """Expand stars, give every spread its columns, hoist aggregates out of to-one spreads."""
    _expand_stars(root, inherited=False)
    _add_columns(root)
    _hoist(root, None)


def _expand_stars(node: ReadNode, inherited: bool) -> None:
    needs_names = inherited or any(is_aggregate(s) for s in node.select)
    for emb in node.embeds:
        _expand_stars(emb.node, needs_names or emb.to_many_spread)
    columns = node.relation.columns
    if needs_names and columns and any(isinstance(s, g.SelectStar) for s in node.select):
        expanded: list[g.SelectItem | SelectRow] = []
        for item in node.select:
            if isinstance(item, g.SelectStar):
                expanded.extend(g.SelectField(g.Field(name)) for name in columns)
            else:
                expanded.append(item)
        node.select = expanded


def _output_name(item: g.SelectItem | SelectRow) -> str:
    if isinstance(item, g.SelectStar):
        return "*"
    if isinstance(item, g.SelectCount):
        return item.alias or "count"
    if isinstance(item, SelectRow):
        return item.alias
    assert isinstance(item, g.SelectField)
    keys = [op.key for op in item.field.json_path if isinstance(op.key, str)]
    return item.alias or item.aggregate or (keys[-1] if keys else item.field.name)


def _add_columns(node: ReadNode) -> list[str]:
    """The node's output column names; fills `columns` of its spread embeds on the way."""
    names = [_output_name(item) for item in node.select]
    for emb in node.embeds:
        child = _add_columns(emb.node)
        if emb.spread:
            emb.columns = [SpreadColumn(name) for name in child]
        if not emb.empty:
            names.extend(child if emb.spread else [emb.key])
    return names


def _hoist(node: ReadNode, embed: Embed | None) -> dict[str, SpreadColumn]:
    """Hoist aggregates out of to-one spreads; returns what `node` hands to its parent."""
    to_one_spread = embed is not None and embed.spread and embed.relationship.to_one
    handed_up: dict[str, SpreadColumn] = {}
    for emb in node.embeds:
        hoisted = _hoist(emb.node, emb)
        if to_one_spread:
            handed_up.update(hoisted)
        elif hoisted:
            emb.columns = [hoisted.get(c.name, c) for c in emb.columns]
    if embed is not None and embed.to_many_spread and node.has_aggregates:
        raise not_implemented(TO_MANY_AGGREGATES)
    if not to_one_spread:
        return {}
    own: dict[str, SpreadColumn] = {}
    select: list[g.SelectItem | SelectRow] = []
    for item in node.select:
        if isinstance(item, g.SelectCount):
            alias = item.alias or "count"
            select.append(SelectRow(alias))
            own[alias] = SpreadColumn(alias, "count", item.cast, alias)
        elif isinstance(item, g.SelectField) and item.aggregate:
            alias = item.alias or item.aggregate
            select.append(replace(item, alias=alias, aggregate=None, aggregate_cast=None))
            own[alias] = SpreadColumn(alias, item.aggregate, item.aggregate_cast, alias)
        else:
            select.append(item)
    node.select = select
    return handed_up | own

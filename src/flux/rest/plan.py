"""ApiRequest + schema snapshot → ReadPlan: a tree of nodes with resolved relationships.

Owns embedding resolution (PostgREST's findRel, with PGRST200/PGRST201 shapes), placing
filters/order/limit on the right node, null-embed filters, related orders and the range
arithmetic (limit/offset, Range header, db-max-rows). Mutations and calls (part 2) get their
own plan types beside ReadPlan (mutate_plan.py, call_plan.py), built on `build_tree` and
`place_params` from here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from flux.rest import grammar as g
from flux.rest.errors import (
    ApiError,
    aggregates_not_allowed,
    not_embedded,
    related_order_not_to_one,
    table_not_found,
    unacceptable_filter,
)
from flux.rest.request import ApiRequest, EmbedPath
from flux.rest.schema_cache import Relation, Relationship, SchemaSnapshot
from flux.rest.spread import SelectRow, SpreadColumn, is_aggregate, prepare_spreads

CARDINALITY_NAMES = {
    "M2O": "many-to-one",
    "O2M": "one-to-many",
    "O2O": "one-to-one",
    "M2M": "many-to-many",
}


@dataclass(slots=True)
class NullEmbedFilter:
    """`projects=is.null` / `projects=not.is.null` on an embedded resource."""

    agg_alias: str
    negated: bool  # True for not.is.null (keep rows that have the embed)


@dataclass(frozen=True, slots=True)
class PlacedLogic:
    """An `or=(...)`/`and=(...)` tree whose leaves may test embedded resources for null."""

    operator: str
    children: tuple[Condition, ...]
    negated: bool = False


Condition = g.Filter | g.LogicTree | NullEmbedFilter | PlacedLogic


@dataclass(slots=True)
class ReadNode:
    relation: Relation
    name: str  # as named in the request
    alias: str | None  # SQL alias of the FROM item (None at the root)
    depth: int
    select: list[g.SelectItem | SelectRow]  # SelectField / SelectCount / SelectStar / SelectRow
    embeds: list[Embed] = field(default_factory=list)
    where: list[Condition] = field(default_factory=list)
    order: list[g.OrderTerm] = field(default_factory=list)
    offset: int = 0
    limit: int | None = None
    source: str | None = None  # a CTE name to read from instead of the relation (writes, RPC)

    @property
    def has_aggregates(self) -> bool:
        """Own aggregates or ones hoisted out of its to-one spreads: the node groups."""
        return any(is_aggregate(s) for s in self.select) or any(
            c.aggregate for e in self.embeds for c in e.columns
        )


@dataclass(slots=True)
class Embed:
    node: ReadNode
    relationship: Relationship
    key: str  # output key (alias or relation name)
    agg_alias: str
    inner: bool
    spread: bool
    columns: list[SpreadColumn] = field(default_factory=list)  # a spread's, for its parent

    @property
    def empty(self) -> bool:
        return not self.node.select and not self.node.embeds

    @property
    def to_many_spread(self) -> bool:
        return self.spread and not self.relationship.to_one


@dataclass(slots=True)
class ReadPlan:
    schema: str
    root: ReadNode
    count: str | None  # exact | planned | estimated
    max_rows: int | None


def _no_relationship(
    snapshot: SchemaSnapshot, origin: str, target: str, hint: str | None
) -> ApiError:
    using = f"' using the hint '{hint}" if hint else ""
    details = (
        f"Searched for a foreign key relationship between '{origin}' and '{target}"
        f"{using}' in the schema '{snapshot.schema}', but no matches were found."
    )
    suggestion = None
    if origin in snapshot.relationships:
        children = sorted({r.foreign_table for r in snapshot.relationships[origin]})
        found = difflib.get_close_matches(target, children, n=1, cutoff=0.5)
        if found and found[0] != target:
            suggestion = f"Perhaps you meant '{found[0]}' instead of '{target}'."
    else:
        found = difflib.get_close_matches(origin, sorted(snapshot.relationships), n=1, cutoff=0.5)
        if found:
            suggestion = f"Perhaps you meant '{found[0]}' instead of '{origin}'."
    return ApiError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{origin}' and '{target}' in the schema cache",
        details,
        suggestion,
    )


def _fmt_cols(cols: list[str]) -> str:
    return "(" + ", ".join(cols) + ")"


def _compressed(rel: Relationship) -> dict[str, str]:
    if rel.junction is not None:
        j = rel.junction
        text = (
            f"{j.table} using {j.constraint1}{_fmt_cols([c for _, c in j.source_columns])}"
            f" and {j.constraint2}{_fmt_cols([c for c, _ in j.target_columns])}"
        )
    else:
        text = (
            f"{rel.constraint} using {rel.table}{_fmt_cols([a for a, _ in rel.columns])} "
            f"and {rel.foreign_table}{_fmt_cols([b for _, b in rel.columns])}"
        )
    return {
        "cardinality": CARDINALITY_NAMES[rel.cardinality],
        "embedding": f"{rel.table} with {rel.foreign_table}",
        "relationship": text,
    }


def _ambiguous(origin: str, target: str, rels: list[Relationship]) -> ApiError:
    options = ", ".join(
        f"'{r.foreign_table}!{r.junction.table if r.junction else r.constraint}'" for r in rels
    )
    return ApiError(
        300,
        "PGRST201",
        "Could not embed because more than one relationship was "
        f"found for '{origin}' and '{target}'",
        [_compressed(r) for r in rels],
        f"Try changing '{target}' to one of the following: {options}. Find the "
        "desired relationship in the 'details' key.",
    )


def _single_col(rel: Relationship, side: int) -> str | None:
    if rel.junction is None and len(rel.columns) == 1:
        return rel.columns[0][side]
    return None


def find_relationship(
    snapshot: SchemaSnapshot, origin: str, target: str, hint: str | None
) -> Relationship:
    """PostgREST's findRel: by target name, constraint, column, or hint."""

    def matches(rel: Relationship) -> bool:
        if rel.is_self:
            # one FK, two relationships: the table name gives the O2M, the FK column the M2O
            if hint is None:
                return (target == rel.foreign_table and rel.cardinality == "O2M") or (
                    rel.cardinality == "M2O" and target == _single_col(rel, 0)
                )
            return (
                target == rel.foreign_table
                and rel.cardinality == "O2M"
                and hint == _single_col(rel, 1)
            )
        if hint is None:
            return target == rel.foreign_table or (
                rel.junction is None
                and not rel.foreign_is_view
                and target in (rel.constraint, _single_col(rel, 0))
            )
        if target != rel.foreign_table:
            return False
        if rel.junction is not None:
            return hint == rel.junction.table
        return hint in (rel.constraint, _single_col(rel, 0), _single_col(rel, 1))

    found = [r for r in snapshot.relationships.get(origin, []) if matches(r)]
    if not found:
        raise _no_relationship(snapshot, origin, target, hint)
    if len(found) > 1:
        raise _ambiguous(origin, target, found)
    return found[0]


class _Builder:
    def __init__(self, snapshot: SchemaSnapshot, aggregates_enabled: bool) -> None:
        self.snapshot = snapshot
        self.aggregates_enabled = aggregates_enabled
        self.agg_counter = 0

    def node(
        self,
        relation: Relation,
        name: str,
        alias: str | None,
        depth: int,
        items: tuple[g.SelectItem, ...],
    ) -> ReadNode:
        node = ReadNode(relation, name, alias, depth, [])
        for item in items:
            if isinstance(item, g.SelectEmbed):
                node.embeds.append(self.embed(node, item))
            else:
                if is_aggregate(item) and not self.aggregates_enabled:
                    raise aggregates_not_allowed()
                node.select.append(item)
        return node

    def embed(self, parent: ReadNode, item: g.SelectEmbed) -> Embed:
        rel = find_relationship(self.snapshot, parent.relation.name, item.relation, item.hint)
        target = self.snapshot.relations[rel.foreign_table]
        depth = parent.depth + 1
        child = self.node(
            target, item.relation, f"{rel.foreign_table}_{depth}", depth, item.children
        )
        self.agg_counter += 1
        agg_alias = f"{parent.relation.name}_{item.relation}_{self.agg_counter}"
        return Embed(
            child, rel, item.alias or item.relation, agg_alias, item.join == "inner", item.spread
        )


def _node_at(root: ReadNode, path: EmbedPath) -> ReadNode:
    node = root
    for step in path:
        for emb in node.embeds:
            if step in (emb.key, emb.node.name):
                node = emb.node
                break
        else:
            raise not_embedded(step)
    return node


def _embed_named(node: ReadNode, name: str) -> Embed | None:
    for emb in node.embeds:
        if name in (emb.key, emb.node.name):
            return emb
    return None


def _place_filter(node: ReadNode, flt: g.Filter) -> Condition:
    emb = _embed_named(node, flt.field.name) if not flt.field.json_path else None
    if emb is None or flt.field.name in node.relation.columns:
        return flt
    op = flt.operation
    if op.operator != "is" or op.value not in ("null", "not_null"):
        raise unacceptable_filter(flt.field.name)
    keep_present = (op.value == "not_null") != op.negated
    return NullEmbedFilter(emb.agg_alias, keep_present)


def _place_logic(node: ReadNode, tree: g.LogicTree) -> PlacedLogic:
    """A logic tree whose leaves naming an embed become null tests on it (PostgREST allows
    `or=(clients.not.is.null,...)`-style `is.null`/`not.is.null` there, nothing else)."""
    children = tuple(
        _place_logic(node, c) if isinstance(c, g.LogicTree) else _place_filter(node, c)
        for c in tree.children
    )
    return PlacedLogic(tree.operator, children, tree.negated)


def _resolve_orders(node: ReadNode) -> None:
    for term in node.order:
        if term.relation is None:
            continue
        emb = _embed_named(node, term.relation)
        if emb is None:
            raise not_embedded(term.relation)
        if not emb.relationship.to_one:
            raise related_order_not_to_one(node.relation.name, term.relation)


def embed_for_order(node: ReadNode, relation: str) -> Embed:
    emb = _embed_named(node, relation)
    assert emb is not None  # checked while planning
    return emb


def root_range(
    offset: int | None,
    limit: int | None,
    header: tuple[int, int | None] | None,
    max_rows: int | None,
) -> tuple[int, int | None]:
    """Intersect limit/offset with the Range header, then cap by db-max-rows."""
    lower = offset or 0
    upper = None if limit is None else lower + limit  # exclusive
    if header is not None:
        h_lower, h_limit = header
        h_upper = None if h_limit is None else h_lower + h_limit
        lower = max(lower, h_lower)
        upper = h_upper if upper is None else (upper if h_upper is None else min(upper, h_upper))
    final_limit = None if upper is None else max(upper - lower, 0)
    if max_rows is not None:
        final_limit = max_rows if final_limit is None else min(final_limit, max_rows)
    return lower, final_limit


def cap_embeds(node: ReadNode, max_rows: int | None) -> None:
    """db-max-rows bounds every embedded to-many list too, as PostgREST bounds every node."""
    if max_rows is None:
        return
    for emb in node.embeds:
        limit = emb.node.limit
        emb.node.limit = max_rows if limit is None else min(limit, max_rows)
        cap_embeds(emb.node, max_rows)


def build_tree(
    snapshot: SchemaSnapshot,
    relation: Relation,
    select: tuple[g.SelectItem, ...],
    *,
    aggregates_enabled: bool,
    source: str | None = None,
) -> ReadNode:
    """The read tree for `select=` (embeds resolved); `source` makes the root read a CTE."""
    root = _Builder(snapshot, aggregates_enabled).node(relation, relation.name, None, 0, select)
    root.source = source
    prepare_spreads(root)
    return root


def place_params(root: ReadNode, request: ApiRequest, *, include_root: bool) -> None:
    """Put filters, logic trees, orders, limits and offsets on their nodes.

    With `include_root=False` the root's own filters and limit are left out (a mutation
    applies them to the rows it changes, not to the representation); its order is kept: the
    representation comes back in that order, as PostgREST returns it.
    """
    q = request.query
    for path, flt in q.filters:
        if path or include_root:
            node = _node_at(root, path)
            node.where.append(_place_filter(node, flt))
    for path, tree in q.logic:
        if path or include_root:
            node = _node_at(root, path)
            node.where.append(_place_logic(node, tree) if node.embeds else tree)
    for path, terms in q.order.items():  # the root's order also sorts a representation
        node = _node_at(root, path)
        node.order = list(terms)
        _resolve_orders(node)
    for path, value in q.limit.items():
        if path:
            _node_at(root, path).limit = value
    for path, value in q.offset.items():
        if path:
            _node_at(root, path).offset = value


def find_relation(snapshot: SchemaSnapshot, name: str) -> Relation:
    relation = snapshot.relations.get(name)
    if relation is None:
        raise table_not_found(snapshot.schema, name, snapshot.suggest_table(name))
    return relation


def plan_read(
    request: ApiRequest, snapshot: SchemaSnapshot, *, aggregates_enabled: bool, max_rows: int | None
) -> ReadPlan:
    assert request.resource is not None
    relation = find_relation(snapshot, request.resource)
    root = build_tree(
        snapshot, relation, request.query.select, aggregates_enabled=aggregates_enabled
    )
    place_params(root, request, include_root=True)
    q = request.query
    root.offset, root.limit = root_range(q.offset.get(()), q.limit.get(()), request.range, max_rows)
    cap_embeds(root, max_rows)
    return ReadPlan(snapshot.schema, root, request.preferences.count, max_rows)

"""ApiRequest + schema snapshot → MutatePlan for POST (insert/upsert), PUT, PATCH and DELETE.

Owns PostgREST's mutation rules: which columns a body writes (its keys or `columns=`,
PGRST204 for unknown ones), upsert targets (`on_conflict=` or the primary key), PUT's
"all and only primary-key `eq` filters" (PGRST105) and no limit/offset (PGRST114),
root filters/order/limit applying to the changed rows, and the representation read
(`select=` with embeds) over the `pgrst_source` CTE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from flux.rest import grammar as g
from flux.rest.errors import ApiError, column_not_found
from flux.rest.payload import Payload
from flux.rest.plan import ReadNode, build_tree, find_relation, place_params
from flux.rest.request import ApiRequest
from flux.rest.schema_cache import Column, Relation, SchemaSnapshot

SOURCE = "pgrst_source"
Kind = Literal["insert", "update", "delete"]


@dataclass(slots=True)
class MutatePlan:
    kind: Kind
    schema: str
    relation: Relation
    columns: tuple[Column, ...] = ()  # what the body writes, in order
    payload: Payload | None = None
    where: list[g.Filter | g.LogicTree] = field(default_factory=list)
    on_conflict: tuple[str, ...] = ()  # ON CONFLICT target (empty: no ON CONFLICT clause)
    resolution: str | None = None  # merge-duplicates | ignore-duplicates
    put: bool = False
    defaults: bool = False  # Prefer: missing=default
    order: list[g.OrderTerm] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    returning: tuple[str, ...] = ()  # () → RETURNING 1; ("*",) → every column
    read: ReadNode | None = None  # representation (return=representation)
    location: tuple[str, ...] = ()  # primary key columns for the Location header
    return_: str = "minimal"

    @property
    def counts_inserts(self) -> bool:
        """Upserts report 201 vs 200 from the number of rows actually inserted."""
        return self.kind == "insert" and (
            self.put or (self.resolution == "merge-duplicates" and bool(self.on_conflict))
        )


def invalid_filters() -> ApiError:
    return ApiError(
        405, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators"
    )


def put_limit_not_allowed() -> ApiError:
    return ApiError(400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT")


def put_mismatch() -> ApiError:
    return ApiError(400, "PGRST115", "Payload values do not match URL in primary key column(s)")


def _columns(relation: Relation, names: tuple[str, ...]) -> tuple[Column, ...]:
    out = []
    for name in names:
        col = relation.columns.get(name)
        if col is None:
            raise column_not_found(relation.name, name)
        out.append(col)
    return tuple(out)


def _returning(root: ReadNode) -> tuple[str, ...]:
    """The columns the representation needs back from the mutation."""
    if root.embeds:
        return ("*",)
    names: list[str] = []
    for item in root.select:
        if isinstance(item, g.SelectStar):
            return ("*",)
        if isinstance(item, g.SelectField):
            if item.field.name == "*":
                return ("*",)
            if item.field.name not in names:
                names.append(item.field.name)
    return tuple(names) or ("*",)


def _put_filters(request: ApiRequest, relation: Relation) -> list[g.Filter | g.LogicTree]:
    q = request.query
    if q.limit or q.offset:
        raise put_limit_not_allowed()
    root_filters = [f for path, f in q.filters if not path]
    by_column = {f.field.name: f for f in root_filters}
    exact = (
        bool(relation.pk)
        and not q.logic
        and len(root_filters) == len(relation.pk)
        and set(by_column) == set(relation.pk)
        and all(
            f.operation.operator == "eq"
            and not f.operation.negated
            and not f.operation.quantifier
            and not f.field.json_path
            for f in root_filters
        )
    )
    if not exact:
        raise invalid_filters()
    return list(root_filters)


def plan_mutate(
    request: ApiRequest,
    snapshot: SchemaSnapshot,
    payload: Payload | None,
    *,
    aggregates_enabled: bool,
) -> MutatePlan:
    assert request.resource is not None
    relation = find_relation(snapshot, request.resource)
    prefs = request.preferences
    q = request.query
    method = request.method
    kind: Kind = (
        "insert" if method in ("POST", "PUT") else "update" if method == "PATCH" else "delete"
    )
    plan = MutatePlan(kind, snapshot.schema, relation, return_=prefs.return_ or "minimal")
    plan.defaults = prefs.missing == "default"

    if kind != "delete":
        assert payload is not None
        plan.payload = payload
        plan.columns = _columns(relation, q.columns if q.columns is not None else payload.keys)

    if method == "PUT":
        plan.where = _put_filters(request, relation)
        plan.put = True
        plan.on_conflict = relation.pk
        plan.resolution = "merge-duplicates"
    elif kind == "insert":
        plan.resolution = prefs.resolution
        if prefs.resolution is not None:
            plan.on_conflict = q.on_conflict if q.on_conflict is not None else relation.pk
            _columns(relation, plan.on_conflict)
    else:
        plan.where = [f for path, f in q.filters if not path] + [
            t for path, t in q.logic if not path
        ]
        plan.order = list(q.order.get((), ()))
        plan.limit = q.limit.get(())
        plan.offset = q.offset.get((), 0)
        for term in plan.order:
            if term.relation is not None:
                raise ApiError(
                    400, "PGRST100", "related orders are not allowed on mutations", term.relation
                )

    if plan.return_ == "representation":
        root = build_tree(
            snapshot, relation, q.select, aggregates_enabled=aggregates_enabled, source=SOURCE
        )
        place_params(root, request, include_root=False)
        plan.read = root
        plan.returning = _returning(root)
    elif plan.return_ == "headers-only" and kind == "insert" and relation.pk:
        plan.location = relation.pk
        plan.returning = relation.pk
    return plan

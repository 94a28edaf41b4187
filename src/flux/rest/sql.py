"""ReadPlan → one SQL statement + parameters, in PostgREST's shape.

The JSON body is built by PostgreSQL: `coalesce(json_agg(_postgrest_t), '[]')` over the read
query; to-one embeds are `row_to_json(<alias>.*)::jsonb` over a `LEFT JOIN LATERAL`, to-many
embeds `json_agg(...)::jsonb` in a lateral subquery, exactly like PostgREST's QueryBuilder,
so bodies are byte-identical. Every value travels as an untyped (unknown) text parameter;
identifiers and JSON keys are quoted here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flux.rest import grammar as g
from flux.rest.call_plan import CallPlan
from flux.rest.errors import ApiError
from flux.rest.media import JSON, Media
from flux.rest.mutate_plan import MutatePlan
from flux.rest.plan import Condition, Embed, NullEmbedFilter, ReadNode, ReadPlan, embed_for_order
from flux.rest.spread import SelectRow, SpreadColumn

_OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "IS DISTINCT FROM",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
_FTS = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
_IS = {
    "null": "NULL",
    "not_null": "NOT NULL",
    "true": "TRUE",
    "false": "FALSE",
    "unknown": "UNKNOWN",
}
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*(\(\d+(,\d+)?\))?(\[\])*$")


def ident(name: str) -> str:
    """A quoted identifier, safe inside a psycopg query string (`%` doubled)."""
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def type_name(cast: str) -> str:
    if not _TYPE_NAME.match(cast.strip()):
        raise ApiError(400, "PGRST100", f'invalid cast type "{cast}"')
    return cast.strip()


def pg_array_literal(values: tuple[str, ...]) -> str:
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


@dataclass
class Statement:
    sql: str
    params: list[str | bytes] = field(default_factory=list)
    all_rows: bool = False  # EXPLAIN (FORMAT TEXT) answers one row per plan line


class _Builder:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.params: list[str | bytes] = []

    def param(self, value: str | bytes) -> str:
        self.params.append(value)
        return "%s"

    # ------------------------------------------------------------- expressions
    def field(self, ref: str, fld: g.Field) -> str:
        out = f"{ref}.{ident(fld.name)}" if fld.name != "*" else f"{ref}.*"
        for op in fld.json_path:
            key = str(op.key) if isinstance(op.key, int) else literal(op.key)
            out += f"{op.arrow}{key}"
        return out

    def ref(self, node: ReadNode) -> str:
        if node.source:
            return ident(node.source)
        return ident(node.alias) if node.alias else qualified(self.schema, node.relation.name)

    def from_item(self, node: ReadNode) -> str:
        if node.source:
            return ident(node.source)
        text = qualified(self.schema, node.relation.name)
        return f"{text} AS {ident(node.alias)}" if node.alias else text

    def select_item(self, ref: str, item: g.SelectItem | SelectRow) -> str:
        if isinstance(item, g.SelectStar):
            return f"{ref}.*"
        if isinstance(item, SelectRow):
            return f"{ref} AS {ident(item.alias)}"
        if isinstance(item, g.SelectCount):
            expr = "COUNT(*)"
            if item.cast:
                expr += f"::{type_name(item.cast)}"
            return f"{expr} AS {ident(item.alias or 'count')}"
        assert isinstance(item, g.SelectField)
        fld = item.field
        expr = self.field(ref, fld)
        if item.cast:
            expr = f"CAST({expr} AS {type_name(item.cast)})"
        if item.aggregate:
            expr = f"{item.aggregate.upper()}({expr})"
            if item.aggregate_cast:
                expr += f"::{type_name(item.aggregate_cast)}"
            return f"{expr} AS {ident(item.alias or item.aggregate)}"
        alias = item.alias
        if alias is None and fld.json_path:
            keys = [op.key for op in fld.json_path if isinstance(op.key, str)]
            last = fld.json_path[-1].key
            alias = last if isinstance(last, str) else (keys[-1] if keys else fld.name)
        if alias is None and item.cast:
            alias = fld.name
        return expr if alias is None else f"{expr} AS {ident(alias)}"

    def operation(self, expr: str, op: g.Operation) -> str:
        name = op.operator
        if name == "is":
            sql = f"{expr} IS {_IS[str(op.value)]}"
        elif name == "in":
            values = op.value if isinstance(op.value, tuple) else (op.value,)
            sql = f"{expr} = ANY ({self.param(pg_array_literal(values))})"
        elif name in _FTS:
            lang = f"{self.param(op.language)}, " if op.language else ""
            sql = f"{expr} @@ {_FTS[name]}({lang}{self.param(str(op.value))})"
        else:
            value = str(op.value)
            if name in ("like", "ilike"):
                value = value.replace("*", "%")
            if op.quantifier:
                sql = f"{expr} {_OPERATORS[name]} {op.quantifier.upper()} ({self.param(value)})"
            else:
                sql = f"{expr} {_OPERATORS[name]} {self.param(value)}"
        return f"NOT {sql}" if op.negated else sql

    def condition(
        self,
        ref: str,
        cond: Condition,
        null_embed: Callable[[NullEmbedFilter], str] | None = None,
    ) -> str:
        """SQL of a condition; `null_embed` renders embed null tests where no lateral join
        holds the embed (the count query's EXISTS)."""
        if isinstance(cond, NullEmbedFilter):
            if null_embed is not None:
                return null_embed(cond)
            return f"{ident(cond.agg_alias)} IS {'' if cond.negated else 'NOT '}DISTINCT FROM NULL"
        if isinstance(cond, g.Filter):
            return self.operation(self.field(ref, cond.field), cond.operation)
        joiner = " AND " if cond.operator == "and" else " OR "
        inner = joiner.join(self.condition(ref, c, null_embed) for c in cond.children)
        return f"{'NOT ' if cond.negated else ''}({inner})"

    def join_conditions(self, parent_ref: str, emb: Embed) -> list[str]:
        rel = emb.relationship
        child = ident(emb.node.alias or emb.node.relation.name)
        if rel.junction is not None:
            jref = qualified(self.schema, rel.junction.table)
            return [
                f"{child}.{ident(tc)} = {jref}.{ident(jc)}"
                for jc, tc in rel.junction.target_columns
            ] + [
                f"{jref}.{ident(jc)} = {parent_ref}.{ident(sc)}"
                for sc, jc in rel.junction.source_columns
            ]
        return [f"{child}.{ident(fc)} = {parent_ref}.{ident(pc)}" for pc, fc in rel.columns]

    def order_terms(self, node: ReadNode, ref: str) -> list[tuple[str, str]]:
        """(expression, ` DESC NULLS FIRST`-like suffix) per order term of the node."""
        terms = []
        for term in node.order:
            base = (
                ref
                if term.relation is None
                else ident(embed_for_order(node, term.relation).agg_alias)
            )
            terms.append((self.field(base, term.field), _order_suffix(term)))
        return terms

    def group_terms(self, node: ReadNode, ref: str) -> list[str]:
        """What a node with aggregates groups by: every other thing it selects."""
        groups = [
            self.field(ref, s.field)
            if not s.cast
            else f"CAST({self.field(ref, s.field)} AS {type_name(s.cast)})"
            for s in node.select
            if isinstance(s, g.SelectField) and not s.aggregate
        ]
        for emb in node.embeds:
            agg = ident(emb.agg_alias)
            if emb.spread:
                groups.extend(_spread_ref(agg, c.name) for c in emb.columns if not c.aggregate)
            elif not emb.empty:
                groups.append(_embed_value(agg, emb))
        return groups

    # ------------------------------------------------------------- read query
    def read(self, node: ReadNode, parent_ref: str | None = None, emb: Embed | None = None) -> str:
        ref = self.ref(node)
        selects = [self.select_item(ref, s) for s in node.select]
        if not node.select and not node.embeds:
            selects = [f"{ref}.*"]
        to_many_spread = emb is not None and emb.to_many_spread
        if to_many_spread:
            # its order sorts each column's array: selected here, applied by the parent's json_agg
            assert emb is not None
            selects.extend(
                f"{expr} AS {ident(alias)}"
                for (expr, _), alias in zip(
                    self.order_terms(node, ref), _spread_order_aliases(emb), strict=True
                )
            )
        joins: list[str] = []
        for child in node.embeds:
            sel, join = self.embed(ref, child)
            selects.extend(sel)
            joins.append(join)
        from_ = f"FROM {self.from_item(node)}"
        if emb is not None and emb.relationship.junction is not None:
            from_ += f", {qualified(self.schema, emb.relationship.junction.table)}"
        conds = [self.condition(ref, c) for c in node.where]
        if emb is not None and parent_ref is not None:
            conds += self.join_conditions(parent_ref, emb)
        parts = [f"SELECT {', '.join(selects)}", from_, *joins]
        if conds:
            parts.append("WHERE " + " AND ".join(conds))
        if node.has_aggregates:
            groups = self.group_terms(node, ref)
            if groups:
                parts.append("GROUP BY " + ", ".join(groups))
        if node.order and not to_many_spread:
            terms = self.order_terms(node, ref)
            parts.append("ORDER BY " + ", ".join(expr + suffix for expr, suffix in terms))
        if node.limit is not None:
            parts.append(f"LIMIT {int(node.limit)}")
        if node.offset:
            parts.append(f"OFFSET {int(node.offset)}")
        return " ".join(parts)

    def embed(self, parent_ref: str, emb: Embed) -> tuple[list[str], str]:
        agg = ident(emb.agg_alias)
        kind = "INNER" if emb.inner else "LEFT"
        sub = self.read(emb.node, parent_ref, emb)
        if emb.relationship.to_one:
            join = f"{kind} JOIN LATERAL ( {sub} ) AS {agg} ON TRUE"
        else:
            by = _spread_order(agg, emb)
            arrays = "".join(
                f", COALESCE(json_agg({agg}.{ident(c.name)}{by}),'[]')::jsonb AS {ident(c.name)}"
                for c in emb.columns
            )
            cond = f"{agg} IS NOT NULL" if emb.inner else "TRUE"
            join = (
                f"{kind} JOIN LATERAL ( SELECT json_agg({agg})::jsonb AS {agg}{arrays} "
                f"FROM ({sub} ) AS {agg} ) AS {agg} ON {cond}"
            )
        if emb.spread:
            return [_spread_column(agg, c) for c in emb.columns], join
        if emb.empty:
            return [], join
        return [f"{_embed_value(agg, emb)} AS {ident(emb.key)}"], join

    # ------------------------------------------------------------- count query
    def count(self, node: ReadNode, parent_ref: str | None = None, emb: Embed | None = None) -> str:
        """`SELECT 1 FROM ...` with the node's filters; inner embeds become EXISTS."""
        ref = self.ref(node)

        def exists(c: NullEmbedFilter) -> str:
            child = next(e for e in node.embeds if e.agg_alias == c.agg_alias)
            return f"{'' if c.negated else 'NOT '}EXISTS ({self.count(child.node, ref, child)})"

        conds = [self.condition(ref, c, exists) for c in node.where]
        for child in node.embeds:
            if child.inner:
                conds.append(f"EXISTS ({self.count(child.node, ref, child)})")
        sql = f"SELECT 1 FROM {self.from_item(node)}"
        if emb is not None and parent_ref is not None:
            if emb.relationship.junction is not None:
                sql += f", {qualified(self.schema, emb.relationship.junction.table)}"
            conds += self.join_conditions(parent_ref, emb)
        return sql + (" WHERE " + " AND ".join(conds) if conds else "")


def _order_suffix(term: g.OrderTerm) -> str:
    suffix = f" {term.direction.upper()}" if term.direction else ""
    return suffix + (f" NULLS {term.nulls.upper()}" if term.nulls else "")


def _spread_ref(agg: str, name: str) -> str:
    return f"{agg}.*" if name == "*" else f"{agg}.{ident(name)}"


def _spread_column(agg: str, col: SpreadColumn) -> str:
    """A spread's column in its parent: as it is, or under the aggregate hoisted out of it."""
    expr = _spread_ref(agg, col.name)
    if col.aggregate:
        expr = f"{col.aggregate.upper()}({expr})"
        if col.aggregate_cast:
            expr += f"::{type_name(col.aggregate_cast)}"
    return f"{expr} AS {ident(col.alias)}" if col.alias else expr


def _spread_order_aliases(emb: Embed) -> list[str]:
    """Names under which a to-many spread selects its order terms (indexed: no collisions)."""
    return [f"{emb.agg_alias}_{t.field.name}_{i}" for i, t in enumerate(emb.node.order, 1)]


def _spread_order(agg: str, emb: Embed) -> str:
    """A to-many spread's order, over the terms its subquery selected for it."""
    terms = [
        f"{agg}.{ident(alias)}{_order_suffix(term)}"
        for term, alias in zip(emb.node.order, _spread_order_aliases(emb), strict=True)
    ]
    return " ORDER BY " + ", ".join(terms) if terms else ""


def _embed_value(agg: str, emb: Embed) -> str:
    """The JSON value of a non-spread embed (also what grouping by that embed groups by)."""
    if emb.relationship.to_one:
        return f"row_to_json({agg}.*)::jsonb"
    return f"COALESCE( {agg}.{agg}, '[]')"


_RESPONSE_GUCS = (
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status"
)
_NO_LOCATION = "array[]::text[]"
_INSERTED = (
    "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), "
    "'')::int, 0) {op} 1)::text, true) <> '{num}'"
)
_ROWS = "pgrst_rows"


def body_expr(
    media: Media, *, scalar: bool = False, single: bool = False, explained: bool = False
) -> str:
    """The body column: JSON built by json_agg, CSV, GeoJSON or a raw scalar aggregate.

    JSON is cast to text so the driver hands it over unparsed; an `explained` statement (a
    plan request) never returns rows, so it keeps PostgREST's expression, as its plan shows."""
    if media.kind == "csv":
        return (
            "(SELECT coalesce(string_agg(a.k, ','), '') FROM (SELECT json_object_keys(r)::text "
            f"AS k FROM (SELECT row_to_json(hh) AS r FROM {_ROWS} AS hh LIMIT 1) s) a) "
            "|| E'\\n' || coalesce(string_agg(substring(_postgrest_t::text, 2, "
            "length(_postgrest_t::text) - 2), E'\\n'), '')"
        )
    if media.kind == "geojson":
        return (
            "json_build_object('type', 'FeatureCollection', 'features', "
            "coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))::text"
        )
    if media.kind == "text":
        return "coalesce(string_agg(_postgrest_t.pgrst_scalar::text, ''), '')"
    if media.kind == "xml":
        return "coalesce(xmlagg(_postgrest_t.pgrst_scalar), '')::text"
    if media.kind == "octet":
        return "coalesce(string_agg(_postgrest_t.pgrst_scalar, ''::bytea), ''::bytea)"
    value = "_postgrest_t.pgrst_scalar" if scalar else "_postgrest_t"
    agg, empty = (
        (f"json_agg({value})->0", "null")
        if media.singular or single
        else (f"json_agg({value})", "[]")
    )
    if media.strip_nulls:
        agg = f"json_strip_nulls({agg})"
    return f"coalesce({agg}, '{empty}')" + ("" if explained else "::text")


def _final(ctes: list[str], select_sql: str, columns: str, media: Media) -> str:
    """`WITH ... SELECT <columns> FROM (<select>) _postgrest_t`; CSV reads its header from a CTE."""
    if media.kind == "csv":
        ctes = [*ctes, f"{_ROWS} AS ({select_sql})"]
        source = f"{_ROWS} _postgrest_t"
    else:
        source = f"( {select_sql} ) _postgrest_t"
    with_ = "WITH " + ", ".join(ctes) + " " if ctes else ""
    return f"{with_}SELECT {columns} FROM {source}"


def _explain(sql: str, media: Media) -> str:
    opts = [f"FORMAT {media.plan_format.upper()}", *(o.upper() for o in media.plan_options)]
    return f"EXPLAIN ({', '.join(opts)}) {sql}"


def _statement(sql: str, b: _Builder, media: Media) -> Statement:
    if media.kind == "plan":
        return Statement(_explain(sql, media), b.params, all_rows=True)
    return Statement(sql, b.params)


def _target(media: Media) -> Media:
    return media.plan_for if media.kind == "plan" and media.plan_for is not None else media


def read_statement(plan: ReadPlan, media: Media = JSON) -> Statement:
    """The main statement: total (when counting exactly), page total, body, response GUCs."""
    b = _Builder(plan.schema)
    total = "null::bigint"
    if plan.count == "exact" or (plan.count == "estimated" and plan.max_rows is None):
        total = f"(SELECT pg_catalog.count(*) FROM ({b.count(plan.root)}) _postgrest_c)"
    elif plan.count == "estimated" and plan.max_rows is not None:
        total = (
            f"(SELECT pg_catalog.count(*) FROM ({b.count(plan.root)} "
            f"LIMIT {int(plan.max_rows) + 1}) _postgrest_c)"
        )
    out = _target(media)
    columns = (
        f"{total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        f"{body_expr(out, explained=media.kind == 'plan')} AS body, {_RESPONSE_GUCS}"
    )
    return _statement(_final([], b.read(plan.root), columns, out), b, media)


def planned_count_statement(plan: ReadPlan) -> Statement:
    """EXPLAIN of the count query; the planner's row estimate is the planned count."""
    b = _Builder(plan.schema)
    return Statement(f"EXPLAIN (FORMAT JSON) {b.count(plan.root)}", b.params)


# ----------------------------------------------------------------- writes
def _json_body(
    b: _Builder,
    text: str,
    is_object: bool,
    fields: list[tuple[str, str]],
    *,
    select: bool,
    limit_one: bool,
    defaults: dict[str, str] | None = None,
) -> str:
    """PostgREST's fromJsonBodyF: the body as typed rows `pgrst_body` (one json parameter)."""
    kind = "jsonb" if defaults is not None else "json"
    sql = ""
    if select:
        sql += "SELECT " + ", ".join(f'"pgrst_body".{ident(n)}' for n, _ in fields) + " "
    sql += f"FROM (SELECT {b.param(text)}::{kind} AS json_data) pgrst_payload, "
    source = "pgrst_payload.json_data"
    if defaults is not None:
        pairs = ", ".join(
            f"{literal(n)}, {defaults[n].replace('%', '%%')}" for n, _ in fields if n in defaults
        )
        defs = f"jsonb_build_object({pairs})"
        if is_object:
            sql += f"LATERAL (SELECT {defs} || pgrst_payload.json_data AS val) pgrst_json_defs, "
        else:
            sql += (
                f"LATERAL (SELECT jsonb_agg({defs} || elem) AS val FROM "
                "jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, "
            )
        source = "pgrst_json_defs.val"
    if fields:
        fn = f"{kind}_to_record" if is_object else f"{kind}_to_recordset"
        typed = ", ".join(f"{ident(n)} {t.replace('%', '%%')}" for n, t in fields)
        src = f"{fn}({source}) AS _({typed}) {'LIMIT 1' if limit_one else ''}"
    else:
        src = "(values(1)) _ " if is_object else f"{kind}_array_elements({source}) _ "
    names = ", ".join(ident(n) for n, _ in fields)
    return sql + f"LATERAL (SELECT {names} FROM {src}) pgrst_body "


def _returning(target: str, columns: tuple[str, ...]) -> str:
    if not columns:
        return "RETURNING 1"
    if columns == ("*",):
        return f"RETURNING {target}.*"
    return "RETURNING " + ", ".join(f"{target}.{ident(c)}" for c in columns)


def _order_by(b: _Builder, ref: str, terms: list[g.OrderTerm]) -> str:
    parts = []
    for term in terms:
        text = b.field(ref, term.field)
        if term.direction:
            text += " " + term.direction.upper()
        if term.nulls:
            text += " NULLS " + term.nulls.upper()
        parts.append(text)
    return "ORDER BY " + ", ".join(parts) if parts else ""


def _mutation(b: _Builder, plan: MutatePlan) -> str:
    target = qualified(plan.schema, plan.relation.name)
    fields = [(c.name, c.type) for c in plan.columns]
    returning = _returning(target, plan.returning)
    payload = plan.payload
    defaults = (
        {c.name: c.default for c in plan.columns if c.default is not None}
        if plan.defaults
        else None
    )

    def body(select: bool, limit_one: bool) -> str:
        assert payload is not None
        return _json_body(
            b,
            payload.json,
            payload.is_object,
            fields,
            select=select,
            limit_one=limit_one,
            defaults=defaults,
        )

    if plan.kind == "insert":
        cols = f"({', '.join(ident(n) for n, _ in fields)}) " if fields else " "
        sql = f"INSERT INTO {target}{cols}{body(True, False)}"
        conds = [b.condition(ident("pgrst_body"), c) for c in plan.where]
        if plan.counts_inserts:
            conds.append(_INSERTED.format(op="+", num="0"))
        if conds:
            sql += "WHERE " + " AND ".join(conds) + " "
        if plan.on_conflict and plan.resolution:
            sql += f"ON CONFLICT({', '.join(ident(c) for c in plan.on_conflict)}) "
            if plan.resolution == "ignore-duplicates" or not fields:
                sql += "DO NOTHING "
            else:
                sets = ", ".join(f"{ident(n)} = EXCLUDED.{ident(n)}" for n, _ in fields)
                sql += f"DO UPDATE SET {sets} "
                if plan.counts_inserts:
                    sql += "WHERE " + _INSERTED.format(op="-", num="-1") + " "
        return sql + returning

    bounded = plan.limit is not None or plan.offset > 0

    def where() -> str:
        conds = [b.condition(target, c) for c in plan.where]
        return " WHERE " + " AND ".join(conds) if conds else ""

    def affected_rows() -> str:
        limit = "ALL" if plan.limit is None else str(int(plan.limit))
        return (
            f"pgrst_affected_rows AS (SELECT {target}.ctid FROM {target}{where()} "
            f"{_order_by(b, target, plan.order)} LIMIT {limit} OFFSET {int(plan.offset)}) "
        )

    range_join = f"WHERE {target}.ctid = pgrst_affected_rows.ctid "
    if plan.kind == "delete":
        if not bounded:
            return f"DELETE FROM {target}{where()} {returning}"
        return (
            f"WITH {affected_rows()}DELETE FROM {target} USING pgrst_affected_rows "
            f"{range_join}{returning}"
        )
    if not fields:
        wanted = plan.returning
        sel = (
            f"{target}.*"
            if wanted == ("*",)
            else (", ".join(f"{target}.{ident(c)}" for c in wanted) or "NULL")
        )
        return f"SELECT {sel} FROM {target} WHERE false"
    if not bounded:
        sets = ", ".join(f'{ident(n)} = "pgrst_body".{ident(n)}' for n, _ in fields)
        return f"UPDATE {target} SET {sets} {body(False, False)}{where()} {returning}"
    update_body = body(True, True)
    sets = ", ".join(f"{ident(n)} = (SELECT {ident(n)} FROM pgrst_update_body)" for n, _ in fields)
    return (
        f"WITH pgrst_update_body AS ({update_body}), {affected_rows()}"
        f"UPDATE {target} SET {sets} FROM pgrst_affected_rows {range_join}{returning}"
    )


def _location(pk: tuple[str, ...]) -> str:
    keys = ", ".join(literal(k) for k in pk)
    found = (
        "(WITH data AS (SELECT row_to_json(_) AS row FROM pgrst_source AS _ LIMIT 1) "
        "SELECT array_agg(json_data.key || '=' || coalesce('eq.' || json_data.value, 'is.null')) "
        f"FROM data CROSS JOIN json_each_text(data.row) AS json_data WHERE json_data.key IN ({keys}))"
    )
    return (
        f"CASE WHEN pg_catalog.count(_postgrest_t) = 1 THEN coalesce({found}, {_NO_LOCATION}) "
        f"ELSE {_NO_LOCATION} END"
    )


def mutate_statement(plan: MutatePlan, media: Media = JSON) -> Statement:
    """`WITH pgrst_source AS (<insert|update|delete ... RETURNING>) SELECT ...`: one statement.

    Columns: total (null), page_total, body, response GUCs, location array, inserted rows.
    """
    b = _Builder(plan.schema)
    cte = f"pgrst_source AS ({_mutation(b, plan)})"
    out = _target(media)
    body = body_expr(out, explained=media.kind == "plan") if plan.read is not None else "''"
    select_sql = b.read(plan.read) if plan.read is not None else "SELECT * FROM pgrst_source"
    location = _location(plan.location) if plan.location else _NO_LOCATION
    inserted = (
        "nullif(current_setting('pgrst.inserted', true), '')::int"
        if plan.counts_inserts
        else "null::int"
    )
    columns = (
        "null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        f"{body} AS body, {_RESPONSE_GUCS}, {location} AS header, {inserted} AS inserted"
    )
    return _statement(_final([cte], select_sql, columns, out), b, media)


# ----------------------------------------------------------------- calls
def _call(b: _Builder, plan: CallPlan) -> str:
    fn = qualified(plan.schema, plan.routine.name)
    scalar = plan.scalar or plan.returns_void
    prefix = "FROM "
    if plan.positional is not None:
        raw = plan.payload.raw
        value = b.param(raw if raw is not None else plan.payload.json)
        expr = f"{fn}({value}::{plan.positional.type})"
    elif plan.args:
        fields = [(p.name, p.type) for p in plan.args]
        prefix = (
            _json_body(b, plan.payload.json, True, fields, select=False, limit_one=True)
            + ", LATERAL "
        )
        named = ", ".join(
            f"{'VARIADIC ' if p.mode == 'v' else ''}{ident(p.name)} := pgrst_body.{ident(p.name)}"
            for p in plan.args
        )
        expr = f"{fn}({named})"
    else:
        expr = f"{fn}()"
    if scalar:
        return f"SELECT pgrst_call.pgrst_scalar {prefix}(SELECT {expr} pgrst_scalar) pgrst_call"
    return f"SELECT pgrst_call.* {prefix}{expr} pgrst_call"


def call_statement(plan: CallPlan, media: Media = JSON) -> Statement:
    """`WITH pgrst_source AS (<call>) SELECT total, page_total, body, GUCs FROM (<read>)`."""
    b = _Builder(plan.schema)
    cte = f"pgrst_source AS ({_call(b, plan)})"
    total = "null::bigint"
    if plan.count == "exact":
        total = f"(SELECT pg_catalog.count(*) FROM ({b.count(plan.read)}) _postgrest_c)"
    out = _target(media)
    body = body_expr(
        out,
        scalar=plan.scalar or plan.returns_void,
        single=plan.single,
        explained=media.kind == "plan",
    )
    columns = (
        f"{total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        f"{body} AS body, {_RESPONSE_GUCS}"
    )
    return _statement(_final([cte], b.read(plan.read), columns, out), b, media)

"""ReadPlan → one SQL statement + parameters, in PostgREST's shape.

The JSON body is built by PostgreSQL: `coalesce(json_agg(_postgrest_t), '[]')` over the read
query; to-one embeds are `row_to_json(<alias>.*)::jsonb` over a `LEFT JOIN LATERAL`, to-many
embeds `json_agg(...)::jsonb` in a lateral subquery, exactly like PostgREST's QueryBuilder,
so bodies are byte-identical. Every value travels as an untyped (unknown) text parameter;
identifiers and JSON keys are quoted here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flux.rest import grammar as g
from flux.rest.errors import ApiError
from flux.rest.plan import Condition, Embed, NullEmbedFilter, ReadNode, ReadPlan, embed_for_order

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
    params: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.params: list[str] = []

    def param(self, value: str) -> str:
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
        return ident(node.alias) if node.alias else qualified(self.schema, node.relation.name)

    def select_item(self, ref: str, item: g.SelectItem) -> str:
        if isinstance(item, g.SelectStar):
            return f"{ref}.*"
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

    def condition(self, ref: str, cond: Condition) -> str:
        if isinstance(cond, NullEmbedFilter):
            return f"{ident(cond.agg_alias)} IS {'' if cond.negated else 'NOT '}DISTINCT FROM NULL"
        if isinstance(cond, g.Filter):
            return self.operation(self.field(ref, cond.field), cond.operation)
        joiner = " AND " if cond.operator == "and" else " OR "
        inner = joiner.join(self.condition(ref, c) for c in cond.children)
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

    def order(self, node: ReadNode, ref: str) -> str:
        terms = []
        for term in node.order:
            base = (
                ref
                if term.relation is None
                else ident(embed_for_order(node, term.relation).agg_alias)
            )
            text = self.field(base, term.field)
            if term.direction:
                text += " " + term.direction.upper()
            if term.nulls:
                text += " NULLS " + term.nulls.upper()
            terms.append(text)
        return "ORDER BY " + ", ".join(terms) if terms else ""

    # ------------------------------------------------------------- read query
    def read(self, node: ReadNode, parent_ref: str | None = None, emb: Embed | None = None) -> str:
        ref = self.ref(node)
        selects = [self.select_item(ref, s) for s in node.select]
        if not node.select and not node.embeds:
            selects = [f"{ref}.*"]
        joins: list[str] = []
        for child in node.embeds:
            sel, join = self.embed(ref, child)
            selects.extend(sel)
            joins.append(join)
        from_ = f"FROM {qualified(self.schema, node.relation.name)}"
        if node.alias:
            from_ += f" AS {ident(node.alias)}"
        if emb is not None and emb.relationship.junction is not None:
            from_ += f", {qualified(self.schema, emb.relationship.junction.table)}"
        conds = [self.condition(ref, c) for c in node.where]
        if emb is not None and parent_ref is not None:
            conds += self.join_conditions(parent_ref, emb)
        parts = [f"SELECT {', '.join(selects)}", from_, *joins]
        if conds:
            parts.append("WHERE " + " AND ".join(conds))
        if node.has_aggregates:
            groups = [
                self.field(ref, s.field)
                if not s.cast
                else f"CAST({self.field(ref, s.field)} AS {type_name(s.cast)})"
                for s in node.select
                if isinstance(s, g.SelectField) and not s.aggregate
            ]
            if groups:
                parts.append("GROUP BY " + ", ".join(groups))
        order = self.order(node, ref)
        if order:
            parts.append(order)
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
            if emb.empty:
                return [], join
            if emb.spread:
                return [
                    f"{agg}.{ident(n)}" if n != "*" else f"{agg}.*" for n in _output_names(emb.node)
                ], join
            return [f"row_to_json({agg}.*)::jsonb AS {ident(emb.key)}"], join
        cond = f"{agg} IS NOT NULL" if emb.inner else "TRUE"
        join = (
            f"{kind} JOIN LATERAL ( SELECT json_agg({agg})::jsonb AS {agg} FROM ({sub} ) "
            f"AS {agg} ) AS {agg} ON {cond}"
        )
        if emb.empty:
            return [], join
        return [f"COALESCE( {agg}.{agg}, '[]') AS {ident(emb.key)}"], join

    # ------------------------------------------------------------- count query
    def count(self, node: ReadNode, parent_ref: str | None = None, emb: Embed | None = None) -> str:
        """`SELECT 1 FROM ...` with the node's filters; inner embeds become EXISTS."""
        ref = self.ref(node)
        conds = []
        for c in node.where:
            if isinstance(c, NullEmbedFilter):
                child = next(e for e in node.embeds if e.agg_alias == c.agg_alias)
                conds.append(
                    f"{'' if c.negated else 'NOT '}EXISTS ({self.count(child.node, ref, child)})"
                )
            else:
                conds.append(self.condition(ref, c))
        for child in node.embeds:
            if child.inner:
                conds.append(f"EXISTS ({self.count(child.node, ref, child)})")
        sql = f"SELECT 1 FROM {qualified(self.schema, node.relation.name)}"
        if node.alias:
            sql += f" AS {ident(node.alias)}"
        if emb is not None and parent_ref is not None:
            if emb.relationship.junction is not None:
                sql += f", {qualified(self.schema, emb.relationship.junction.table)}"
            conds += self.join_conditions(parent_ref, emb)
        return sql + (" WHERE " + " AND ".join(conds) if conds else "")


def _output_names(node: ReadNode) -> list[str]:
    names: list[str] = []
    for item in node.select:
        if isinstance(item, g.SelectStar):
            names.append("*")
        elif isinstance(item, g.SelectCount):
            names.append(item.alias or "count")
        elif isinstance(item, g.SelectField):
            fld = item.field
            keys = [op.key for op in fld.json_path if isinstance(op.key, str)]
            names.append(item.alias or item.aggregate or (keys[-1] if keys else fld.name))
    for emb in node.embeds:
        if not emb.empty:
            names.extend(_output_names(emb.node) if emb.spread else [emb.key])
    return names


def read_statement(plan: ReadPlan, *, singular: bool = False) -> Statement:
    """The main statement: total (when counting exactly), page total, body, response GUCs."""
    b = _Builder(plan.schema)
    total = "null::bigint"
    if plan.count == "exact":
        total = f"(SELECT pg_catalog.count(*) FROM ({b.count(plan.root)}) _postgrest_c)"
    elif plan.count == "estimated" and plan.max_rows is not None:
        total = (
            f"(SELECT pg_catalog.count(*) FROM ({b.count(plan.root)} "
            f"LIMIT {int(plan.max_rows) + 1}) _postgrest_c)"
        )
    body = (
        "coalesce((json_agg(_postgrest_t)->0)::text, 'null')"
        if singular
        else "coalesce(json_agg(_postgrest_t), '[]')::text"
    )
    read = b.read(plan.root)
    sql = (
        f"SELECT {total} AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
        f"{body} AS body, "
        "nullif(current_setting('response.headers', true), '') AS response_headers, "
        "nullif(current_setting('response.status', true), '') AS response_status "
        f"FROM ( {read} ) _postgrest_t"
    )
    return Statement(sql, b.params)


def planned_count_statement(plan: ReadPlan) -> Statement:
    """EXPLAIN of the count query; the planner's row estimate is the planned count."""
    b = _Builder(plan.schema)
    return Statement(f"EXPLAIN (FORMAT JSON) {b.count(plan.root)}", b.params)

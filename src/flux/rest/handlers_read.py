"""GET/HEAD on a table or view: plan (or reuse a cached shape), run, answer rows."""

from __future__ import annotations

from starlette.responses import Response

from flux.rest.errors import ApiError
from flux.rest.exchange import Exchange
from flux.rest.media import Media
from flux.rest.plan import ReadPlan, plan_read
from flux.rest.request import ApiRequest
from flux.rest.response import ReadResult, plan_response, preference_applied
from flux.rest.schema_cache import SchemaSnapshot
from flux.rest.shapes import BuiltRead, placeholder_request, shape_of, template
from flux.rest.sql import Statement, planned_count_statement, read_statement


async def read(ex: Exchange) -> Response:
    """Answer a read of `ex.api.resource`."""
    api = ex.api
    plan, media, statements = await _read_statements(ex)
    applied = preference_applied(api.preferences, tx_allowed=ex.tx_allowed, timezone=ex.timezone)
    tx = ex.tx(read_only=True)

    rows = await ex.run(tx, statements)
    if media.kind == "plan":
        return plan_response(rows[-1], media)

    total, page_total, body, guc_h, guc_s = rows[-1]
    if plan.count in ("planned", "estimated"):
        planned = int(rows[0][0][0]["Plan"]["Plan Rows"])
        if plan.count == "planned":
            total = planned
        elif plan.max_rows is None or total > plan.max_rows:
            # as PostgREST: the planner's guess only when the (max-rows bounded) count
            # reached the limit, and only when it is greater
            total = max(total, planned)
    response = ex.rows_response(
        ReadResult(total, page_total, body, guc_h, guc_s),
        lower=plan.root.offset,
        media=media,
        applied=applied,
    )
    response.headers["Content-Location"] = api.content_location()
    ex.lap("response")
    return response


def _plan_read(ex: Exchange, api: ApiRequest, snapshot: SchemaSnapshot) -> ReadPlan:
    config = ex.engine.config
    plan = plan_read(
        api,
        snapshot,
        aggregates_enabled=config.db_aggregates_enabled,
        max_rows=ex.max_rows,
    )
    return plan


def _read_sql(plan: ReadPlan, media: Media) -> list[Statement]:
    statements = []
    if plan.count in ("planned", "estimated") and media.kind != "plan":
        statements.append(planned_count_statement(plan))
    statements.append(read_statement(plan, media))
    return statements


async def _read_statements(ex: Exchange) -> tuple[ReadPlan, Media, list[Statement]]:
    """Plan, media and SQL of a read: from the shape cache, else built (and remembered)."""
    api = ex.api
    shapes = ex.engine.shapes
    snapshot = await ex.snapshot()
    shape = shape_of(api, (snapshot.serial, ex.max_rows))
    cached = shapes.get(shape) if shape is not None else None
    if isinstance(cached, BuiltRead):
        assert shape is not None
        return cached.plan, cached.media, cached.statements_for(shape.values)
    media = await ex.negotiate()
    plan = await ex.planned(lambda snap: _plan_read(ex, api, snap), ("PGRST200", "PGRST205"))
    statements = _read_sql(plan, media)
    if shape is not None and cached is None:
        try:
            shaped = _plan_read(ex, placeholder_request(api, shape), snapshot)
            built = template(shaped, media, _read_sql(shaped, media), len(shape.values))
        except ApiError:
            built = None
        shapes.put(shape, built)
    return plan, media, statements

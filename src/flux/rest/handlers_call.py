"""GET/HEAD/POST on /rpc/<function>: parse the arguments, plan the call, run, answer."""

from __future__ import annotations

from starlette.responses import Response

from flux.rest.call_plan import CallPlan, plan_call, scalar_media
from flux.rest.checks import row_checks, strict_max_affected
from flux.rest.errors import max_affected_rpc_violation
from flux.rest.exchange import Exchange
from flux.rest.payload import Payload, parse_payload
from flux.rest.response import (
    ReadResult,
    content_range,
    finish,
    plan_response,
    preference_applied,
)
from flux.rest.sql import call_statement


async def call(ex: Exchange) -> Response:
    """Answer a call of the function `ex.api.resource`."""
    api = ex.api
    prefs = api.preferences
    config = ex.engine.config
    payload: Payload | None = None
    if api.method == "POST":
        payload = parse_payload(
            ex.request.headers.get("content-type"), await ex.body(), None, rpc=True
        )
    plan: CallPlan = await ex.planned(
        lambda snap: plan_call(
            api,
            snap,
            payload,
            aggregates_enabled=config.db_aggregates_enabled,
            max_rows=ex.max_rows,
        ),
        ("PGRST200", "PGRST202"),
    )
    media = await ex.negotiate(scalar_media(plan.routine))
    limit = strict_max_affected(prefs, media)
    if limit is not None and not plan.routine.returns_set:
        raise max_affected_rpc_violation()
    check = row_checks(singular=media.singular, max_affected=limit)
    tx = ex.tx(
        read_only=plan.read_only,
        force_rollback=media.kind == "plan" and not plan.read_only,
    )
    statement = call_statement(plan, media)

    rows = await ex.run(tx, [statement], check)
    if media.kind == "plan":
        return plan_response(rows[0], media)
    total, page_total, body, guc_h, guc_s = rows[0]
    applied = preference_applied(
        prefs, tx_allowed=ex.tx_allowed, timezone=ex.timezone, max_affected=True
    )
    result = ReadResult(total, page_total, body, guc_h, guc_s)
    if plan.returns_void:
        headers = {"Content-Range": content_range(plan.read.offset, page_total, total)}
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        response = finish(b"", 204, headers, media=None, guc_h=guc_h, guc_s=guc_s)
    else:
        response = ex.rows_response(result, lower=plan.read.offset, media=media, applied=applied)
    ex.lap("response")
    return response

"""POST/PUT/PATCH/DELETE on a table or view: parse the body, plan, run, answer."""

from __future__ import annotations

from starlette.responses import Response

from flux.rest.checks import row_checks, strict_max_affected
from flux.rest.exchange import Exchange
from flux.rest.mutate_plan import MutatePlan, plan_mutate, put_mismatch
from flux.rest.payload import Payload, parse_payload
from flux.rest.response import WriteResult, plan_response, preference_applied, write_response
from flux.rest.sql import mutate_statement


async def write(ex: Exchange) -> Response:
    """Answer a write to `ex.api.resource`."""
    api = ex.api
    prefs = api.preferences
    media = await ex.negotiate()
    payload: Payload | None = None
    if api.method != "DELETE":
        payload = parse_payload(
            ex.request.headers.get("content-type"),
            await ex.body(),
            api.query.columns,
            rpc=False,
            ragged=prefs.missing == "default",
        )
    aggregates = ex.engine.config.db_aggregates_enabled
    plan: MutatePlan = await ex.planned(
        lambda snap: plan_mutate(api, snap, payload, aggregates_enabled=aggregates),
        ("PGRST200", "PGRST204", "PGRST205"),
    )
    kind = "put" if plan.put else plan.kind
    representation = plan.return_ == "representation"
    # a singular write is checked whatever `Prefer: return` says: more (or fewer) rows than
    # one roll back, even with tx=commit; PUT has its own check (PGRST115)
    check = row_checks(
        singular=media.singular and not plan.put,
        max_affected=strict_max_affected(prefs, media) if plan.kind != "insert" else None,
    )
    tx = ex.tx(read_only=False, force_rollback=media.kind == "plan")
    statement = mutate_statement(plan, media)

    rows = await ex.run(tx, [statement], check)
    if media.kind == "plan":
        return plan_response(rows[0], media)
    _, page_total, body, guc_h, guc_s, location, inserted = rows[0]
    if plan.put and page_total != 1:
        raise put_mismatch()
    pk_or_conflict = bool(plan.relation.pk) or api.query.on_conflict is not None
    applied = preference_applied(
        prefs,
        tx_allowed=ex.tx_allowed,
        timezone=ex.timezone,
        resolution=kind == "insert" and pk_or_conflict,
        missing=kind in ("insert", "update"),
        return_=True,
        max_affected=kind in ("update", "delete"),
    )
    response = write_response(
        WriteResult(page_total, body, guc_h, guc_s, location or [], inserted),
        kind=kind,
        table=plan.relation.name,
        representation=representation,
        count=prefs.count in ("exact", "estimated"),
        upsert_merge=plan.counts_inserts,
        media=media,
        preference_applied=applied,
        extra_headers=ex.profile_headers(),
    )
    ex.lap("response")
    return response

"""OPTIONS on the root, a table, view or function: the `Allow` header for what it supports.

A function is looked up as a GET call with the query string's arguments (as PostgREST plans
it), so overloads resolve and an unknown function, or one those arguments cannot call, is 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from flux.rest.call_plan import find_routine
from flux.rest.errors import ApiError, table_not_found
from flux.rest.request import ApiRequest
from flux.rest.schema_cache import Relation, Routine, SchemaSnapshot

if TYPE_CHECKING:
    from flux.rest.app import RestEngine


async def options(engine: RestEngine, schema: str, api: ApiRequest) -> Response:
    """200 with `Allow`; 404 for an unknown relation or function."""
    resource = api.resource
    allow = "OPTIONS,GET,HEAD"
    if api.is_rpc and resource is not None:
        keys = tuple(dict.fromkeys(k for k, _ in api.query.rpc_args))

        def routine_in(snapshot: SchemaSnapshot) -> Routine:
            return find_routine(
                snapshot, resource, keys, single_object=False, media="application/json", post=False
            )[0]

        try:
            routine = routine_in(await engine.snapshot(schema))
        except ApiError as err:
            if err.code != "PGRST202":
                raise
            routine = routine_in(await engine.snapshot(schema, refresh=True))
        allow = "OPTIONS,POST" if routine.volatility == "v" else "OPTIONS,GET,HEAD,POST"
    elif resource is not None:
        snapshot = await engine.snapshot(schema)
        rel = snapshot.relations.get(resource)
        if rel is None:
            snapshot = await engine.snapshot(schema, refresh=True)
            rel = snapshot.relations.get(resource)
        if rel is None:
            raise table_not_found(schema, resource, snapshot.suggest_table(resource))
        allow = relation_allow(rel)
    return Response(status_code=200, headers={"Allow": allow, "Access-Control-Allow-Origin": "*"})


def relation_allow(rel: Relation) -> str:
    """PostgREST's verbs for a relation: PUT needs a primary key plus insert and update."""
    verbs = ["OPTIONS,GET,HEAD"]
    if rel.insertable:
        verbs.append("POST")
    if rel.insertable and rel.updatable and rel.pk:
        verbs.append("PUT")
    if rel.updatable:
        verbs.append("PATCH")
    if rel.deletable:
        verbs.append("DELETE")
    return ",".join(verbs)

"""OPTIONS on the root, a table, view or function: the `Allow` header for what it supports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from flux.rest.errors import invalid_resource_path, table_not_found
from flux.rest.schema_cache import Relation

if TYPE_CHECKING:
    from flux.rest.app import RestEngine


async def options(engine: RestEngine, schema: str, resource: str | None, is_rpc: bool) -> Response:
    """200 with `Allow`; 404 for an unknown relation or function."""
    allow = "OPTIONS,GET,HEAD"
    if is_rpc and resource is not None:
        snapshot = await engine.snapshot(schema)
        routines = snapshot.routines.get(resource) or (
            await engine.snapshot(schema, refresh=True)
        ).routines.get(resource)
        if not routines:
            raise invalid_resource_path()
        volatile = any(r.volatility == "v" for r in routines)
        allow = "OPTIONS,POST" if volatile else "OPTIONS,GET,HEAD,POST"
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

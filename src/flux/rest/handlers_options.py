"""OPTIONS on a table, view or function: the `Allow` header for what it supports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from flux.rest.errors import invalid_resource_path, table_not_found

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
        if not rel.is_view:
            allow = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    return Response(status_code=200, headers={"Allow": allow})

"""GET/HEAD on the root path: the OpenAPI document of the schema, as the role sees it."""

from __future__ import annotations

import json

from starlette.responses import Response

from flux.rest.errors import media_type_error, openapi_disabled
from flux.rest.exchange import Exchange
from flux.rest.openapi import document, visibility_statement
from flux.rest.request import ApiRequest

_ACCEPTED = (
    ("application", "json"),
    ("*", "*"),
    ("application", "*"),
    ("application", "openapi+json"),
)


async def openapi(ex: Exchange) -> Response:
    """Answer the root endpoint (PGRST126 when OpenAPI is disabled)."""
    config = ex.engine.config
    api = ex.api
    if config.openapi_mode == "disabled":
        raise openapi_disabled()
    _check_media(api)
    snapshot = await ex.snapshot()
    statement = visibility_statement(ex.schema, config.openapi_mode == "follow-privileges")
    tx = ex.tx(read_only=True)
    (row,) = await ex.run(tx, [statement])
    doc = document(snapshot, json.loads(row[0]), config, ex.request.headers.get("host", ""))
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(
        b"" if api.method == "HEAD" else body,
        status_code=200,
        headers=ex.profile_headers(),
        media_type=None,
    )
    response.headers["Content-Type"] = "application/openapi+json; charset=utf-8"
    if api.method == "HEAD":
        del response.headers["content-length"]  # PostgREST sends none without a body
    ex.lap("response")
    return response


def _check_media(api: ApiRequest) -> None:
    """The root endpoint answers OpenAPI (or JSON / anything); 406 otherwise."""
    if any((media.type, media.subtype) in _ACCEPTED for media in api.accept):
        return
    raise media_type_error([f"{m.type}/{m.subtype}" for m in api.accept])

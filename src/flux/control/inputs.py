"""Input the control plane cannot store is refused (422) before any route runs.

PostgreSQL text holds neither NUL characters nor lone UTF-16 surrogates (which JSON can spell
as `\\u0000` and `\\ud800`), and a request body must be UTF-8. A value like that reaching a
service would fail half-way, after some of its work was done (a push applied, then its audit
row refused). `CheckedRoute`, the route class of every `/api/cli/v1` route, checks the raw
body, every JSON string (keys included), path parameter and query parameter first; field
formats and lengths (file names, slugs, hashes) are the pydantic types below, shared by the
request models.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import Field

from flux.errors import BadInput
from flux.naming import HASH_RE, SLUG_MAX, SLUG_RE

FILENAME_MAX = 255

Filename = Annotated[str, Field(min_length=1, max_length=FILENAME_MAX, pattern=r"^[^/\\\x00]+$")]
Slug = Annotated[str, Field(min_length=1, max_length=SLUG_MAX, pattern=SLUG_RE.pattern)]
Hash = Annotated[str, Field(pattern=HASH_RE.pattern)]


def unstorable(text: str) -> str | None:
    """Why PostgreSQL could not store `text` (None when it can)."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def _first_problem(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        problem = unstorable(value)
        return f"{where}: {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_problem(key, f"{where} key") or _first_problem(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := _first_problem(item, f"{where}[{index}]"):
                return found
    return None


async def _check(request: Request) -> None:
    for name, value in request.path_params.items():
        if problem := _first_problem(value, f"path {name}"):
            raise BadInput(f"invalid request: {problem}", code="unstorable_input")
    for name, value in request.query_params.multi_items():
        if problem := _first_problem(name, "query") or _first_problem(value, f"query {name}"):
            raise BadInput(f"invalid request: {problem}", code="unstorable_input")
    body = await request.body()  # cached: the route reads the same bytes again
    if not body:
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"invalid request: the body is not valid UTF-8 (byte {exc.start})",
            code="unstorable_input",
        ) from None
    try:
        data = json.loads(text)
    except ValueError:
        return  # not JSON: the route's own parsing answers 422
    if problem := _first_problem(data, "body"):
        raise BadInput(f"invalid request: {problem}", code="unstorable_input")


class CheckedRoute(APIRoute):
    """An APIRoute that refuses unstorable input before dependencies and the endpoint run."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            await _check(request)
            return await handler(request)

        return checked

"""Opening a connection that a cancelled request cannot leave half-way.

A psycopg connect cancelled during the login (a request whose client left, a server shutting
down) drops the coroutine but not the socket: the server keeps that backend in
"authentication" until `authentication_timeout` (a minute by default), where it counts
against the role's connection limit and holds up `DROP DATABASE`. Here the login always runs
to its end; when the caller was cancelled meanwhile, the new connection is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg


async def connect(conninfo: str, **kwargs: Any) -> psycopg.AsyncConnection:
    """`psycopg.AsyncConnection.connect(conninfo, **kwargs)`, safe to cancel."""
    login = asyncio.ensure_future(psycopg.AsyncConnection.connect(conninfo, **kwargs))
    try:
        return await asyncio.shield(login)
    except asyncio.CancelledError:
        login.add_done_callback(_close_unwanted)
        raise


def _close_unwanted(login: asyncio.Future[psycopg.AsyncConnection]) -> None:
    if login.cancelled() or login.exception() is not None:
        return
    asyncio.ensure_future(_close(login.result()))


async def _close(conn: psycopg.AsyncConnection) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()

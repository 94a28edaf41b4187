"""Bearer-token authentication for the control-plane API."""

from __future__ import annotations

from fastapi import Request

from flux.catalog import tokens
from flux.catalog.users import User
from flux.errors import Unauthorized


def authenticate(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API token", hint="run `flux login`")
    ctx = request.app.state.ctx
    with ctx.catalog.transaction() as conn:  # commits the token's last_used_at
        user = tokens.user_for_token(conn, token.strip())
    if user is None:
        raise Unauthorized("invalid API token", hint="run `flux login`")
    return user

"""Personal API tokens: the service (issue, list, revoke — each change audited) and the routes
under /api/cli/v1/tokens.

A user sees and revokes only their own tokens, and sees of them only what the catalog keeps
for display (id, name, prefix preview, timestamps) — never the hash. The plaintext is in the
answer of the call that creates it and nowhere else. Revocation is immediate: every API call
authenticates against the catalog, nothing caches a token.
"""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field, field_validator

from flux.catalog import audit
from flux.catalog import tokens as catalog_tokens
from flux.catalog.users import User
from flux.control.auth import authenticate
from flux.control.context import ControlContext
from flux.errors import Conflict, NotFound

_MAX_ID = 2**63 - 1  # api_tokens.id is a bigint


def issue(conn: psycopg.Connection, user_id: int, name: str) -> tuple[str, dict]:
    """A new token for the user, audited: (plaintext, listing row)."""
    token, row = catalog_tokens.issue_token(conn, user_id, name)
    audit.record(
        conn,
        user_id=user_id,
        action="token.create",
        target=f"token:{row['id']}",
        details={"name": name, "prefix": row["prefix"]},
    )
    return token, row


def revoke(conn: psycopg.Connection, user_id: int, token_id: int) -> dict:
    """Revoke one of the user's active tokens, audited; its row."""
    row = catalog_tokens.revoke_token_id(conn, user_id, token_id)
    if row is None:
        if catalog_tokens.get_token(conn, user_id, token_id) is None:
            raise NotFound(f"token {token_id} not found", hint="see `flux token list`")
        raise Conflict(f"token {token_id} is already revoked")
    audit.record(
        conn,
        user_id=user_id,
        action="token.revoke",
        target=f"token:{token_id}",
        details={"name": row["name"], "prefix": row["prefix"]},
    )
    return row


def describe(row: dict) -> dict:
    def when(key: str) -> str | None:
        return row[key].isoformat() if row[key] is not None else None

    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "createdAt": when("created_at"),
        "lastUsedAt": when("last_used_at"),
        "revokedAt": when("revoked_at"),
    }


class TokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def printable(cls, value: str) -> str:
        value = value.strip()
        if not value or not value.isprintable():
            raise ValueError("must be non-blank printable text")
        return value


def register_token_routes(router: APIRouter) -> None:
    @router.get("/tokens")
    def list_tokens(request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        with ctx.catalog.connection() as conn:
            rows = catalog_tokens.list_tokens(conn, user.id)
        return {"tokens": [describe(row) for row in rows]}

    @router.post("/tokens", status_code=201)
    def create(body: TokenBody, request: Request, user: User = Depends(authenticate)) -> dict:
        ctx: ControlContext = request.app.state.ctx
        with ctx.catalog.transaction() as conn:
            token, row = issue(conn, user.id, body.name)
        return {**describe(row), "token": token}

    @router.delete("/tokens/{token_id}")
    def remove(
        request: Request,
        token_id: int = Path(ge=1, le=_MAX_ID),
        user: User = Depends(authenticate),
    ) -> dict:
        ctx: ControlContext = request.app.state.ctx
        with ctx.catalog.transaction() as conn:
            row = revoke(conn, user.id, token_id)
        return {"revoked": True, **describe(row)}

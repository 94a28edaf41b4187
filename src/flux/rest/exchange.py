"""One request in flight, as the per-kind handlers see it, and the helpers they share.

`Exchange` carries what dispatch worked out (parsed request, auth result, schema, timezone,
timings) and offers the steps every handler repeats: transaction settings, media
negotiation, the Content-Profile header, planning with one schema-cache refresh, reading
the body, running the statements, and timing laps for Server-Timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from flux.rest.auth import AuthResult
from flux.rest.errors import ApiError
from flux.rest.execute import Check, TxSettings
from flux.rest.limits import tighter
from flux.rest.media import Media, negotiate
from flux.rest.payload import body_too_large
from flux.rest.request import ApiRequest
from flux.rest.response import ReadResult, read_response
from flux.rest.schema_cache import SchemaSnapshot
from flux.rest.sql import Statement

if TYPE_CHECKING:
    from flux.rest.app import RestEngine

P = TypeVar("P")


def lap(timings: dict[str, float], name: str, mark: float) -> float:
    """Record the milliseconds since `mark` under `name`; the new mark."""
    now = time.perf_counter()
    timings[name] = (now - mark) * 1000
    return now


@dataclass
class Exchange:
    """The request being answered, with the engine that answers it."""

    engine: RestEngine
    request: Request
    api: ApiRequest
    auth: AuthResult
    schema: str
    timezone: str | None
    timings: dict[str, float]
    mark: float

    def lap(self, name: str) -> None:
        self.mark = lap(self.timings, name, self.mark)

    @property
    def tx_allowed(self) -> bool:
        return self.engine.tx_allowed

    @property
    def max_rows(self) -> int | None:
        """`db-max-rows`, or the tenant plan's row limit when that is tighter (pool mode)."""
        return tighter(self.engine.config.db_max_rows, self.auth.limits.max_rows)

    def tx(self, *, read_only: bool, force_rollback: bool = False) -> TxSettings:
        config = self.engine.config
        api = self.api
        commit = config.db_tx_end.startswith("commit")
        if self.tx_allowed and api.preferences.tx in ("commit", "rollback"):
            commit = api.preferences.tx == "commit"
        return TxSettings(
            role=self.auth.role,
            search_path=(self.schema, *config.db_extra_search_path),
            claims_json=self.auth.claims_json,
            method=api.method,
            path=api.path,
            headers_json=api.headers_json(),
            cookies_json=api.cookies_json(),
            read_only=read_only,
            commit=commit and not force_rollback,
            authenticated=self.auth.authenticated,
            app_settings=config.app_settings,
            pre_request=config.db_pre_request,
            timezone=self.timezone,
            statement_timeout_ms=self.auth.limits.statement_timeout_ms,
            connections=self.auth.limits.connections,
        )

    async def negotiate(self, scalar: Any = None) -> Media:
        wants_geo = any(m.subtype == "geo+json" for m in self.api.accept)
        geojson = wants_geo and (await self.engine.facts())[1]
        return negotiate(
            self.api.accept,
            plan_enabled=self.engine.config.db_plan_enabled,
            geojson=geojson,
            scalar=scalar,
        )

    def profile_headers(self) -> dict[str, str]:
        config = self.engine.config
        if len(config.db_schemas) > 1 and not config.pool_mode:
            return {"Content-Profile": self.schema}
        return {}

    def rows_response(
        self, result: ReadResult, *, lower: int, media: Media, applied: list[str]
    ) -> Response:
        """The answer to a read or a call returning rows (no body for HEAD)."""
        return read_response(
            result,
            lower=lower,
            head=self.api.method == "HEAD",
            media=media,
            preference_applied=applied,
            extra_headers=self.profile_headers(),
        )

    async def snapshot(self) -> SchemaSnapshot:
        return await self.engine.snapshot(self.schema)

    async def planned(
        self, plan_fn: Callable[[SchemaSnapshot], P], retry_codes: tuple[str, ...]
    ) -> P:
        """Plan against the cached snapshot; a lookup miss refreshes it once and retries."""
        try:
            return plan_fn(await self.engine.snapshot(self.schema))
        except ApiError as err:
            if err.code not in retry_codes:
                raise
            return plan_fn(await self.engine.snapshot(self.schema, refresh=True))

    async def body(self) -> bytes:
        limit = self.engine.config.server_max_body_size
        declared = self.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise body_too_large(limit)
        chunks = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise body_too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def run(
        self, tx: TxSettings, statements: list[Statement], check: Check | None = None
    ) -> list[Any]:
        """Close the planning lap, run the transaction, close its lap; the result rows."""
        self.lap("plan")
        rows = await self.engine.db.run(tx, statements, check)
        self.lap("transaction")
        return rows

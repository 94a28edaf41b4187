"""The gateway ASGI app: Service URL → checks → REST pool (v2, in process) or REST process (v1).

Order per request: CORS preflight → host/path → project (404 when unknown, no tenant DB
touched) → project JWT (v2: 401, or 429 once the client address spent its failed-auth budget;
never the project's budget) → rate limit (429) → status/maintenance (503) → declared body size
(413) → chunked body size (413) → in-flight cap (503) → forward. v2 requests reach the
pool ASGI app with the route prefix removed, `Authorization` replaced by a bridge JWT and the
profile headers set to the tenant schema. One access-log line per request; tokens are never
logged or echoed. Every 503 leaving the gateway carries `Retry-After` (the pool's own 503s
while the shared database restarts included), so clients back off instead of hammering.
Refusals are PostgREST-shaped (`error` plus code/message/details/hint, `Proxy-Status`); the
codes are listed in rejections.py and docs/gateway.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flux.gateway.activity import ActivityRecorder
from flux.gateway.auth import TokenVerifier
from flux.gateway.bridge import BridgeMinter
from flux.gateway.directory import CatalogUnavailable, Directory, ProjectRoute
from flux.gateway.hosts import Route, parse_route
from flux.gateway.limits import (
    FailedAuthLimiter,
    InFlight,
    RateLimiter,
    check_body_size,
    check_state,
)
from flux.gateway.proxy import UpstreamProxy
from flux.gateway.redislink import RedisLink
from flux.gateway.rejections import (
    BODY_TOO_LARGE,
    CATALOG_DOWN,
    INTERNAL,
    NOT_FOUND,
    Reject,
    unavailable,
)

access_log = logging.getLogger("flux.gateway.access")
log = logging.getLogger("flux.gateway")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_IN_FLIGHT_CAP = 64
_STRIPPED = frozenset({b"authorization", b"apikey", b"accept-profile", b"content-profile"})
_EXPOSE = b"Content-Range, Content-Location, Location, Preference-Applied, Retry-After, Range-Unit"
_PREFLIGHT_METHODS = b"GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"
_PREFLIGHT_HEADERS = (
    b"Authorization, Content-Type, Accept, Accept-Profile, Content-Profile, Prefer, Range, "
    b"apikey, x-client-info"
)
NO_POOL = unavailable("project unavailable", "no_pool", 5)
_Forward = Callable[[Receive, Send], Awaitable[Reject | None]]
_RETRY_AFTER = (b"retry-after", b"1")


@dataclass(slots=True)
class _Outcome:
    """What the access log says about one request."""

    hash: str = "-"
    status: int = 0
    reason: str = "-"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", _EXPOSE),
        (b"vary", b"Origin"),
    ]


async def _send_reject(send: Send, reject: Reject) -> None:
    """The refusal as JSON (see rejections.py for the body and codes)."""
    payload = reject.body()
    headers = [(k.lower().encode(), v.encode()) for k, v in reject.headers.items()]
    await send(
        {
            "type": "http.response.start",
            "status": reject.status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
                (b"proxy-status", reject.proxy_status().encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _buffer_body(receive: Receive, limit: int) -> Receive | Reject:
    """Read a body of unknown length (chunked) up to `limit` bytes, then replay it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return BODY_TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


class Gateway:
    """The raw ASGI handler behind the Starlette app; holds the gateway's live parts."""

    def __init__(
        self,
        *,
        directory: Directory,
        pool_app: ASGIApp | None,
        pool_jwt_secret: str,
        base_domain: str,
        redis_url: str | None,
        max_body_bytes: int,
        in_flight_cap: int,
        activity: ActivityRecorder | None,
        proxy: UpstreamProxy,
    ) -> None:
        self.directory = directory
        self.pool_app = pool_app
        self.bridge = BridgeMinter(pool_jwt_secret)
        self._base_domain = base_domain
        self._redis = RedisLink(redis_url) if redis_url else None
        self.limiter = RateLimiter(self._redis)
        self.failed_auth = FailedAuthLimiter(self._redis)
        self.tokens = TokenVerifier()
        self.in_flight = InFlight(in_flight_cap)
        self._max_body = max_body_bytes
        self.activity = activity
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        outcome = _Outcome()
        origin = _header(scope, b"origin")
        cors = _cors_headers(origin)

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome.status = message["status"]
                if cors or outcome.status == 503:
                    present = {k.lower() for k, _ in message["headers"]}
                    extra = [h for h in cors if h[0] not in present]
                    if outcome.status == 503 and b"retry-after" not in present:
                        extra.append(_RETRY_AFTER)
                    message = {**message, "headers": [*message["headers"], *extra]}
            await send(message)

        try:
            reject = await self._handle(scope, receive, send_out, outcome, origin)
            if reject is not None:
                outcome.reason = reject.reason
                await _send_reject(send_out, reject)
        except Exception:
            outcome.reason = INTERNAL.reason
            log.exception("gateway request failed (project %s)", outcome.hash)
            if outcome.status != 0:
                raise  # mid-response: let the server abort the connection
            await _send_reject(send_out, INTERNAL)
        finally:
            access_log.info(
                "%s %s %s %d %.2fms %s",
                outcome.hash,
                scope["method"],
                scope["path"],
                outcome.status,
                (time.perf_counter() - started) * 1000,
                outcome.reason,
            )

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, outcome: _Outcome, origin: str | None
    ) -> Reject | None:
        method = scope["method"]
        if method == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin)
            return None
        route = parse_route(_header(scope, b"host"), scope["path"], self._base_domain)
        if route is None:
            return NOT_FOUND
        try:
            project = await self.directory.resolve(route.key)
        except CatalogUnavailable:
            return CATALOG_DOWN
        if project is None:
            return NOT_FOUND
        outcome.hash = project.hash
        # The v2 project JWT is verified (by `_v2`, which only checks and prepares) before
        # anything is counted against the project: a 401 spends the client address's
        # failed-auth budget, never the project's, so token-less floods cannot lock a project's
        # users out. v1 projects check their JWT in their own REST process, after this.
        if project.mode == "v2_shared":
            forward = self._v2(scope, route, project)
        else:
            forward = self._v1(scope, route, project)
        if isinstance(forward, Reject) and forward.status == 401:
            return await self.failed_auth.check(scope.get("client")) or forward
        reject = await self.limiter.check(project.hash, project.rate_limit_per_minute)
        reject = reject or check_state(
            method,
            status=project.status,
            lifecycle_state=project.lifecycle_state,
            maintenance=project.maintenance,
        )
        reject = reject or check_body_size(_header(scope, b"content-length"), self._max_body)
        if reject is not None:
            return reject
        if isinstance(forward, Reject):
            return forward
        if _header(scope, b"content-length") is None and _header(scope, b"transfer-encoding"):
            buffered = await _buffer_body(receive, self._max_body)  # only once authenticated
            if isinstance(buffered, Reject):
                return buffered
            receive = buffered
        reject = self.in_flight.acquire(project.hash)
        if reject is not None:
            return reject
        try:
            if self.activity is not None:
                self.activity.touch(project.tenant_id)
            return await forward(receive, send)
        finally:
            self.in_flight.release(project.hash)

    def _v2(self, scope: Scope, route: Route, project: ProjectRoute) -> Reject | _Forward:
        authorization = _header(scope, b"authorization")
        claims = self.tokens.verify(
            authorization, secret=project.jwt_secret, tenant_role=project.role
        )
        if isinstance(claims, Reject):
            return claims
        pool_app = self.pool_app
        if pool_app is None:
            return NO_POOL
        assert authorization is not None  # verified above
        token = self.bridge.mint(
            authorization, claims, tenant_id=project.tenant_id, limits=project.limits
        )
        schema = project.schema.encode()
        headers = [(k, v) for k, v in scope["headers"] if k not in _STRIPPED]
        headers.append((b"authorization", b"Bearer " + token.encode()))
        # The tenant's schema is its `public`: supabase-js sends `Accept-Profile: public` by
        # default. Any other schema is passed on so the pool answers 406 like PostgREST (the
        # bridge role could not read it anyway).
        for name in (b"accept-profile", b"content-profile"):
            asked = (_header(scope, name) or "").strip()
            own = asked in ("", "public", project.schema)
            headers.append((name, schema if own else asked.encode("latin-1")))
        child = {**scope, "path": route.path, "headers": headers}
        raw_path = _strip_raw_prefix(scope.get("raw_path"), route.prefix)
        if raw_path is None:
            child.pop("raw_path", None)
        else:
            child["raw_path"] = raw_path

        async def forward(receive: Receive, send: Send) -> None:
            await pool_app(child, receive, send)
            return None

        return forward

    def _v1(self, scope: Scope, route: Route, project: ProjectRoute) -> Reject | _Forward:
        upstream = project.upstream
        if upstream is None:
            return unavailable("project unavailable", "no_upstream", 5)
        proxy = self.proxy

        async def forward(receive: Receive, send: Send) -> Reject | None:
            return await proxy.forward(scope, receive, send, upstream, route.path)

        return forward

    async def _preflight(self, scope: Scope, send: Send, origin: str | None) -> None:
        asked = _header(scope, b"access-control-request-headers")
        headers = [
            (b"access-control-allow-origin", (origin or "*").encode("latin-1")),
            (b"access-control-allow-methods", _PREFLIGHT_METHODS),
            (
                b"access-control-allow-headers",
                asked.encode("latin-1") if asked else _PREFLIGHT_HEADERS,
            ),
            (b"access-control-max-age", b"86400"),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def aclose(self) -> None:
        await self.proxy.aclose()
        if self.activity is not None:
            await self.activity.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        await self.directory.aclose()


def _strip_raw_prefix(raw_path: bytes | None, prefix: str) -> bytes | None:
    if raw_path is None or not prefix:
        return raw_path
    encoded = prefix.encode()
    if raw_path.lower().startswith(encoded.lower()):
        return raw_path[len(encoded) :] or b"/"
    return None


def build_gateway_app(
    *,
    directory: Directory,
    pool_app: ASGIApp | None,
    pool_jwt_secret: str,
    base_domain: str,
    redis_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    in_flight_cap: int = DEFAULT_IN_FLIGHT_CAP,
    activity: ActivityRecorder | None = None,
    upstream_read_timeout: float = 60.0,
) -> Starlette:
    """The gateway as a Starlette app. Its lifespan also runs the pool app's (when the pool is
    a Starlette app) and closes the directory and activity recorder given to it on shutdown;
    `app.state.gateway` is the live `Gateway` (`.directory.evict(...)` for the control plane)."""
    gateway = Gateway(
        directory=directory,
        pool_app=pool_app,
        pool_jwt_secret=pool_jwt_secret,
        base_domain=base_domain,
        redis_url=redis_url,
        max_body_bytes=max_body_bytes,
        in_flight_cap=in_flight_cap,
        activity=activity,
        proxy=UpstreamProxy(read_timeout=upstream_read_timeout),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(pool_app, Starlette):  # the in-process pool starts and stops with us
                await stack.enter_async_context(pool_app.router.lifespan_context(pool_app))
            try:
                yield
            finally:
                await gateway.aclose()

    app = _GatewayStarlette(routes=[Mount("", app=gateway)], lifespan=lifespan)
    app.state.gateway = gateway
    return app


class _GatewayStarlette(Starlette):
    """HTTP goes straight to the gateway (which answers its own errors); Starlette keeps
    lifespan and anything else. Saves the generic middleware stack on every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.state.gateway(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

"""CORS for the standalone REST server, as PostgREST answers it.

Requests without `Origin` pass untouched. With `server-cors-allowed-origins` empty every origin
is allowed (`Access-Control-Allow-Origin: *`); otherwise a listed origin is echoed with
`Access-Control-Allow-Credentials: true` and any other origin gets no CORS headers at all. A
preflight (`OPTIONS` with `Access-Control-Request-Method`) for an allowed origin and method is
answered here without reaching the engine; regular responses get the allow-origin and the
exposed headers. Every header value but the echoed origin and the requested headers is
precomputed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = b"GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"
_ALLOWED_METHODS = frozenset(m.strip() for m in _METHODS.split(b","))
_SIMPLE_HEADERS = (b"Accept", b"Accept-Language", b"Content-Language")
_EXPOSE = (
    b"access-control-expose-headers",
    b"Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, "
    b"Transfer-Encoding, Range-Unit",
)
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_CREDENTIALS = (b"access-control-allow-credentials", b"true")
_PREFLIGHT_TAIL = [
    (b"access-control-allow-methods", _METHODS),
    (b"access-control-max-age", b"86400"),
    (b"content-length", b"0"),
]


def allowed_headers(requested: bytes | None) -> bytes:
    """`Authorization`, the requested headers, then the simple ones not already named."""
    names = [b"Authorization"]
    if requested:
        names += [h.strip() for h in requested.split(b",") if h.strip()]
    seen = {n.lower() for n in names}
    names += [h for h in _SIMPLE_HEADERS if h.lower() not in seen]
    return b", ".join(names)


class Cors:
    """ASGI middleware applying PostgREST's CORS policy around the REST app."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.origins = frozenset(o.encode("latin-1") for o in allowed_origins)

    def _origin_headers(self, origin: bytes) -> list[tuple[bytes, bytes]] | None:
        if not self.origins:
            return [_ANY_ORIGIN]
        if origin in self.origins:
            return [(b"access-control-allow-origin", origin), _CREDENTIALS]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = request_method = requested = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                request_method = value
            elif key == b"access-control-request-headers":
                requested = value
        cors = None if origin is None else self._origin_headers(origin)
        if cors is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and request_method is not None:
            if request_method not in _ALLOWED_METHODS:  # a failed preflight is ignored
                await self.app(scope, receive, send)
                return
            headers = [
                *cors,
                (b"access-control-allow-headers", allowed_headers(requested)),
                *_PREFLIGHT_TAIL,
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = [*cors, _EXPOSE]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message["headers"]}
                added = [h for h in extra if h[0] not in present]
                message = {**message, "headers": [*message["headers"], *added]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

"""v1 data path: stream a request to a dedicated project's REST process and stream back.

Headers are preserved except hop-by-hop ones; `X-Forwarded-For/Host/Proto` are set. The
upstream's CORS headers are dropped: the gateway applies the Service URL's policy to v1 and v2
alike. The upstream validates JWTs itself. An unreachable upstream is a 503, a slow one a 504, both JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from flux.gateway.rejections import UPSTREAM_TIMEOUT, Reject, unavailable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
UPSTREAM_DOWN = unavailable("project unavailable", "upstream_down", 5)


def _hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[str]:
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return HOP_BY_HOP | named


def forward_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Request headers for the upstream: hop-by-hop and Host removed, X-Forwarded-* set."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    drop = _hop_by_hop(raw) | {"host", "x-forwarded-host", "x-forwarded-proto"}
    out = [(k, v) for k, v in raw if k.decode("latin-1").lower() not in drop]
    host = next((v for k, v in raw if k.lower() == b"host"), b"")
    client = scope.get("client")
    peer = client[0].encode() if client else b""
    prior = [v for k, v in out if k.lower() == b"x-forwarded-for"]
    out = [(k, v) for k, v in out if k.lower() != b"x-forwarded-for"]
    chain = b", ".join([*prior, peer] if peer else prior)
    if chain:
        out.append((b"x-forwarded-for", chain))
    if host:
        out.append((b"x-forwarded-host", host))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    return out


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class UpstreamProxy:
    """One shared HTTP client for all v1 upstreams (connection reuse per upstream)."""

    def __init__(self, *, connect_timeout: float = 3.0, read_timeout: float = 60.0) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, upstream: str, path: str
    ) -> Reject | None:
        """Proxy the request to `upstream` + `path`; a Reject when nothing was sent back yet."""
        query = scope.get("query_string", b"")
        url = upstream + path + ("?" + query.decode("latin-1") if query else "")
        headers = forward_headers(scope)
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        request = httpx.Request(
            scope["method"], url, headers=headers, content=_body(receive) if has_body else None
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            return UPSTREAM_TIMEOUT
        except httpx.TransportError:
            return UPSTREAM_DOWN
        try:
            drop = _hop_by_hop(response.headers.raw)
            headers = [
                (k, v)
                for k, v in response.headers.raw
                if k.decode().lower() not in drop and not k.lower().startswith(b"access-control-")
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

"""Every response the gateway writes itself is PostgREST-shaped: the original `error` key plus
`code`, `message`, `details`, `hint`, and `Proxy-Status: flux-gateway; error=<code>` — for
each status it answers (401, 404, 413, 400, 429, 503, 504, 500). Codes: rejections.py."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from flux.gateway.app import build_gateway_app
from flux.gateway.directory import Directory
from flux.gateway.limits import FailedAuthLimiter
from flux.postgres import free_port

from .conftest import POOL_SECRET, EchoPool, ServerThread, clear_of_window_edge
from .test_app import client, make_gateway  # noqa: F401  (make_gateway is a fixture)

pytestmark = pytest.mark.anyio
KEYS = ["error", "code", "message", "details", "hint"]


def shaped(response, status: int, code: str, error: str, message: str | None = None) -> dict:
    """Assert the common shape; return the body for case-specific checks."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == KEYS
    assert (body["code"], body["error"]) == (code, error)
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    assert body["details"] is None
    assert response.headers["proxy-status"] == f"flux-gateway; error={code}"
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return body


async def test_401_codes_follow_postgrest(catalog, make_gateway) -> None:  # noqa: F811
    project = catalog.add_project("auth-shape")
    pool = EchoPool()
    now = int(time.time())

    def signed(claims: dict, secret: str = project.secret) -> dict[str, str]:
        return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}

    cases = [
        ({}, "PGRST302", "Anonymous access is disabled"),
        ({"Authorization": "Basic abc"}, "PGRST302", "Anonymous access is disabled"),
        ({"Authorization": "Bearer garbage"}, "PGRST301", "JWT couldn't be decoded"),
        (signed({"exp": now + 60}, "x" * 40), "PGRST301", "JWT cryptographic operation failed"),
        (signed({"sub": "u"}), "PGRST303", "The JWT must have an 'exp' claim"),
        (signed({"exp": "soon"}), "PGRST303", "The JWT 'exp' claim must be a number"),
        (signed({"exp": now - 3600}), "PGRST303", "JWT expired"),
        (signed({"exp": now + 60, "nbf": now + 3600}), "PGRST303", "JWT not yet valid"),
        (signed({"exp": now + 60, "iat": now + 3600}), "PGRST303", "JWT issued at future"),
        (signed({"exp": now + 60, "role": "postgres"}), "PGRST303", None),
    ]
    async with client(make_gateway(pool), project.host) as http:
        for headers, code, message in cases:
            response = await http.get("/t", headers=headers)
            body = shaped(response, 401, code, "authorization required", message)
            assert "Authorization: Bearer" in body["hint"]
            assert response.headers["www-authenticate"] == "Bearer"
    assert pool.calls == 0


async def test_404_413_400_and_500(catalog, make_gateway) -> None:  # noqa: F811
    project = catalog.add_project("sizes")

    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    async with client(make_gateway(max_body_bytes=10), "nope.localhost") as http:
        body = shaped(await http.get("/t"), 404, "PGRSTG00", "project not found")
        assert body["hint"]
    async with client(make_gateway(max_body_bytes=10), project.host) as http:
        big = await http.post("/t", content=b"x" * 11, headers=project.auth())
        shaped(big, 413, "PGRST102", "request body too large", "Payload Too Large")

        async def chunks():
            for _ in range(3):
                yield b"y" * 5

        streamed = await http.post("/t", content=chunks(), headers=project.auth())
        shaped(streamed, 413, "PGRST102", "request body too large", "Payload Too Large")
        bad = await http.post(
            "/t", content=b"x", headers={**project.auth(), "Content-Length": "1x"}
        )
        shaped(bad, 400, "PGRST102", "invalid content-length")
    async with client(make_gateway(broken), project.host) as http:
        shaped(await http.get("/t", headers=project.auth()), 500, "PGRSTX00", "internal error")


async def test_429s(catalog, make_gateway) -> None:  # noqa: F811
    project = catalog.add_project("busy", rate_limit_per_minute=1)
    app = make_gateway()
    app.state.gateway.failed_auth = FailedAuthLimiter(limit=1)
    await clear_of_window_edge(10)
    async with client(app, project.host) as http:
        assert (await http.get("/t", headers=project.auth())).status_code == 200
        limited = await http.get("/t", headers=project.auth())
        body = shaped(limited, 429, "PGRSTG01", "rate limit exceeded", "Rate limit exceeded")
        assert body["hint"] and limited.headers["retry-after"]
        assert (await http.get("/t")).status_code == 401
        refused = await http.get("/t")
        shaped(refused, 429, "PGRSTG02", "too many unauthorized requests")
        assert refused.headers["retry-after"]


async def test_503s_and_504(catalog, make_gateway) -> None:  # noqa: F811
    maint = catalog.add_project("maint", maintenance=True)
    off = catalog.add_project("off", status="stopped")
    down = catalog.add_project("down", mode="v1_dedicated", runner_data={"api_port": free_port()})
    slow = catalog.add_project("slowpoke")
    app = make_gateway()
    async with client(app, maint.host) as http:
        r = await http.post("/t", json={}, headers=maint.auth())
        shaped(r, 503, "PGRSTG04", "project in maintenance, writes are disabled")
    for project in (off, down):
        async with client(app, project.host) as http:
            r = await http.get("/t", headers=project.auth())
            shaped(r, 503, "PGRSTG03", "project unavailable", "Project unavailable")
            assert r.headers["retry-after"]

    hold = asyncio.Event()
    async with client(make_gateway(EchoPool(hold), in_flight_cap=1), slow.host) as http:
        first = asyncio.create_task(http.get("/t", headers=slow.auth()))
        await asyncio.sleep(0.2)
        r = await http.get("/t", headers=slow.auth())
        hold.set()
        assert (await first).status_code == 200
    shaped(r, 503, "PGRSTG05", "too many concurrent requests")

    unreachable = build_gateway_app(
        directory=Directory(f"host=127.0.0.1 port={free_port()} dbname=x connect_timeout=1"),
        pool_app=EchoPool(),
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
    )
    try:
        async with client(unreachable, slow.host) as http:
            r = await http.get("/t", headers=slow.auth())
        shaped(r, 503, "PGRSTG06", "service unavailable")
    finally:
        await unreachable.state.gateway.aclose()

    async def sleepy(request):
        await asyncio.sleep(2)
        return PlainTextResponse("late")

    with ServerThread(Starlette(routes=[Route("/t", sleepy)])) as upstream:
        late = catalog.add_project(
            "late", mode="v1_dedicated", runner_data={"api_port": upstream.port}
        )
        async with client(make_gateway(upstream_read_timeout=0.3), late.host) as http:
            r = await http.get("/t")
        shaped(r, 504, "PGRSTG07", "upstream timeout")


def test_postgrest_py_reads_the_gateway_401(catalog) -> None:
    """The client that showed "APIError Empty error" now reports code and message."""
    from postgrest import SyncPostgrestClient
    from postgrest.exceptions import APIError

    project = catalog.add_project("py-client")
    app = build_gateway_app(
        directory=Directory(catalog.conninfo),
        pool_app=EchoPool(),
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
    )
    with ServerThread(app) as server:
        base = f"{server.url}/api--{project.slug}--{project.hash}"
        with SyncPostgrestClient(base) as pg, pytest.raises(APIError) as info:
            pg.from_("notes").select("*").execute()
        garbage = {"Authorization": "Bearer x.y.z"}
        with SyncPostgrestClient(base, headers=garbage) as pg, pytest.raises(APIError) as bad:
            pg.from_("notes").select("*").execute()
    assert (info.value.code, info.value.message) == ("PGRST302", "Anonymous access is disabled")
    assert "Authorization: Bearer" in (info.value.hint or "")
    assert (bad.value.code, bad.value.message) == ("PGRST301", "JWT couldn't be decoded")

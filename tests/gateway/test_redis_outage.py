"""Redis is optional and never authoritative: shared counters across gateways while it is up,
no failed request when it stops mid-run (catalog fallback, fail-open limits)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from flux.gateway.app import build_gateway_app
from flux.gateway.directory import Directory

from .conftest import POOL_SECRET, EchoPool, clear_of_window_edge

pytestmark = pytest.mark.anyio


def _gateway(catalog, redis_url: str):
    return build_gateway_app(
        directory=Directory(
            catalog.conninfo, redis_url=redis_url, redis_secret=POOL_SECRET, ttl=0.2
        ),
        pool_app=EchoPool(),
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
        redis_url=redis_url,
    )


def _client(app, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_rate_limit_shared_between_gateways(catalog, redis_server) -> None:
    project = catalog.add_project("shared-limit", rate_limit_per_minute=4)
    first, second = _gateway(catalog, redis_server.url), _gateway(catalog, redis_server.url)
    await clear_of_window_edge(10)
    try:
        async with _client(first, project.host) as a, _client(second, project.host) as b:
            statuses = []
            for http in (a, b, a, b, a, b):
                statuses.append((await http.get("/t", headers=project.auth())).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        await first.state.gateway.aclose()
        await second.state.gateway.aclose()


async def test_redis_stopped_mid_run_fails_no_request(catalog, redis_server) -> None:
    projects = [catalog.add_project(f"p{i}", rate_limit_per_minute=10**6) for i in range(3)]
    app = _gateway(catalog, redis_server.url)
    statuses: list[int] = []
    try:
        async with _client(app, "localhost:8000") as http:

            async def traffic(seconds: float) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    for p in projects:
                        response = await http.get(f"/api--{p.slug}--{p.hash}/t", headers=p.auth())
                        statuses.append(response.status_code)

            await traffic(0.5)
            before = len(statuses)
            stopper = asyncio.get_running_loop().run_in_executor(None, redis_server.stop)
            await traffic(1.5)
            await stopper
            await traffic(0.5)  # Redis fully gone: catalog + in-process counters
    finally:
        await app.state.gateway.aclose()
    assert before > 0 and len(statuses) > before
    assert set(statuses) == {200}

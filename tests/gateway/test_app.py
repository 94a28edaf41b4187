"""The gateway app end to end with a real catalog: routing, 401/404/429/503/413, CORS, bridge
headers (verified by the REST engine's own PoolAuthenticator), v1 proxying to a real upstream,
activity flush, access log. The v2 backend here is a small echo app; tests/gateway/test_pool.py
runs the same path against the real REST pool."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from flux.gateway.activity import ActivityRecorder
from flux.gateway.app import build_gateway_app
from flux.gateway.directory import Directory
from flux.gateway.limits import FailedAuthLimiter
from flux.rest.cors import Cors

from .conftest import POOL_SECRET, EchoPool, ServerThread, clear_of_window_edge

pytestmark = pytest.mark.anyio
AUTH_401 = "authorization required"  # the `error` key of every gateway 401


@pytest.fixture
async def make_gateway(catalog):
    built = []

    def make(pool=None, **options):
        options.setdefault("base_domain", "localhost")
        app = build_gateway_app(
            directory=Directory(catalog.conninfo),
            pool_app=pool if pool is not None else EchoPool(),
            pool_jwt_secret=POOL_SECRET,
            **options,
        )
        built.append(app)
        return app

    yield make
    for app in built:
        await app.state.gateway.aclose()


def client(app, host: str = "localhost:8000") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_v2_request_reaches_pool_with_bridge_token(catalog, make_gateway) -> None:
    project = catalog.add_project("notes-app")
    async with client(make_gateway(), project.host) as http:
        token = project.token(role="authenticated", email="a@b.c")
        response = await http.get(
            "/rest/v1/notes?select=*&id=eq.1",
            headers={"Authorization": f"Bearer {token}", "apikey": token},
        )
    assert response.status_code == 200, response.text
    echo = response.json()
    assert echo["path"] == "/notes" and echo["query"] == "select=*&id=eq.1"
    assert echo["raw_path"] == "/notes"
    assert echo["role"] == f"t_{project.shortid}_role"
    assert echo["schema"] == f"t_{project.shortid}_api"
    assert echo["claims"]["tenant_id"] == project.tenant_id
    assert echo["claims"]["email"] == "a@b.c" and echo["claims"]["aud"] == "flux-pool"
    headers = echo["headers"]
    assert headers["accept-profile"] == headers["content-profile"] == echo["schema"]
    assert "apikey" not in headers
    assert token not in json.dumps(headers)
    assert headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("asked", "forwarded"),
    [
        (None, "own"),
        ("public", "own"),
        (" public ", "own"),
        ("own", "own"),
        ("t_000000000000_api", "t_000000000000_api"),
        ("flux", "flux"),
    ],
)
async def test_profile_headers(catalog, make_gateway, asked, forwarded) -> None:
    project = catalog.add_project("profiles")
    own = f"t_{project.shortid}_api"
    headers = project.auth()
    if asked is not None:
        value = own if asked == "own" else asked
        headers |= {"Accept-Profile": value, "Content-Profile": value}
    async with client(make_gateway(), project.host) as http:
        echo = (await http.get("/t", headers=headers)).json()["headers"]
    expected = own if forwarded == "own" else forwarded
    assert echo["accept-profile"] == echo["content-profile"] == expected


async def test_path_form_and_legacy_host(catalog, make_gateway) -> None:
    project = catalog.add_project("my-app")
    app = make_gateway()
    async with client(app) as http:
        response = await http.get(f"/api--my-app--{project.hash}/rest/v1/t", headers=project.auth())
        assert response.status_code == 200 and response.json()["path"] == "/t"
        response = await http.get(f"/api--my-app--{project.hash}", headers=project.auth())
        assert response.status_code == 200 and response.json()["path"] == "/"
    async with client(app, f"API.MY-APP.{project.hash.upper()}.localhost.:8000") as http:
        response = await http.get("/t", headers=project.auth())
        assert response.status_code == 200 and response.json()["path"] == "/t"


async def test_custom_domain(catalog, make_gateway) -> None:
    project = catalog.add_project("dom")
    catalog.execute(
        "INSERT INTO domains (hostname, tenant_id) VALUES ('api.example.com', %s)",
        (project.tenant_id,),
    )
    async with client(make_gateway(), "API.example.com") as http:
        response = await http.get("/t", headers=project.auth())
    assert response.status_code == 200 and response.json()["path"] == "/t"


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("api--nope--0000000.localhost", "/t"),
        ("localhost:8000", "/t"),
        ("localhost:8000", "/api--nope--0000000/t"),
        ("unknown.example.com", "/t"),
        ("api--a--abc1234.localhost.evil.com", "/t"),
    ],
)
async def test_unknown_project_is_404(catalog, make_gateway, host, path) -> None:
    pool = EchoPool()
    async with client(make_gateway(pool), host) as http:
        response = await http.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "project not found"
    assert pool.calls == 0


async def test_wrong_slug_for_hash_is_404(catalog, make_gateway) -> None:
    project = catalog.add_project("right")
    async with client(make_gateway(), f"api--wrong--{project.hash}.localhost") as http:
        response = await http.get("/t", headers=project.auth())
    assert response.status_code == 404


async def test_auth_failures_never_reach_the_pool(catalog, make_gateway) -> None:
    a = catalog.add_project("tenant-a")
    b = catalog.add_project("tenant-b")
    pool = EchoPool()
    forged = PoolBridge.forge(a.tenant_id)
    cases = [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {b.token()}"},  # B's token on A's host
        {"Authorization": f"Bearer {a.token(role=f't_{b.shortid}_role')}"},
        {"Authorization": f"Bearer {a.token(role='service_role')}"},
        {"Authorization": f"Bearer {forged}"},  # a bridge token from outside
        {"apikey": a.token()},
    ]
    async with client(make_gateway(pool), a.host) as http:
        for headers in cases:
            response = await http.get("/t", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"] == AUTH_401
            assert response.headers["www-authenticate"] == "Bearer"
    assert pool.calls == 0


class PoolBridge:
    @staticmethod
    def forge(tenant_id: str) -> str:
        from flux.gateway.bridge import mint_bridge_token

        return mint_bridge_token({"sub": "x"}, tenant_id=tenant_id, pool_secret=POOL_SECRET)


async def test_rate_limit_is_per_project(catalog, make_gateway) -> None:
    limited = catalog.add_project("limited", rate_limit_per_minute=3)
    other = catalog.add_project("other", rate_limit_per_minute=3)
    app = make_gateway()
    await clear_of_window_edge(10)
    async with client(app, limited.host) as http:
        statuses = [(await http.get("/t", headers=limited.auth())).status_code for _ in range(5)]
        response = await http.get("/t", headers=limited.auth())
    assert statuses == [200, 200, 200, 429, 429]
    assert response.json()["error"] == "rate limit exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    async with client(app, other.host) as http:
        assert (await http.get("/t", headers=other.auth())).status_code == 200


async def test_failed_auth_never_spends_the_project_budget(catalog, make_gateway) -> None:
    project = catalog.add_project("victim", rate_limit_per_minute=3)
    app = make_gateway()
    app.state.gateway.failed_auth = FailedAuthLimiter(limit=4)
    await clear_of_window_edge(10)
    async with client(app, project.host) as http:  # ASGITransport: client 127.0.0.1
        flood = [(await http.get("/t")).status_code for _ in range(6)]
        flood.append((await http.get("/t", headers={"Authorization": "Bearer x.y.z"})).status_code)
        limited = await http.get("/t")
        # Valid tokens from the flooding address itself are verified first and still served.
        served = [(await http.get("/t", headers=project.auth())).status_code for _ in range(4)]
    assert flood == [401, 401, 401, 401, 429, 429, 429]
    assert limited.json()["error"] == "too many unauthorized requests"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "www-authenticate" not in limited.headers
    assert served == [200, 200, 200, 429]  # the project's own budget (3) is intact
    other = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=other, base_url=f"http://{project.host}") as http:
        assert (await http.get("/t")).status_code == 401  # another address has its own budget


async def test_maintenance_and_status(catalog, make_gateway) -> None:
    busy = catalog.add_project("busy", maintenance=True)
    off = catalog.add_project("off", status="suspended")
    app = make_gateway()
    async with client(app, busy.host) as http:
        assert (await http.get("/t", headers=busy.auth())).status_code == 200
        response = await http.post("/t", json={"a": 1}, headers=busy.auth())
        assert response.status_code == 503 and "retry-after" in response.headers
        assert "maintenance" in response.json()["error"]
    async with client(app, off.host) as http:
        response = await http.get("/t", headers=off.auth())
        assert response.status_code == 503 and response.json()["error"] == "project unavailable"


async def test_body_limits(catalog, make_gateway) -> None:
    project = catalog.add_project("bodies")
    pool = EchoPool()
    async with client(make_gateway(pool, max_body_bytes=100), project.host) as http:
        small = await http.post("/t", content=b"x" * 100, headers=project.auth())
        assert small.status_code == 200 and small.json()["body"] == "x" * 100
        big = await http.post("/t", content=b"x" * 101, headers=project.auth())
        assert big.status_code == 413 and big.json()["error"] == "request body too large"

        async def chunks(n: int):
            for _ in range(n):
                yield b"y" * 30

        streamed = await http.post("/t", content=chunks(3), headers=project.auth())
        assert streamed.status_code == 200 and streamed.json()["body"] == "y" * 90
        too_big = await http.post("/t", content=chunks(4), headers=project.auth())
        assert too_big.status_code == 413
        anonymous = await http.post("/t", content=chunks(4))  # auth first, then the body
        assert anonymous.status_code == 401
    assert pool.calls == 2


async def test_in_flight_cap(catalog, make_gateway) -> None:
    project = catalog.add_project("slow")
    hold = asyncio.Event()
    app = make_gateway(EchoPool(hold), in_flight_cap=2)
    async with client(app, project.host) as http:
        first = [asyncio.create_task(http.get("/t", headers=project.auth())) for _ in range(2)]
        await asyncio.sleep(0.2)
        third = await http.get("/t", headers=project.auth())
        hold.set()
        done = await asyncio.gather(*first)
    assert third.status_code == 503 and third.headers["retry-after"] == "1"
    assert [r.status_code for r in done] == [200, 200]


async def test_cors(catalog, make_gateway) -> None:
    project = catalog.add_project("web")
    async with client(make_gateway(), project.host) as http:
        preflight = await http.options(
            "/t",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, prefer",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert (
            preflight.headers["access-control-allow-headers"]
            == "authorization, content-type, prefer"
        )
        denied = await http.get("/t", headers={"Origin": "https://app.example"})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == "https://app.example"
        ok = await http.get("/t", headers={"Origin": "https://app.example", **project.auth()})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "Content-Range" in ok.headers["access-control-expose-headers"]


async def test_evict_applies_rotated_secret(catalog, make_gateway) -> None:
    project = catalog.add_project("rotating")
    app = make_gateway()
    async with client(app, project.host) as http:
        old = project.auth()
        assert (await http.get("/t", headers=old)).status_code == 200
        catalog.execute(
            "UPDATE projects SET jwt_secret = %s WHERE hash = %s", ("n" * 64, project.hash)
        )
        app.state.gateway.directory.evict(hash=project.hash)
        assert (await http.get("/t", headers=old)).status_code == 401
        project.secret = "n" * 64
        assert (await http.get("/t", headers=project.auth())).status_code == 200


async def test_access_log_has_no_tokens(catalog, make_gateway, caplog) -> None:
    project = catalog.add_project("logged")
    caplog.set_level(logging.INFO, logger="flux.gateway")
    token = project.token()
    async with client(make_gateway(), project.host) as http:
        await http.get("/t?apikey=" + token, headers={"Authorization": f"Bearer {token}"})
        await http.get("/t", headers={"Authorization": "Bearer nope"})
    lines = [r.getMessage() for r in caplog.records if r.name == "flux.gateway.access"]
    assert len(lines) == 2
    assert lines[0].startswith(f"{project.hash} GET /t 200 ") and lines[0].endswith(" -")
    assert lines[1].startswith(f"{project.hash} GET /t 401 ") and "invalid_token" in lines[1]
    assert all(
        token not in r.getMessage() and "Bearer" not in r.getMessage() for r in caplog.records
    )


async def test_activity_flush(catalog, make_gateway) -> None:
    project = catalog.add_project("active")
    idle = catalog.add_project("idle")
    recorder = ActivityRecorder(catalog.conninfo, interval=3600)
    app = make_gateway(activity=recorder)
    async with client(app, project.host) as http:
        assert (await http.get("/t", headers=project.auth())).status_code == 200
        assert (await http.get("/t")).status_code == 401  # rejected: not activity
    assert await recorder.flush() == 1
    rows = dict(catalog.execute("SELECT hash, last_accessed_at IS NOT NULL FROM projects"))
    assert rows == {project.hash: True, idle.hash: False}


def _upstream_app() -> Starlette:
    async def echo(request: Request):
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": body.decode(),
            },
            headers={"X-Upstream": "yes"},
        )

    async def stream(request: Request):
        async def parts():
            for i in range(3):
                yield f"part{i};".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/stream", stream),
            Route("/{path:path}", echo, methods=["GET", "POST", "PATCH"]),
        ]
    )


async def test_v1_proxy_to_real_upstream(catalog, make_gateway) -> None:
    with ServerThread(_upstream_app()) as upstream:
        project = catalog.add_project(
            "ded", mode="v1_dedicated", runner_data={"api_port": upstream.port}
        )
        async with client(make_gateway(), project.host) as http:
            response = await http.post(
                "/rest/v1/items?select=id",
                content=b'{"a": 1}',
                headers={
                    "Authorization": "Bearer v1-token",
                    "Content-Type": "application/json",
                    "Connection": "keep-alive, X-Private",
                    "X-Private": "drop-me",
                    "X-Forwarded-For": "10.0.0.1",
                },
            )
            streamed = await http.get("/stream")
    assert response.status_code == 200 and response.headers["x-upstream"] == "yes"
    echo = response.json()
    assert (echo["method"], echo["path"], echo["query"], echo["body"]) == (
        "POST",
        "/items",
        "select=id",
        '{"a": 1}',
    )
    headers = echo["headers"]
    assert headers["authorization"] == "Bearer v1-token"  # v1 checks JWTs itself
    assert headers["x-forwarded-host"] == project.host
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"].startswith("10.0.0.1, ")
    assert "x-private" not in headers
    assert streamed.text == "part0;part1;part2;"


async def test_v1_upstream_down_is_503(catalog, make_gateway) -> None:
    from flux.postgres import free_port

    project = catalog.add_project(
        "down", mode="v1_dedicated", runner_data={"api_port": free_port()}
    )
    no_port = catalog.add_project("noport", mode="v1_dedicated")
    app = make_gateway()
    for p in (project, no_port):
        async with client(app, p.host) as http:
            response = await http.get("/t")
        assert response.status_code == 503
        assert response.json()["error"] == "project unavailable"
        assert "retry-after" in response.headers


async def test_backend_crash_is_a_json_500(catalog, make_gateway) -> None:
    project = catalog.add_project("crashy")

    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    async with client(make_gateway(broken), project.host) as http:
        response = await http.get("/t", headers=project.auth())
    assert response.status_code == 500 and response.json()["error"] == "internal error"


async def test_v1_upstream_cors_headers_give_way_to_the_gateways(catalog, make_gateway) -> None:
    """A v1 REST process answers browsers like PostgREST (`*`); behind the gateway the Service
    URL's own policy applies, the same as for v2."""
    with ServerThread(Cors(_upstream_app())) as upstream:
        project = catalog.add_project(
            "corsv1", mode="v1_dedicated", runner_data={"api_port": upstream.port}
        )
        async with client(make_gateway(), project.host) as http:
            response = await http.get("/rest/v1/items", headers={"Origin": "https://app.example"})
    assert response.status_code == 200 and response.headers["x-upstream"] == "yes"
    assert response.headers.get_list("access-control-allow-origin") == ["https://app.example"]
    exposed = response.headers.get_list("access-control-expose-headers")
    assert len(exposed) == 1 and "Preference-Applied" in exposed[0]

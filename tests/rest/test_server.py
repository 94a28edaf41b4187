"""The engine as a process and under stress: one round trip per request, Postgres restarts,
NOTIFY reloads, admin endpoints, and the PyPI `postgrest` client against `flux rest`."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from flux.postgres import Cluster, free_port, socket_dir_for

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parent / "fixtures"


class TurnCountingProxy:
    """TCP proxy to Postgres counting client→server flights (a new one starts each time the
    client speaks after the server did): one flight per request means one round trip."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flights = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        state = {"last": None}

        async def pump(src, dst, direction: str) -> None:
            try:
                while data := await src.read(65536):
                    if direction == "c" and state["last"] != "c":
                        self.flights += 1
                    state["last"] = direction
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, "c"), pump(up_reader, writer, "s"))

    async def stop(self) -> None:
        self.server.close()


def _dbname(conninfo: str) -> str:
    return re.search(r"dbname=(\S+)", conninfo).group(1)


async def test_one_round_trip_per_request(rest_db, pg_cluster, rest_config, make_client):
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute("ALTER ROLE authenticator PASSWORD 'authpw'")
    proxy = TurnCountingProxy(pg_cluster.port)
    await proxy.start()
    dsn = (
        f"host=127.0.0.1 port={proxy.port} dbname={_dbname(rest_db)} user=authenticator "
        "password=authpw"
    )
    config = rest_config.with_(db_uri=dsn, db_pool=1, db_channel_enabled=False)
    try:
        async with make_client(config) as client:
            url = "/projects?select=id,clients(name),tasks(name)&id=eq.1"
            assert (await client.get(url)).status_code == 200  # warm: connect + schema cache
            for headers in ({}, {"Prefer": "count=exact"}, {"Prefer": "count=planned"}):
                for _ in range(6):  # crosses psycopg's prepare threshold too
                    before = proxy.flights
                    r = await client.get(url, headers=headers)
                    assert r.status_code == 200
                    assert proxy.flights - before == 1, headers
            writes = [
                ("POST", "/kv", {"Prefer": "return=representation"}, {"k": "rt{}"}),
                ("PATCH", "/kv?k=eq.a", {}, {"v": "x"}),
                ("POST", "/rpc/add", {}, {"a": 1}),
                ("GET", "/rpc/numbers?upto=2", {}, None),
                ("DELETE", "/kv?k=eq.nothing", {}, None),
            ]
            for method, path, headers, body in writes:
                for i in range(6):
                    payload = {
                        k: v.format(i) if isinstance(v, str) else v for k, v in (body or {}).items()
                    }
                    before = proxy.flights
                    r = await client.request(
                        method, path, headers=headers, json=payload if body else None
                    )
                    assert r.status_code < 300, r.text
                    assert proxy.flights - before == 1, (method, path)
            # max-affected under handling=strict waits for the result before ending the tx
            before = proxy.flights
            r = await client.delete(
                "/kv?k=eq.nothing", headers={"Prefer": "handling=strict, max-affected=1"}
            )
            assert r.status_code == 204 and proxy.flights - before == 2
            before = proxy.flights
            assert (await client.get("/projects?select=nope")).status_code == 400
            # errors are the uncommon case: the aborted pipeline is synced, then rolled back
            assert proxy.flights - before <= 3
    finally:
        await proxy.stop()


async def test_survives_postgres_restart(tmp_path, pg_templates, make_client):
    from flux.rest.config import RestConfig

    data = tmp_path / "restart"
    cluster = Cluster(
        data, free_port(), socket_dir_for(data, tmp_path / "run"), settings={"fsync": "off"}
    )
    cluster.create(pg_templates)
    cluster.start()
    try:
        with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
            conn.execute((FIXTURES / "schema.sql").read_text())
        config = RestConfig(
            db_uri=cluster.socket_conninfo(user="authenticator", password="authpw"),
            db_schemas=("api",),
            db_anon_role="web_anon",
            db_pool=2,
            db_pool_acquisition_timeout=3.0,
        )
        async with make_client(config) as client:
            assert (await client.get("/clients?id=eq.1")).status_code == 200
            await asyncio.to_thread(cluster.stop)
            started = time.monotonic()
            for _ in range(3):
                r = await client.get("/clients?id=eq.1")
                assert r.status_code == 503
                assert r.json()["code"] == "PGRST001"
            assert time.monotonic() - started < 3.0  # fails fast, no pool timeout
            await asyncio.to_thread(cluster.start)
            deadline = time.monotonic() + 20
            while True:
                r = await client.get("/clients?id=eq.1")
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert r.status_code == 200 and r.json() == [{"id": 1, "name": "Microsoft"}]
    finally:
        cluster.stop()


async def test_pool_exhaustion_is_504(rest_db, rest_config, make_client):
    config = rest_config.with_(db_pool=1, db_pool_acquisition_timeout=0.5, db_channel_enabled=False)
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE VIEW api.slow AS SELECT 1 AS s FROM pg_sleep(1.5); "
            "GRANT SELECT ON api.slow TO web_anon"
        )
    async with make_client(config) as client:
        assert (await client.get("/clients?id=eq.1")).status_code == 200
        slow = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.3)
        r = await client.get("/clients")
        assert r.status_code == 504
        assert r.json() == {
            "code": "PGRST003",
            "details": None,
            "hint": None,
            "message": "Timed out acquiring connection from connection pool.",
        }
        assert (await slow).status_code == 200


async def test_notify_reload(rest_db, client):
    assert (await client.get("/later")).status_code == 404
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE api.later (id int); GRANT SELECT ON api.later TO web_anon;"
            "NOTIFY pgrst, 'reload schema'"
        )
    deadline = time.monotonic() + 5
    while (r := await client.get("/later")).status_code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert r.status_code == 200 and r.json() == []


async def test_admin_endpoints(rest_config):
    from flux.rest.app import build_admin_app, build_app

    app = build_app(rest_config)
    admin = build_admin_app(app.state.engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            await api.get("/clients")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=admin), base_url="http://t"
        ) as http:
            assert (await http.get("/live")).status_code == 200
            assert (await http.get("/ready")).status_code == 200
            text = (await http.get("/metrics")).text
            assert 'flux_rest_requests_total{status="200"} 1.0' in text
            assert "flux_rest_schema_cache_loads_total" in text
            assert "flux_rest_pool_connections_available" in text


def test_postgrest_py_client_against_flux_rest(rest_server):
    from postgrest import SyncPostgrestClient

    base, admin, proc = rest_server
    with SyncPostgrestClient(base, schema="api") as pg:
        res = pg.from_("projects").select("id,name,clients(name)").eq("id", 1).execute()
        assert res.data == [{"id": 1, "name": "Windows 7", "clients": {"name": "Microsoft"}}]
        res = pg.from_("clients").select("name,projects(name)").eq("id", 2).execute()
        assert res.data == [{"name": "Apple", "projects": [{"name": "IOS"}, {"name": "OSX"}]}]
        res = pg.from_("tasks").select("*", count="exact").order("id", desc=True).limit(2).execute()
        assert [r["id"] for r in res.data] == [8, 7] and res.count == 8
        res = pg.from_("tasks").select("id").order("id").range(2, 3).execute()
        assert [r["id"] for r in res.data] == [3, 4]
        one = pg.from_("clients").select("name").eq("id", 3).single().execute()
        assert one.data == {"name": "Nobody"}
        maybe = pg.from_("clients").select("name").eq("id", 99).maybe_single().execute()
        assert maybe is None or maybe.data is None
        items = pg.from_("items").select("id")
        checks = [
            (items.neq("id", 1), [2, 3]),
            (pg.from_("items").select("id").gt("id", 1), [2, 3]),
            (pg.from_("items").select("id").gte("id", 2), [2, 3]),
            (pg.from_("items").select("id").lt("id", 2), [1]),
            (pg.from_("items").select("id").lte("id", 1), [1]),
            (pg.from_("items").select("id").like("name", "%an%"), [2]),
            (pg.from_("items").select("id").ilike("name", "APP%"), [1]),
            (pg.from_("items").select("id").is_("price", "null"), [3]),
            (pg.from_("items").select("id").in_("id", [1, 3]), [1, 3]),
            (pg.from_("items").select("id").contains("tags", ["fruit"]), [1, 2]),
            (pg.from_("items").select("id").contained_by("tags", ["vegetable", "x"]), [3]),
            (pg.from_("items").select("id").overlaps("numbers", [3, 4]), [1, 2]),
            (pg.from_("items").select("id").text_search("doc", "fox"), [1]),
            (pg.from_("items").select("id").not_.eq("id", 1), [2, 3]),
            (pg.from_("items").select("id").or_("id.eq.1,id.eq.3"), [1, 3]),
            (pg.from_("items").select("id").range_lt("during", (30, 40)), [1, 2]),
            (pg.from_("items").select("id").range_adjacent("during", (4, 10)), [1, 2]),
            (pg.from_("items").select("id").like_any_of("name", "a*,b*"), [1, 2]),
            (pg.from_("items").select("id").match({"id": 2, "name": "banana"}), [2]),
        ]
        for query, expected in checks:
            assert sorted(r["id"] for r in query.execute().data) == expected
    r = httpx.get(f"{admin}/ready")
    assert r.status_code == 200
    assert "flux_rest_requests_total" in httpx.get(f"{admin}/metrics").text
    proc.terminate()
    proc.wait(10)
    assert "unknown configuration key ignored: something-else" in proc.stderr.read()


def test_serve_runs_on_uvloop(monkeypatch):
    """uvicorn's loop="uvloop" only applies inside Server.run(); serve() must create it."""
    import uvloop

    from flux.rest import server
    from flux.rest.config import RestConfig

    seen: list[type] = []

    async def fake_serve(config) -> None:
        seen.append(type(asyncio.get_running_loop()))

    monkeypatch.setattr(server, "_serve", fake_serve)
    server.serve(RestConfig(db_uri="postgresql:///none", db_schemas=("api",)))
    assert seen == [uvloop.Loop]

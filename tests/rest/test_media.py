"""Content negotiation: singular/stripped JSON, CSV, plans, GeoJSON, 406 PGRST107."""

from __future__ import annotations

import json

import psycopg
import pytest

pytestmark = pytest.mark.anyio


async def test_nulls_stripped_variants(client):
    accept = {"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}
    r = await client.get("/items?select=id,price,active&id=gt.1&order=id", headers=accept)
    assert r.status_code == 200
    assert r.headers["content-type"] == (
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
    )
    assert r.json() == [{"id": 2, "price": 0.25, "active": False}, {"id": 3}]
    accept = {"Accept": "application/vnd.pgrst.object+json;nulls=stripped"}
    r = await client.get("/items?select=id,price&id=eq.3", headers=accept)
    assert r.headers["content-type"] == (
        "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
    )
    assert r.text == '{"id":3}'
    # the array type without nulls=stripped is plain JSON
    r = await client.get(
        "/items?select=id&id=eq.3", headers={"Accept": "application/vnd.pgrst.array+json"}
    )
    assert r.headers["content-type"] == "application/json; charset=utf-8"


async def test_csv_reads(client):
    r = await client.get("/items?select=id,name,tags&order=id", headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        r.text
        == 'id,name,tags\n1,apple,"{fruit,red}"\n2,banana,"{fruit,yellow}"\n3,carrot,{vegetable}'
    )
    r = await client.get("/items?id=eq.99&select=id", headers={"Accept": "text/csv"})
    assert r.text == "\n"


async def test_accept_negotiation_order_and_406(client):
    r = await client.get("/clients?id=eq.1", headers={"Accept": "text/html, text/csv;q=0.5"})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    r = await client.get("/clients", headers={"Accept": "image/png"})
    assert r.status_code == 406
    assert r.json()["message"] == "None of these media types are available: image/png"
    r = await client.post(
        "/kv", json={"k": "m"}, headers={"Accept": "image/png", "Prefer": "return=representation"}
    )
    assert r.status_code == 406


async def test_plan_media_disabled_by_default(client):
    r = await client.get("/clients", headers={"Accept": "application/vnd.pgrst.plan+json"})
    assert r.status_code == 406 and r.json()["code"] == "PGRST107"


async def test_plan_media_when_enabled(rest_config, make_client, rest_db):
    async with make_client(rest_config.with_(db_plan_enabled=True)) as client:
        r = await client.get(
            "/clients?id=eq.1", headers={"Accept": "application/vnd.pgrst.plan+json"}
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == (
            'application/vnd.pgrst.plan+json; for="application/json"; charset=utf-8'
        )
        plan = json.loads(r.text)
        assert plan[0]["Plan"]["Node Type"] == "Aggregate"
        r = await client.get(
            "/clients",
            headers={"Accept": 'application/vnd.pgrst.plan+text; for="text/csv"; options=verbose'},
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == (
            'application/vnd.pgrst.plan+text; for="text/csv"; options=verbose; charset=utf-8'
        )
        assert "Output:" in r.text
        # EXPLAIN ANALYZE of a write runs it, then rolls back
        r = await client.delete(
            "/kv?k=eq.a",
            headers={"Accept": "application/vnd.pgrst.plan+json; options=analyze"},
        )
        assert r.status_code == 200
        assert json.loads(r.text)[0]["Plan"]["Actual Rows"] == 1
        r = await client.get("/rpc/add?a=1", headers={"Accept": "application/vnd.pgrst.plan"})
        assert r.status_code == 200 and "Function Scan on json_to_record" in r.text
    with psycopg.connect(rest_db) as conn:
        assert conn.execute("SELECT count(*) FROM api.kv").fetchone() == (2,)


async def test_geojson(rest_db, client):
    with psycopg.connect(rest_db, autocommit=True) as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()
    if not available:
        r = await client.get("/clients", headers={"Accept": "application/geo+json"})
        assert r.status_code == 406  # offered only when PostGIS is installed
        pytest.skip("PostGIS is not installed on this machine: GeoJSON output not exercised")
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE EXTENSION postgis; CREATE TABLE api.places (id int PRIMARY KEY, "
            "geom geometry(Point, 4326)); INSERT INTO api.places VALUES (1, 'SRID=4326;POINT(1 2)');"
            "GRANT SELECT ON api.places TO web_anon; NOTIFY pgrst, 'reload schema'"
        )
    r = await client.get("/places", headers={"Accept": "application/geo+json"})
    assert r.headers["content-type"] == "application/geo+json; charset=utf-8"
    assert r.json()["type"] == "FeatureCollection"
    assert r.json()["features"][0]["geometry"] == {"type": "Point", "coordinates": [1, 2]}

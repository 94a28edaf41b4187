"""GET/HEAD on tables and views: select, filters, order, ranges, counts — exact PostgREST output."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def get_json(client, url, **kw):
    r = await client.get(url, **kw)
    assert r.status_code == 200, r.text
    return r.json()


async def test_plain_table_bytes_and_headers(client):
    r = await client.get("/clients")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["content-range"] == "0-2/*"
    # json_agg's own formatting, byte for byte, as PostgREST returns it
    assert r.content == (
        b'[{"id":1,"name":"Microsoft"}, \n {"id":2,"name":"Apple"}, \n {"id":3,"name":"Nobody"}]'
    )


async def test_empty_result(client):
    r = await client.get("/clients?id=eq.99")
    assert (r.status_code, r.text, r.headers["content-range"]) == (200, "[]", "*/*")


async def test_select_alias_cast_and_json_paths(client):
    assert await get_json(client, "/clients?select=ident:id,name::text&id=eq.1") == [
        {"ident": 1, "name": "Microsoft"}
    ]
    assert await get_json(client, "/clients?select=id::text&id=eq.2") == [{"id": "2"}]
    rows = await get_json(
        client, "/items?select=id,data->color,w:data->size->>w,data->list->0,meta->>a&id=eq.1"
    )
    assert rows == [{"id": 1, "color": "red", "w": "3", "list": 1, "a": "1"}]
    r = await client.get("/items?select=id,data->>color&id=eq.1")
    assert r.text == '[{"id":1,"color":"red"}]'


async def test_unknown_column_is_a_postgres_400(client):
    r = await client.get("/clients?select=nope")
    assert r.status_code == 400
    assert r.json() == {
        "code": "42703",
        "details": None,
        "hint": 'Perhaps you meant to reference the column "clients.name".',
        "message": "column clients.nope does not exist",
    }


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("id=eq.1", [1]),
        ("id=neq.1", [2, 3]),
        ("id=gt.1", [2, 3]),
        ("id=gte.2", [2, 3]),
        ("id=lt.2", [1]),
        ("id=lte.2", [1, 2]),
        ("name=like.*ana*", [2]),
        ("name=ilike.APP*", [1]),
        ("name=match.^ca", [3]),
        ("name=imatch.^CA", [3]),
        ("id=in.(1,3)", [1, 3]),
        ("id=not.in.(1,3)", [2]),
        ("price=is.null", [3]),
        ("price=not.is.null", [1, 2]),
        ("active=is.true", [1]),
        ("active=is.false", [2]),
        ("active=is.unknown", [3]),
        ("active=isdistinct.true", [2, 3]),
        ("doc=fts.fox", [1]),
        ("doc=fts(english).jumping", [2]),
        ("doc=plfts.quick brown", [1]),
        ("doc=phfts(english).lazy dogs", [2]),
        ("doc=wfts(english).quick -dogs", [1]),
        ("tags=cs.{fruit}", [1, 2]),
        ("tags=cd.{vegetable,other}", [3]),
        ("numbers=ov.{3,4}", [1, 2]),
        ("during=sl.[30,40)", [1, 2]),
        ("during=sr.[0,2)", [2]),
        ("during=nxr.[0,6)", [1]),
        ("during=nxl.[5,6)", [2]),
        ("during=adj.[5,10)", [1, 2]),
        ("name=like(any).{a*,b*}", [1, 2]),
        ("id=gt(all).{0,1}", [2, 3]),
        ("data->>color=eq.yellow", [2]),
        ("data->size->w=gt.2", [1]),
        ("id=not.eq.1", [2, 3]),
        ('name=in.("apple","x,y")', [1]),
    ],
)
async def test_filter_operators(client, query, ids):
    rows = await get_json(client, f"/items?select=id&order=id&{query}")
    assert [r["id"] for r in rows] == ids


async def test_logic_trees(client):
    rows = await get_json(client, "/items?select=id&or=(id.eq.1,name.eq.carrot)&order=id")
    assert rows == [{"id": 1}, {"id": 3}]
    rows = await get_json(
        client, "/items?select=id&or=(id.eq.3,and(price.gt.1,not.active.is.false))"
    )
    assert sorted(r["id"] for r in rows) == [1, 3]
    rows = await get_json(client, "/items?select=id&not.or=(id.eq.1,id.eq.2)")
    assert rows == [{"id": 3}]


async def test_order_and_nulls(client):
    rows = await get_json(client, "/items?select=id&order=price.desc.nullslast")
    assert [r["id"] for r in rows] == [1, 2, 3]
    rows = await get_json(client, "/items?select=id&order=price.asc.nullsfirst")
    assert [r["id"] for r in rows] == [3, 2, 1]
    rows = await get_json(client, "/items?select=id&order=data->size->w.desc.nullslast,id")
    assert [r["id"] for r in rows] == [1, 2, 3]


async def test_limit_offset_and_ranges(client):
    r = await client.get("/tasks?select=id&order=id&limit=2&offset=3")
    assert (r.json(), r.headers["content-range"]) == ([{"id": 4}, {"id": 5}], "3-4/*")
    r = await client.get("/tasks?select=id&order=id", headers={"Range": "1-2"})
    assert (r.status_code, r.json(), r.headers["content-range"]) == (
        200,
        [{"id": 2}, {"id": 3}],
        "1-2/*",
    )
    r = await client.get(
        "/tasks?select=id&order=id", headers={"Range": "0-1", "Prefer": "count=exact"}
    )
    assert (r.status_code, r.headers["content-range"]) == (206, "0-1/8")
    assert r.headers["preference-applied"] == "count=exact"
    r = await client.get("/tasks?select=id", headers={"Range": "3-1"})
    assert r.status_code == 416
    assert r.json()["code"] == "PGRST103"
    r = await client.get("/tasks?offset=20", headers={"Prefer": "count=exact"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "*/8"
    assert r.json() == {
        "code": "PGRST103",
        "details": "An offset of 20 was requested, but there are only 8 rows.",
        "hint": None,
        "message": "Requested range not satisfiable",
    }
    r = await client.get("/tasks?limit=abc")
    assert r.status_code == 400 and r.json()["code"] == "PGRST100"


async def test_counts(client):
    r = await client.get("/tasks?done=is.false", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.headers["content-range"]) == (200, "0-5/6")
    r = await client.get("/tasks?limit=1", headers={"Prefer": "count=planned"})
    assert r.status_code == 206
    assert r.headers["content-range"].startswith("0-0/")
    assert r.headers["preference-applied"] == "count=planned"
    r = await client.get("/clients?id=eq.99", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.headers["content-range"]) == (200, "*/0")
    r = await client.get("/clients?select=id,projects!inner(id)", headers={"Prefer": "count=exact"})
    assert r.headers["content-range"] == "0-1/2"


async def test_max_rows_and_estimated_count(rest_config, make_client):
    async with make_client(rest_config.with_(db_max_rows=3)) as client:
        r = await client.get("/tasks?select=id&order=id", headers={"Prefer": "count=exact"})
        assert (r.status_code, r.headers["content-range"]) == (206, "0-2/8")
        assert len(r.json()) == 3
        r = await client.get("/clients?select=id", headers={"Prefer": "count=estimated"})
        assert (r.status_code, r.headers["content-range"]) == (200, "0-2/3")


async def test_head_has_headers_but_no_body(client):
    r = await client.head("/clients", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.content, r.headers["content-range"]) == (200, b"", "0-2/3")


async def test_options(client):
    r = await client.options("/clients")
    assert (r.status_code, r.headers["allow"]) == (200, "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
    # an auto-updatable view exposing its table's primary key accepts every verb
    assert (await client.options("/authors")).headers["allow"] == (
        "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    )


async def test_views_and_profiles(client):
    assert await get_json(client, "/authors?order=id") == [
        {"id": 1, "name": "Tolkien"},
        {"id": 2, "name": "Orwell"},
    ]
    r = await client.get("/things", headers={"Accept-Profile": "other"})
    assert (r.status_code, r.json(), r.headers["content-profile"]) == (
        200,
        [{"id": 1, "name": "other thing"}],
        "other",
    )
    r = await client.get("/things", headers={"Accept-Profile": "private"})
    assert r.status_code == 406
    assert r.json() == {
        "code": "PGRST106",
        "details": None,
        "message": "Invalid schema: private",
        "hint": "Only the following schemas are exposed: api, other",
    }


async def test_table_not_found_and_refresh_on_miss(client, rest_db):
    r = await client.get("/client")
    assert r.status_code == 404
    assert r.json() == {
        "code": "PGRST205",
        "details": None,
        "hint": "Perhaps you meant the table 'api.clients'",
        "message": "Could not find the table 'api.client' in the schema cache",
    }
    import psycopg

    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE api.brand_new (id int); INSERT INTO api.brand_new VALUES (7);"
            "GRANT SELECT ON api.brand_new TO web_anon"
        )
    assert await get_json(client, "/brand_new") == [{"id": 7}]


async def test_singular_object(client):
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    r = await client.get("/clients?id=eq.1", headers=accept)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    assert r.text == '{"id":1,"name":"Microsoft"}'
    r = await client.get("/clients", headers=accept)
    assert r.status_code == 406
    assert r.json() == {
        "code": "PGRST116",
        "details": "The result contains 3 rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }
    r = await client.get("/clients", headers={"Accept": "text/html"})
    assert r.status_code == 406 and r.json() == {
        "code": "PGRST107",
        "details": None,
        "hint": None,
        "message": "None of these media types are available: text/html",
    }


async def test_aggregates_disabled_by_default(client):
    r = await client.get("/tasks?select=count()")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST123",
        "details": None,
        "hint": None,
        "message": "Use of aggregate functions is not allowed",
    }


async def test_aggregates(rest_config, make_client):
    async with make_client(rest_config.with_(db_aggregates_enabled=True)) as client:
        assert await get_json(client, "/tasks?select=count()") == [{"count": 8}]
        rows = await get_json(client, "/tasks?select=done,count(),id.sum(),id.max()&order=done")
        assert rows == [
            {"done": False, "count": 6, "sum": 30, "max": 8},
            {"done": True, "count": 2, "sum": 6, "max": 5},
        ]
        rows = await get_json(client, "/items?select=avg:price.avg()::text")
        assert rows == [{"avg": "0.87500000000000000000"}]


async def test_bad_query_strings_are_400(client):
    for url in (
        "/clients?select=id,(",
        "/clients?id=xx.1",
        "/clients?or=(id.eq.1",
        "/clients?order=id.sideways",
        "/clients?select=id::bad-type",
    ):
        r = await client.get(url)
        assert r.status_code == 400, url
        assert r.json()["code"].startswith("PGRST1"), url


async def test_invalid_path_and_unsupported_method(client):
    r = await client.get("/a/b/c")
    assert (r.status_code, r.json()["code"]) == (404, "PGRST125")
    r = await client.request("TRACE", "/clients")
    assert (r.status_code, r.json()["code"]) == (405, "PGRST117")


async def test_openapi_follows_privileges(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/openapi+json; charset=utf-8"
    doc = r.json()
    assert doc["swagger"] == "2.0"
    assert "/clients" in doc["paths"] and "/documents" not in doc["paths"]
    props = doc["definitions"]["projects"]["properties"]
    assert props["id"]["type"] == "integer" and "Primary Key" in props["id"]["description"]
    assert "<fk table='clients' column='id'/>" in props["client_id"]["description"]
    assert doc["definitions"]["clients"]["description"] == "Our clients"


async def test_server_timing(rest_config, make_client):
    async with make_client(rest_config.with_(server_timing_enabled=True)) as client:
        r = await client.get("/clients")
        names = [part.split(";")[0] for part in r.headers["server-timing"].split(", ")]
        assert names == ["jwt", "parse", "plan", "transaction", "response"]


async def test_json_is_not_reencoded(client):
    r = await client.get("/items?select=data&id=eq.1")
    assert json.loads(r.text)[0]["data"] == {"color": "red", "size": {"w": 3}, "list": [1, 2]}
    assert r.text == '[{"data":{"list": [1, 2], "size": {"w": 3}, "color": "red"}}]'

"""/rpc/<fn>: GET/POST/HEAD, argument passing, result shapes, overloads and access modes."""

from __future__ import annotations

import pytest
from test_writes import rows

pytestmark = pytest.mark.anyio


async def test_scalar_get_and_post(client):
    r = await client.get("/rpc/add?a=1&b=2")
    assert (r.status_code, r.text) == (200, "3")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["content-range"] == "0-0/*"
    r = await client.post("/rpc/add", json={"a": 4})
    assert (r.status_code, r.text) == (200, "5")  # b has a default
    r = await client.get("/rpc/hello")
    assert r.text == '"Hello, world"'
    r = await client.head("/rpc/hello")
    assert (r.status_code, r.content) == (200, b"")


async def test_named_args_with_defaults(client):
    assert (await client.get("/rpc/greet?name=Ann")).json() == "Hi, Ann"
    r = await client.post("/rpc/greet", json={"name": "Bob", "greeting": "Yo"})
    assert r.json() == "Yo, Bob"


async def test_composite_and_sets(client):
    r = await client.get("/rpc/client_by_id?cid=2")
    assert r.text == '{"id":2,"name":"Apple"}'
    r = await client.get("/rpc/client_by_id?cid=99")  # a composite NULL is a row of nulls
    assert r.text == '{"id":null,"name":null}'
    r = await client.get("/rpc/numbers?upto=3")
    assert r.text == "[1, 2, 3]"
    r = await client.get("/rpc/pairs")
    assert r.json() == [{"x": 1, "label": "one"}, {"x": 2, "label": "two"}, {"x": 3, "label": None}]


async def test_filters_order_select_on_set_results(client):
    r = await client.get("/rpc/all_projects?select=id,name&id=gt.2&order=id.desc&limit=2")
    assert r.json() == [{"id": 5, "name": "Orphan"}, {"id": 4, "name": "OSX"}]
    r = await client.get("/rpc/all_projects?select=name,clients(name)&id=eq.3")
    assert r.json() == [{"name": "IOS", "clients": {"name": "Apple"}}]
    r = await client.get("/rpc/pairs?x=gte.2&select=label")
    assert r.json() == [{"label": "two"}, {"label": None}]
    r = await client.get(
        "/rpc/all_projects?select=id", headers={"Prefer": "count=exact", "Range": "0-1"}
    )
    assert r.status_code == 206
    assert r.headers["content-range"] == "0-1/5"
    assert r.headers["preference-applied"] == "count=exact"


async def test_single_json_param_takes_whole_body(client):
    r = await client.post("/rpc/echo_json", json={"x": [1, 2], "y": None})
    assert r.json() == {"x": [1, 2], "y": None}
    r = await client.post(
        "/rpc/keys_of", json={"a": 1, "b": 2}, headers={"Prefer": "params=single-object"}
    )
    assert r.json() == 2


async def test_variadic(client):
    assert (await client.get("/rpc/total?v=1&v=2&v=3")).json() == 6
    assert (await client.get("/rpc/total?v=5")).json() == 5
    assert (await client.post("/rpc/total", json={"v": [1, 2]})).json() == 3


async def test_overloads(client):
    assert (await client.get("/rpc/over?a=1")).json() == "int"
    assert (await client.get("/rpc/over?a=1&b=2")).json() == "two"
    r = await client.get("/rpc/amb?a=1")
    assert r.status_code == 300
    assert r.json() == {
        "code": "PGRST203",
        "details": None,
        "hint": "Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
        "message": "Could not choose the best candidate function between: api.amb(a => integer), "
        "api.amb(a => text)",
    }


async def test_function_not_found(client):
    r = await client.get("/rpc/add?x=1")
    assert r.status_code == 404
    assert r.json() == {
        "code": "PGRST202",
        "details": "Searched for the function api.add with parameter x, but no matches were "
        "found in the schema cache.",
        "hint": "Perhaps you meant to call the function api.add(a, b)",
        "message": "Could not find the function api.add(x) in the schema cache",
    }
    r = await client.post("/rpc/helo", json={})
    assert r.status_code == 404
    assert (
        r.json()["message"]
        == "Could not find the function api.helo without parameters in the schema cache"
    )
    assert r.json()["details"] == (
        "Searched for the function api.helo without parameters or with a single unnamed "
        "json/jsonb parameter, but no matches were found in the schema cache."
    )
    assert r.json()["hint"] == "Perhaps you meant to call the function api.hello"
    # functions outside the exposed schemas are invisible
    r = await client.get("/rpc/pg_sleep?seconds=0")
    assert r.status_code == 404


async def test_void_function_is_204(client):
    r = await client.post("/rpc/noop")
    assert (r.status_code, r.content) == (204, b"")
    assert "content-type" not in r.headers


async def test_volatility_decides_access_mode(client, rest_db):
    r = await client.post("/rpc/add_note", json={"title": "via rpc"})
    assert r.status_code == 200
    assert r.json()["title"] == "via rpc"
    r = await client.get("/rpc/add_note?title=nope")
    assert r.status_code == 405
    assert r.json()["code"] == "25006"
    assert rows(rest_db, "SELECT title FROM api.notes") == [("via rpc",)]


async def test_rpc_method_and_errors(client):
    r = await client.patch("/rpc/hello", json={})
    assert r.status_code == 405
    assert r.json() == {
        "code": "PGRST101",
        "details": None,
        "hint": None,
        "message": "Cannot use the PATCH method on RPC",
    }
    r = await client.get("/rpc/fail")
    assert r.status_code == 400
    assert r.json() == {
        "code": "P0001",
        "details": "it failed",
        "hint": "try again",
        "message": "nope",
    }
    r = await client.get("/rpc/add?a=notanumber")
    assert r.status_code == 400 and r.json()["code"] == "22P02"


async def test_raw_bodies_and_scalar_media(client):
    r = await client.post("/rpc/raw_text", content=b"shout", headers={"Content-Type": "text/plain"})
    assert r.json() == "SHOUT"
    r = await client.post(
        "/rpc/raw_text",
        content=b"shout",
        headers={"Content-Type": "text/plain", "Accept": "text/plain"},
    )
    assert (r.text, r.headers["content-type"]) == ("SHOUT", "text/plain; charset=utf-8")
    r = await client.post(
        "/rpc/raw_bytes",
        content=b"\x00\x01",
        headers={"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"},
    )
    assert r.content == b"\x00\x01!"
    assert r.headers["content-type"] == "application/octet-stream"
    r = await client.get("/rpc/some_xml", headers={"Accept": "text/xml"})
    assert (r.text, r.headers["content-type"]) == ("<a>1</a>", "text/xml; charset=utf-8")
    r = await client.get("/rpc/hello", headers={"Accept": "text/xml"})
    assert r.status_code == 406 and r.json()["code"] == "PGRST107"


async def test_rpc_max_affected(client):
    strict = {"Prefer": "handling=strict, max-affected=2"}
    r = await client.get("/rpc/numbers?upto=3", headers=strict)
    assert r.status_code == 400 and r.json()["code"] == "PGRST124"
    r = await client.get("/rpc/numbers?upto=2", headers=strict)
    assert r.status_code == 200
    r = await client.get("/rpc/hello", headers=strict)
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST128"


async def test_rpc_singular_and_timezone(client):
    obj = {"Accept": "application/vnd.pgrst.object+json"}
    r = await client.get("/rpc/all_projects?id=eq.1&select=name", headers=obj)
    assert r.text == '{"name":"Windows 7"}'
    r = await client.get("/rpc/all_projects", headers=obj)
    assert r.status_code == 406
    r = await client.get("/rpc/now_in_tz", headers={"Prefer": "timezone=Asia/Tokyo"})
    assert r.json() == "Asia/Tokyo"


async def test_rpc_in_another_profile(client):
    r = await client.get("/rpc/whoami", headers={"Accept-Profile": "other"})
    assert (r.status_code, r.json()) == (200, "other")
    assert r.headers["content-profile"] == "other"
    r = await client.post("/rpc/whoami", headers={"Content-Profile": "other"})
    assert r.json() == "other"
    r = await client.get("/rpc/whoami")
    assert r.status_code == 404 and r.json()["code"] == "PGRST202"

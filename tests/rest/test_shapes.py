"""Built SQL cached per request shape: values of simple filters are parameters of the shape,
everything else (other operators, select, order, Accept, Prefer, Range, snapshot) is part of it."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.anyio


async def ids(client, url: str, **kw) -> list[int]:
    r = await client.get(url, **kw)
    assert r.status_code == 200, r.text
    return [row["id"] for row in r.json()]


async def test_same_shape_different_values_share_one_entry(client):
    shapes = client.app.state.engine.shapes
    assert await ids(client, "/projects?select=id&id=eq.1") == [1]
    assert len(shapes) == 1
    assert await ids(client, "/projects?select=id&id=eq.3") == [3]  # a hit, with its own value
    assert await ids(client, "/projects?select=id&id=eq.99") == []
    assert await ids(client, "/projects?select=id&id=not.eq.1&id=lte.3&order=id") == [2, 3]
    assert await ids(client, "/projects?select=id&id=not.eq.2&id=lte.4&order=id") == [1, 3, 4]
    assert len(shapes) == 2
    # a value with quotes, commas and dots travels as a parameter, never as SQL
    r = await client.get('/projects?select=id&name=eq.a\'b,"c".d')
    assert (r.status_code, r.json()) == (200, [])
    r = await client.get("/projects?select=id&name=eq.Windows 7")
    assert r.json() == [{"id": 1}]


async def test_shape_includes_headers_and_other_operators(client):
    shapes = client.app.state.engine.shapes
    assert await ids(client, "/projects?select=id&id=in.(1,2)&order=id") == [1, 2]
    assert await ids(client, "/projects?select=id&id=in.(4,5)&order=id") == [4, 5]
    assert await ids(client, "/projects?select=id&name=like.*OS*&order=id") == [3, 4]
    assert await ids(client, "/projects?select=id&order=id", headers={"Range": "0-1"}) == [1, 2]
    assert await ids(client, "/projects?select=id&order=id", headers={"Range": "2-3"}) == [3, 4]
    r = await client.get("/projects?select=id&id=eq.1", headers={"Prefer": "count=exact"})
    assert r.headers["content-range"] == "0-0/1"
    r = await client.get("/projects?select=id&id=eq.2", headers={"Prefer": "count=exact"})
    assert (r.headers["content-range"], r.json()) == ("0-0/1", [{"id": 2}])
    r = await client.get(
        "/projects?select=id&id=eq.2", headers={"Accept": "application/vnd.pgrst.object+json"}
    )
    assert r.json() == {"id": 2}
    r = await client.get("/projects?select=id&id=eq.3")
    assert r.json() == [{"id": 3}]
    assert len(shapes) == 8


async def test_embeds_and_errors(client):
    url = "/clients?select=id,projects(id,tasks(id))&id=eq.{}&projects.id=lte.{}&order=id"
    first = (await client.get(url.format(1, 1))).json()
    assert first == [{"id": 1, "projects": [{"id": 1, "tasks": [{"id": 1}, {"id": 2}]}]}]
    second = (await client.get(url.format(2, 3))).json()
    assert second == [{"id": 2, "projects": [{"id": 3, "tasks": [{"id": 5}, {"id": 6}]}]}]
    r = await client.get("/clients?select=id&nope=eq.1")  # errors are never cached
    assert (r.status_code, r.json()["code"]) == (400, "42703")


async def test_reloaded_snapshot_does_not_reuse_entries(client, rest_db):
    engine = client.app.state.engine
    r = await client.get("/projects?id=eq.1")
    assert r.json() == [{"id": 1, "name": "Windows 7", "client_id": 1}]
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE api.projects RENAME COLUMN name TO title")
    await engine.cache.reload_now("api")
    r = await client.get("/projects?id=eq.1")  # select=* expands to the new columns
    assert r.json() == [{"id": 1, "title": "Windows 7", "client_id": 1}]
    r = await client.get("/projects?select=name&id=eq.1")
    assert (r.status_code, r.json()["code"]) == (400, "42703")

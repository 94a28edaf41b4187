"""POST/PATCH/DELETE on tables: bodies, columns, defaults, return preferences, status rules."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.anyio
REPR = {"Prefer": "return=representation"}


def rows(rest_db: str, sql: str) -> list[tuple]:
    with psycopg.connect(rest_db, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


async def test_insert_minimal_is_201_without_body(client, rest_db):
    r = await client.post("/kv", json={"k": "c", "v": "gamma", "n": 3})
    assert r.status_code == 201
    assert r.content == b""
    assert "content-type" not in r.headers
    assert r.headers["content-range"] == "*/*"
    assert "location" not in r.headers
    assert rows(rest_db, "SELECT * FROM api.kv WHERE k = 'c'") == [("c", "gamma", 3)]


async def test_insert_representation_bytes(client):
    r = await client.post("/kv", json={"k": "c", "v": "gamma", "n": 3}, headers=REPR)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["preference-applied"] == "return=representation"
    assert r.content == b'[{"k":"c","v":"gamma","n":3}]'


async def test_insert_array_defaults_and_generated_columns(client):
    body = [{"title": "one"}, {"title": "three"}]
    r = await client.post("/notes?select=id,title,body,stars,title_len", json=body, headers=REPR)
    assert r.status_code == 201
    assert r.json() == [
        {"id": 1, "title": "one", "body": "empty", "stars": 0, "title_len": 3},
        {"id": 2, "title": "three", "body": "empty", "stars": 0, "title_len": 5},
    ]


async def test_insert_headers_only_location(client):
    r = await client.post(
        "/kv", json={"k": "x y", "v": "z"}, headers={"Prefer": "return=headers-only"}
    )
    assert r.status_code == 201
    assert r.headers["location"] == "/kv?k=eq.x%20y"
    assert r.content == b""
    r = await client.post(
        "/kv", json=[{"k": "p"}, {"k": "q"}], headers={"Prefer": "return=headers-only"}
    )
    assert r.status_code == 201 and "location" not in r.headers


async def test_insert_with_embedded_representation(client):
    r = await client.post(
        "/projects?select=id,name,clients(name)",
        json={"id": 9, "name": "New", "client_id": 2},
        headers=REPR,
    )
    assert r.status_code == 201
    assert r.json() == [{"id": 9, "name": "New", "clients": {"name": "Apple"}}]


async def test_columns_parameter_and_missing_default(client, rest_db):
    body = [{"title": "a", "stars": 5, "ignored": 1}, {"title": "b"}]
    r = await client.post("/notes?columns=title,stars", json=body, headers=REPR)
    assert r.status_code == 400  # stars null → NOT NULL violation without missing=default
    assert r.json()["code"] == "23502"
    r = await client.post(
        "/notes?columns=title,stars&select=title,stars,body",
        json=body,
        headers={"Prefer": "return=representation, missing=default"},
    )
    assert r.status_code == 201, r.text
    assert r.json() == [
        {"title": "a", "stars": 5, "body": "empty"},
        {"title": "b", "stars": 0, "body": "empty"},
    ]
    assert r.headers["preference-applied"] == "missing=default, return=representation"
    assert rows(rest_db, "SELECT count(*) FROM api.notes") == [(2,)]


async def test_missing_default_allows_ragged_arrays(client):
    body = [{"title": "a", "stars": 2}, {"title": "b"}]
    r = await client.post("/notes?select=stars", json=body, headers=REPR)
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST102",
        "details": None,
        "hint": None,
        "message": "All object keys must match",
    }
    r = await client.post(
        "/notes?select=stars",
        json=body,
        headers={"Prefer": "return=representation,missing=default"},
    )
    assert r.status_code == 201 and r.json() == [{"stars": 2}, {"stars": 0}]


async def test_unknown_column_is_pgrst204(client):
    r = await client.post("/kv", json={"k": "z", "nope": 1})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": "Could not find the 'nope' column of 'kv' in the schema cache",
    }
    r = await client.post("/kv?columns=k,nope", json={"k": "z"})
    assert r.status_code == 400 and r.json()["code"] == "PGRST204"


async def test_csv_and_form_bodies(client):
    csv_body = "k,v,n\nc,gamma,3\nd,NULL,4\n"
    r = await client.post("/kv", content=csv_body, headers={"Content-Type": "text/csv", **REPR})
    assert r.status_code == 201, r.text
    assert r.json() == [{"k": "c", "v": "gamma", "n": 3}, {"k": "d", "v": None, "n": 4}]
    r = await client.post(
        "/kv",
        content="k=e&v=eps+ilon",
        headers={"Content-Type": "application/x-www-form-urlencoded", **REPR},
    )
    assert r.status_code == 201 and r.json() == [{"k": "e", "v": "eps ilon", "n": None}]


async def test_csv_out(client):
    r = await client.post(
        "/kv?select=k,v", json=[{"k": "c", "v": "a,b"}], headers={"Accept": "text/csv", **REPR}
    )
    assert r.status_code == 201
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text == 'k,v\nc,"a,b"'
    r = await client.get("/kv?select=k,n&order=k", headers={"Accept": "text/csv"})
    assert r.text == "k,n\na,1\nb,2\nc,"


async def test_empty_and_scalar_bodies(client, rest_db):
    r = await client.post("/nopk", content=b"", headers=REPR)  # no body is no row of NULLs
    assert (r.status_code, r.json()["code"]) == (400, "PGRST102")
    r = await client.post("/nopk", json=[], headers=REPR)
    assert r.status_code == 201 and r.json() == []
    r = await client.post("/nopk", json=5, headers=REPR)  # a scalar is truncated to {}
    assert r.status_code == 201 and r.json() == [{"a": None, "b": None}]
    assert rows(rest_db, "SELECT count(*) FROM api.nopk") == [(1,)]


async def test_update_with_filters(client, rest_db):
    r = await client.patch("/kv?k=eq.a", json={"v": "ALPHA"})
    assert r.status_code == 204
    assert r.headers["content-range"] == "0-0/*"
    r = await client.patch("/kv?k=in.(a,b)&select=k,v", json={"v": "X"}, headers=REPR)
    assert r.status_code == 200
    assert sorted(r.json(), key=lambda x: x["k"]) == [{"k": "a", "v": "X"}, {"k": "b", "v": "X"}]
    assert r.headers["content-range"] == "0-1/*"
    r = await client.patch(
        "/kv?k=eq.zzz", json={"v": "X"}, headers={"Prefer": "return=representation,count=exact"}
    )
    assert (r.status_code, r.text, r.headers["content-range"]) == (200, "[]", "*/0")
    r = await client.patch("/kv?k=eq.zzz", json={"v": "X"})
    assert (r.status_code, r.headers["content-range"]) == (204, "*/*")
    r = await client.patch("/kv?k=eq.a", json={}, headers=REPR)
    assert (r.status_code, r.text) == (200, "[]")


async def test_update_logic_tree_and_count(client):
    r = await client.patch(
        "/tasks?or=(id.eq.1,id.eq.2)&select=id,done",
        json={"done": True},
        headers={"Prefer": "return=representation, count=exact"},
    )
    assert r.status_code == 200
    assert r.headers["content-range"] == "0-1/2"
    assert r.headers["preference-applied"] == "return=representation, count=exact"
    assert sorted(x["id"] for x in r.json()) == [1, 2]


async def test_delete(client, rest_db):
    r = await client.delete("/tasks?id=eq.8")
    assert (r.status_code, r.headers["content-range"]) == (204, "*/*")
    r = await client.delete("/tasks?id=eq.7&select=id,name", headers=REPR)
    assert r.status_code == 200 and r.json() == [{"id": 7, "name": "Design OSX"}]
    r = await client.delete("/tasks?id=gt.100", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.headers["content-range"]) == (204, "*/0")
    assert rows(rest_db, "SELECT count(*) FROM api.tasks") == [(6,)]


async def test_bounded_mutations_with_limit_and_order(client, rest_db):
    r = await client.patch(
        "/tasks?order=id.desc&limit=2&select=id", json={"done": True}, headers=REPR
    )
    assert r.status_code == 200 and sorted(x["id"] for x in r.json()) == [7, 8]
    r = await client.delete("/tasks?id=gt.2&order=id&limit=1&offset=1&select=id", headers=REPR)
    assert r.json() == [{"id": 4}]
    # limit without order is allowed in PostgREST v14 (PGRST109 is gone)
    r = await client.delete("/tasks?limit=1&project_id=eq.4")
    assert r.status_code == 204
    assert rows(rest_db, "SELECT count(*) FROM api.tasks") == [(6,)]


async def test_max_affected(client, rest_db):
    strict = {"Prefer": "handling=strict, max-affected=1"}
    r = await client.delete("/tasks?id=in.(3,4,7)", headers=strict)
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST124",
        "details": "The query affects 3 rows",
        "hint": None,
        "message": "Query result exceeds max-affected preference constraint",
    }
    assert rows(rest_db, "SELECT count(*) FROM api.tasks") == [(8,)]
    r = await client.delete("/tasks?id=eq.3", headers=strict)
    assert r.status_code == 204
    assert r.headers["preference-applied"] == "handling=strict, max-affected=1"
    # lenient (the default) ignores max-affected
    r = await client.delete("/tasks?id=in.(4,7)", headers={"Prefer": "max-affected=1"})
    assert r.status_code == 204
    assert rows(rest_db, "SELECT count(*) FROM api.tasks") == [(5,)]


async def test_singular_write(client, rest_db):
    obj = {"Accept": "application/vnd.pgrst.object+json", **REPR}
    r = await client.patch("/kv?k=eq.a&select=k,v", json={"v": "one"}, headers=obj)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    assert r.text == '{"k":"a","v":"one"}'
    r = await client.patch("/kv?select=k", json={"v": "many"}, headers=obj)
    assert r.status_code == 406 and r.json()["code"] == "PGRST116"
    assert rows(rest_db, "SELECT v FROM api.kv ORDER BY k") == [("one",), ("beta",)]


async def test_tx_rollback_preference(rest_config, make_client, rest_db):
    config = rest_config.with_(db_tx_end="commit-allow-override")
    async with make_client(config) as client:
        r = await client.post(
            "/kv", json={"k": "tmp"}, headers={"Prefer": "tx=rollback, return=representation"}
        )
        assert r.status_code == 201 and r.json() == [{"k": "tmp", "v": None, "n": None}]
        assert r.headers["preference-applied"] == "return=representation, tx=rollback"
    assert rows(rest_db, "SELECT count(*) FROM api.kv") == [(2,)]


async def test_timezone_preference(client):
    r = await client.get("/ts?select=at", headers={"Prefer": "timezone=America/Los_Angeles"})
    assert r.json() == [{"at": "2024-01-01T04:00:00-08:00"}]
    assert r.headers["preference-applied"] == "timezone=America/Los_Angeles"
    r = await client.get("/ts?select=at", headers={"Prefer": "timezone=Mars/Base"})
    assert r.json() == [{"at": "2024-01-01T12:00:00+00:00"}]
    assert "preference-applied" not in r.headers
    r = await client.get("/ts", headers={"Prefer": "handling=strict, timezone=Mars/Base"})
    assert r.status_code == 400
    assert r.json()["details"] == "Invalid preferences: timezone=Mars/Base"


async def test_content_profile_for_writes(client, rest_db):
    r = await client.post(
        "/things", json={"id": 2, "name": "two"}, headers={"Content-Profile": "other", **REPR}
    )
    assert r.status_code == 201
    assert r.headers["content-profile"] == "other"
    assert rows(rest_db, "SELECT count(*) FROM other.things") == [(2,)]
    r = await client.post("/things", json={"id": 3}, headers={"Content-Profile": "nope"})
    assert r.status_code == 406 and r.json()["code"] == "PGRST106"


async def test_views_are_writable(client, rest_db):
    r = await client.post("/big_projects", json={"id": 20, "name": "Viewed"}, headers=REPR)
    assert r.status_code == 201, r.text
    assert r.json() == [{"id": 20, "name": "Viewed", "client_id": None}]


async def test_options_lists_write_methods(client):
    r = await client.options("/kv")
    assert r.headers["allow"] == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    r = await client.options("/rpc/hello")
    assert r.headers["allow"] == "OPTIONS,GET,HEAD,POST"
    r = await client.options("/rpc/add_note?title=x")  # resolved like a GET call
    assert r.headers["allow"] == "OPTIONS,POST"


async def test_content_type_parameters_and_typed_columns(client):
    body = {
        "id": 9,
        "name": "durian",
        "price": 9.99,
        "data": {"a": [1, {"b": None}]},
        "meta": {"m": 1},
        "tags": ["x", "y z"],
        "numbers": [1, 2],
        "during": "[1,3)",
        "created": "2024-05-01",
    }
    r = await client.post(
        "/items?select=id,name,price,data,meta,tags,numbers,during,created",
        json=body,
        headers={"Content-Type": "application/json; charset=utf-8", **REPR},
    )
    assert r.status_code == 201, r.text
    assert r.json() == [body]


async def test_db_tx_end_rollback_discards_writes(rest_config, make_client, rest_db):
    async with make_client(rest_config.with_(db_tx_end="rollback")) as client:
        r = await client.post("/kv", json={"k": "gone"}, headers=REPR)
        assert r.status_code == 201 and r.json() == [{"k": "gone", "v": None, "n": None}]
        # tx=commit is not honoured without an allow-override setting
        r = await client.post("/kv", json={"k": "gone2"}, headers={"Prefer": "tx=commit"})
        assert r.status_code == 201 and "preference-applied" not in r.headers
    assert rows(rest_db, "SELECT count(*) FROM api.kv") == [(2,)]

"""Upserts: POST with resolution=merge|ignore-duplicates, on_conflict=, and PUT by primary key."""

from __future__ import annotations

import pytest
from test_writes import rows

pytestmark = pytest.mark.anyio


async def test_merge_duplicates(client, rest_db):
    prefer = {"Prefer": "resolution=merge-duplicates, return=representation"}
    body = [{"k": "a", "v": "A!", "n": 1}, {"k": "c", "v": "new", "n": 3}]
    r = await client.post("/kv", json=body, headers=prefer)
    assert r.status_code == 201
    assert r.json() == [{"k": "a", "v": "A!", "n": 1}, {"k": "c", "v": "new", "n": 3}]
    assert r.headers["preference-applied"] == "resolution=merge-duplicates, return=representation"
    # nothing inserted, only merged: 200
    r = await client.post("/kv", json={"k": "b", "v": "B!", "n": 2}, headers=prefer)
    assert r.status_code == 200
    assert rows(rest_db, "SELECT k, v FROM api.kv ORDER BY k") == [
        ("a", "A!"),
        ("b", "B!"),
        ("c", "new"),
    ]


async def test_ignore_duplicates(client, rest_db):
    prefer = {"Prefer": "resolution=ignore-duplicates, return=representation"}
    r = await client.post(
        "/kv", json=[{"k": "a", "v": "no"}, {"k": "d", "v": "yes"}], headers=prefer
    )
    assert r.status_code == 201
    assert r.json() == [{"k": "d", "v": "yes", "n": None}]
    assert rows(rest_db, "SELECT v FROM api.kv WHERE k = 'a'") == [("alpha",)]


async def test_on_conflict_column(client, rest_db):
    prefer = {"Prefer": "resolution=merge-duplicates"}
    r = await client.post("/kv?on_conflict=n", json={"k": "z", "v": "by n", "n": 1}, headers=prefer)
    assert r.status_code == 200, r.text  # merged into the row with n=1 (key changed to z)
    assert rows(rest_db, "SELECT k, v FROM api.kv WHERE n = 1") == [("z", "by n")]
    r = await client.post("/kv?on_conflict=v", json={"k": "y", "n": 9}, headers=prefer)
    assert r.status_code == 400 and r.json()["code"] == "42P10"  # no unique constraint on v
    r = await client.post("/kv?on_conflict=nope", json={"k": "y"}, headers=prefer)
    assert r.status_code == 400 and r.json()["code"] == "PGRST204"


async def test_resolution_on_table_without_pk_is_not_applied(client):
    r = await client.post("/nopk", json={"a": 1}, headers={"Prefer": "resolution=merge-duplicates"})
    assert r.status_code == 201
    assert "preference-applied" not in r.headers


async def test_put_inserts_then_replaces(client, rest_db):
    prefer = {"Prefer": "return=representation"}
    r = await client.put("/kv?k=eq.n", json={"k": "n", "v": "new"}, headers=prefer)
    assert r.status_code == 201
    assert r.json() == [{"k": "n", "v": "new", "n": None}]
    r = await client.put("/kv?k=eq.n", json={"k": "n", "v": "replaced", "n": 7}, headers=prefer)
    assert r.status_code == 200
    assert r.json() == [{"k": "n", "v": "replaced", "n": 7}]
    r = await client.put("/kv?k=eq.n", json={"k": "n", "v": "quiet"})
    assert r.status_code == 204 and r.content == b""
    assert rows(rest_db, "SELECT v FROM api.kv WHERE k = 'n'") == [("quiet",)]


async def test_put_errors(client, rest_db):
    r = await client.put("/kv?v=eq.x", json={"k": "x"})
    assert r.status_code == 405
    assert r.json() == {
        "code": "PGRST105",
        "details": None,
        "hint": None,
        "message": "Filters must include all and only primary key columns with 'eq' operators",
    }
    r = await client.put("/kv?k=gt.x", json={"k": "x"})
    assert r.status_code == 405
    r = await client.put("/kv?k=eq.x&limit=1", json={"k": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST114"
    assert r.json()["message"] == "limit/offset querystring parameters are not allowed for PUT"
    r = await client.put("/kv?k=eq.x", json={"k": "other"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST115",
        "details": None,
        "hint": None,
        "message": "Payload values do not match URL in primary key column(s)",
    }
    assert rows(rest_db, "SELECT count(*) FROM api.kv") == [(2,)]
    r = await client.put("/nopk?a=eq.1", json={"a": 1})
    assert r.status_code == 405


async def test_put_composite_key_and_location(client, rest_db):
    url = "/countries?code=eq.de&region=eq.1"
    prefer = {"Prefer": "return=representation"}
    r = await client.put(url, json={"code": "de", "region": 1, "name": "Germany"}, headers=prefer)
    assert r.status_code == 201
    assert r.json() == [{"code": "de", "region": 1, "name": "Germany"}]
    r = await client.put(
        url, json={"code": "de", "region": 1, "name": "Deutschland"}, headers=prefer
    )
    assert r.status_code == 200
    r = await client.put("/countries?code=eq.de", json={"code": "de", "region": 1, "name": "x"})
    assert r.status_code == 405 and r.json()["code"] == "PGRST105"
    assert rows(rest_db, "SELECT name FROM api.countries WHERE code = 'de'") == [("Deutschland",)]
    r = await client.post(
        "/countries",
        json={"code": "it", "region": 3, "name": "Italy"},
        headers={"Prefer": "return=headers-only"},
    )
    assert r.headers["location"] == "/countries?code=eq.it&region=eq.3"

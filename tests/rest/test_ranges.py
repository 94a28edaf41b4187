"""Ranges, limits and counts as PostgREST answers them: negative `limit` is 416 and negative
`offset` a no-op, `count=planned|estimated` from the planner (estimated only when the bounded
count reached db-max-rows and the guess is greater), Content-Range on HEAD and RPC, and
db-max-rows bounding embedded lists too."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def ranges_db(rest_db: str) -> str:
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "fixtures" / "ranges.sql").read_text())
    return rest_db


@pytest.fixture
async def limited(ranges_db, rest_config, make_client):
    async with make_client(rest_config.with_(db_max_rows=2)) as client:
        yield client


@pytest.mark.parametrize("path", ["/stale_stats?limit=-1", "/shelves?shelf_books.limit=-3"])
async def test_negative_limit_is_416(ranges_db, client, path):
    r = await client.get(path)
    assert r.status_code == 416
    assert r.json() == {
        "code": "PGRST103",
        "details": "Limit should be greater than or equal to zero.",
        "hint": None,
        "message": "Requested range not satisfiable",
    }
    assert r.headers["proxy-status"] == "PostgREST; error=PGRST103"


async def test_negative_offset_reads_from_the_start(ranges_db, client):
    r = await client.get("/shelf_books?select=id&order=id&offset=-4&limit=3")
    assert r.status_code == 200
    assert r.json() == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert r.headers["content-range"] == "0-2/*"
    r = await client.get("/shelves?select=id,shelf_books(id)&shelf_books.offset=-1&order=id")
    assert r.json()[0]["shelf_books"] == [{"id": 2}, {"id": 4}, {"id": 6}, {"id": 8}]
    r = await client.get("/shelf_books?offset=-")
    assert r.status_code == 400 and r.json()["code"] == "PGRST100"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_count_planned_and_estimated_use_the_planner(ranges_db, client, method):
    for count in ("planned", "estimated"):  # no max-rows: the guess wins when it is greater
        r = await client.request(method, "/stale_stats", headers={"Prefer": f"count={count}"})
        assert r.status_code == 206
        assert r.headers["content-range"] == "0-2/300"
        assert r.headers["preference-applied"] == f"count={count}"
    # the planner believes in fewer rows than there are: estimated keeps the real count
    r = await client.request(method, "/fresh_stats", headers={"Prefer": "count=estimated"})
    assert (r.status_code, r.headers["content-range"]) == (200, "0-4/5")
    r = await client.request(method, "/fresh_stats", headers={"Prefer": "count=planned"})
    assert r.headers["content-range"] == "0-4/1"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_count_estimated_under_max_rows(limited, method):
    # the count stops at max-rows + 1; the smaller planner guess does not replace it
    r = await limited.request(method, "/fresh_stats", headers={"Prefer": "count=estimated"})
    assert (r.status_code, r.headers["content-range"]) == (206, "0-1/3")
    # under max-rows the count is exact and the planner is not believed
    r = await limited.request(method, "/stale_stats?id=lt.3", headers={"Prefer": "count=estimated"})
    assert (r.status_code, r.headers["content-range"]) == (200, "0-1/2")
    # over max-rows the greater planner guess is used
    r = await limited.request(method, "/stale_stats", headers={"Prefer": "count=estimated"})
    assert (r.status_code, r.headers["content-range"]) == (206, "0-1/300")


async def test_max_rows_bounds_embedded_lists(limited):
    r = await limited.get("/shelves?select=id,shelf_books(id)&order=id&shelf_books.order=id")
    assert r.json() == [
        {"id": 1, "shelf_books": [{"id": 2}, {"id": 4}]},
        {"id": 2, "shelf_books": [{"id": 1}, {"id": 3}]},
    ]
    r = await limited.get("/shelves?select=id,shelf_books(id)&id=eq.1&shelf_books.limit=1")
    assert r.json() == [{"id": 1, "shelf_books": [{"id": 2}]}]
    r = await limited.get("/rpc/numbers?upto=9")
    assert r.json() == [1, 2]
    # writes are not bounded, nor their representation
    r = await limited.post(
        "/shelves?select=id",
        json=[{"id": 3}, {"id": 4}, {"id": 5}],
        headers={"Prefer": "return=representation"},
    )
    assert r.status_code == 201 and len(r.json()) == 3


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_content_range_on_rpc(ranges_db, client, method):
    r = await client.request(method, "/rpc/numbers?upto=5")
    assert (r.status_code, r.headers["content-range"]) == (200, "0-4/*")
    r = await client.request(method, "/rpc/numbers?upto=5", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.headers["content-range"]) == (200, "0-4/5")
    r = await client.request(
        method, "/rpc/numbers?upto=5&offset=1&limit=2", headers={"Prefer": "count=exact"}
    )
    assert (r.status_code, r.headers["content-range"]) == (206, "1-2/5")
    assert r.content == (b"" if method == "HEAD" else b"[2, 3]")

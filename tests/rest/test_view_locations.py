"""`Location` after a single-row insert with `Prefer: return=headers-only` names every primary
key column, for views too: composite keys of the base table, and the keys of several base
tables behind one view (an INSTEAD OF trigger doing the insert)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.anyio
HEADERS_ONLY = {"Prefer": "return=headers-only"}


@pytest.fixture
def views_db(rest_db: str) -> str:
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "fixtures" / "view_locations.sql").read_text())
    return rest_db


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/pairs_base", {"a": 1, "b": "x y", "note": "n"}, "/pairs_base?a=eq.1&b=eq.x%20y"),
        ("/pairs_view", {"note": "n", "a": 2, "b": "z"}, "/pairs_view?a=eq.2&b=eq.z"),
        ("/both_keys", {"l": 3, "r": 4}, "/both_keys?l=eq.3&r=eq.4"),
    ],
)
async def test_location_names_every_key_column(views_db, client, path, body, location):
    r = await client.post(path, json=body, headers=HEADERS_ONLY)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == location
    assert r.headers["content-range"] == "*/*"
    assert r.content == b"" and "content-type" not in r.headers


async def test_no_location_for_several_rows(views_db, client):
    r = await client.post("/pairs_view", json=[{"a": 5, "b": "p"}, {"a": 6, "b": "q"}],
                          headers=HEADERS_ONLY)  # fmt: skip
    assert r.status_code == 201 and "location" not in r.headers

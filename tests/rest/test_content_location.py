"""`Content-Location` on table reads: the resource with its query parameters sorted by name
(repeated names keep their order) and re-encoded canonically, as PostgREST writes it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/clients", "/clients"),
        ("/clients?name=eq.x&id=eq.1", "/clients?id=eq.1&name=eq.x"),
        ("/clients?select=id,name&order=id", "/clients?order=id&select=id%2Cname"),
        (
            "/clients?name=like.*a b*&id=gt.0&id=lt.9",
            "/clients?id=gt.0&id=lt.9&name=like.%2Aa+b%2A",
        ),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_reads_carry_a_canonical_content_location(client, method, target, location):
    r = await client.request(method, target)
    assert r.status_code == 200
    assert r.headers["content-location"] == location


async def test_non_ascii_names_and_values_are_percent_encoded(client):
    r = await client.get("/clients?name=eq.Zoë")
    assert r.headers["content-location"] == "/clients?name=eq.Zo%C3%AB"
    r = await client.get("/Zoë")
    assert r.status_code == 404  # no such table; errors carry no Content-Location
    assert "content-location" not in r.headers

"""`order=` on a write also orders its representation (with embeds too), as PostgREST returns
it; the write itself still changes exactly the rows its filters select."""

from __future__ import annotations

import pytest
from test_writes import rows

pytestmark = pytest.mark.anyio
REPR = {"Prefer": "return=representation"}


async def test_insert_and_upsert_representation_follow_order(client):
    r = await client.post(
        "/kv?select=k&order=k.desc", json=[{"k": "m"}, {"k": "z"}, {"k": "c"}], headers=REPR
    )
    assert r.status_code == 201 and r.json() == [{"k": "z"}, {"k": "m"}, {"k": "c"}]
    r = await client.post(
        "/kv?select=k,v&order=k.desc",
        json=[{"k": "a", "v": "A"}, {"k": "b", "v": "B"}],
        headers={"Prefer": "return=representation, resolution=merge-duplicates"},
    )
    assert r.json() == [{"k": "b", "v": "B"}, {"k": "a", "v": "A"}]


async def test_update_and_delete_representation_follow_order(client, rest_db):
    r = await client.patch(
        "/projects?select=id,clients(name)&client_id=eq.1&order=id.desc",
        json={"name": "renamed"},
        headers=REPR,
    )
    assert r.json() == [
        {"id": 2, "clients": {"name": "Microsoft"}},
        {"id": 1, "clients": {"name": "Microsoft"}},
    ]
    r = await client.delete("/kv?select=k&k=in.(a,b)&order=k.desc", headers=REPR)
    assert r.json() == [{"k": "b"}, {"k": "a"}]
    assert rows(rest_db, "SELECT count(*) FROM api.kv")[0][0] == 0

"""`is.null` / `not.is.null` tests on embedded resources inside `or=`/`and=` trees (nested and
negated), in the rows and in exact counts; any other operator on an embed is PGRST120."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio
# clients named Apple own projects 3 and 4; done tasks belong to projects 1 and 3
BASE = "/projects?select=id,clients(),tasks()&clients.name=eq.Apple&tasks.done=is.true&order=id"


@pytest.mark.parametrize(
    ("logic", "ids"),
    [
        ("or=(clients.not.is.null,tasks.not.is.null)", [1, 3, 4]),
        ("and=(clients.is.null,tasks.is.null)", [2, 5]),
        ("not.or=(clients.not.is.null,tasks.not.is.null)", [2, 5]),
        ("or=(id.eq.5,and(clients.not.is.null,tasks.not.is.null))", [3, 5]),
        ("or=(clients.not.is.null,id.gt.4)", [3, 4, 5]),
    ],
)
async def test_embed_null_tests_in_logic_trees(client, logic, ids):
    r = await client.get(f"{BASE}&{logic}", headers={"Prefer": "count=exact"})
    assert r.status_code in (200, 206), r.text
    assert [row["id"] for row in r.json()] == ids
    assert r.headers["content-range"] == f"0-{len(ids) - 1}/{len(ids)}"


async def test_other_operators_on_an_embed_are_refused(client):
    r = await client.get("/projects?select=id,clients(id)&or=(clients.eq.1,id.eq.1)")
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST120"
    # a column of the same name as nothing embedded is an ordinary filter
    r = await client.get("/projects?select=id&or=(client_id.is.null,id.eq.1)&order=id")
    assert [row["id"] for row in r.json()] == [1, 5]

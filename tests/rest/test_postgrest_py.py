"""postgrest-py (PyPI `postgrest`), sync and async, through its builder API against a real
`flux rest` process: writes with returning, upserts, filters, order, range, single,
maybe_single, CSV, RPC over GET and POST, counts and explain (db-plan-enabled)."""

from __future__ import annotations

import json

import pytest
from postgrest import AsyncPostgrestClient, CountMethod, ReturnMethod, SyncPostgrestClient
from postgrest.exceptions import APIError
from test_writes import rows


def test_sync_client_writes_reads_rpc(rest_server, rest_db):
    base, _, _ = rest_server
    with SyncPostgrestClient(base, schema="api") as pg:
        # insert with representation, and minimal
        res = pg.from_("kv").insert({"k": "c", "v": "gamma", "n": 3}).execute()
        assert res.data == [{"k": "c", "v": "gamma", "n": 3}]
        res = (
            pg.from_("kv")
            .insert([{"k": "d"}, {"k": "e"}], returning=ReturnMethod.minimal)
            .execute()
        )
        assert res.data == []
        # count on a write
        res = (
            pg.from_("notes")
            .insert([{"title": "x"}, {"title": "y"}], count=CountMethod.exact)
            .execute()
        )
        assert res.count == 2 and [r["title"] for r in res.data] == ["x", "y"]
        # missing=default through default_to_null=False
        res = (
            pg.from_("notes")
            .insert([{"title": "a", "stars": 4}, {"title": "b"}], default_to_null=False)
            .execute()
        )
        assert [r["stars"] for r in res.data] == [4, 0]
        # upsert: merge, ignore, on_conflict
        res = pg.from_("kv").upsert({"k": "a", "v": "merged", "n": 1}).execute()
        assert res.data == [{"k": "a", "v": "merged", "n": 1}]
        res = pg.from_("kv").upsert({"k": "b", "v": "ignored"}, ignore_duplicates=True).execute()
        assert res.data == []
        res = pg.from_("kv").upsert({"k": "z", "v": "by n", "n": 2}, on_conflict="n").execute()
        assert res.data == [{"k": "z", "v": "by n", "n": 2}]
        # update / delete with filters and returning
        res = pg.from_("kv").update({"v": "upd"}).in_("k", ["c", "d"]).order("k").execute()
        assert [r["k"] for r in res.data] == ["c", "d"]
        res = pg.from_("kv").delete().eq("k", "e").execute()
        assert res.data == [{"k": "e", "v": None, "n": None}]
        res = pg.from_("kv").delete(returning=ReturnMethod.minimal).eq("k", "d").execute()
        assert res.data == []
        # reads: order, range, single, maybe_single, csv, count, head
        res = pg.from_("kv").select("k,v", count=CountMethod.exact).order("k").range(0, 1).execute()
        assert [r["k"] for r in res.data] == ["a", "c"] and res.count == 3
        one = pg.from_("kv").select("v").eq("k", "a").single().execute()
        assert one.data == {"v": "merged"}
        maybe = pg.from_("kv").select("v").eq("k", "nope").maybe_single().execute()
        assert maybe is None or maybe.data is None
        with pytest.raises(APIError) as err:
            pg.from_("kv").select("v").single().execute()
        assert err.value.code == "PGRST116"
        csv = pg.from_("kv").select("k,n").order("k").csv().execute()
        assert csv.data == "k,n\na,1\nc,3\nz,2"
        # errors surface as APIError with PostgREST's fields
        with pytest.raises(APIError) as err:
            pg.from_("kv").insert({"k": "a"}).execute()
        assert err.value.code == "23505"
        # RPC over POST and GET, with filters on set results and counts
        assert pg.rpc("add", {"a": 1, "b": 2}).execute().data == 3
        assert pg.rpc("greet", {"name": "Py"}, get=True).execute().data == "Hi, Py"
        res = (
            pg.rpc("all_projects", {}, count=CountMethod.exact)
            .select("id,name")
            .gt("id", 2)
            .order("id", desc=True)
            .limit(2)
            .execute()
        )
        assert res.data == [{"id": 5, "name": "Orphan"}, {"id": 4, "name": "OSX"}]
        assert res.count == 3
        assert pg.rpc("numbers", {"upto": 3}, get=True).execute().data == [1, 2, 3]
        # explain (db-plan-enabled)
        plan = pg.from_("kv").select("*").eq("k", "a").explain(format="json").execute()
        text = (
            plan
            if isinstance(plan, str)
            else json.dumps(plan.data if hasattr(plan, "data") else plan)
        )
        assert "Plan" in text
    assert rows(rest_db, "SELECT k, v FROM api.kv ORDER BY k") == [
        ("a", "merged"),
        ("c", "upd"),
        ("z", "by n"),
    ]


@pytest.mark.anyio
async def test_async_client(rest_server, rest_db):
    base, _, _ = rest_server
    async with AsyncPostgrestClient(base, schema="api") as pg:
        res = await pg.from_("clients").insert({"id": 4, "name": "Async"}).execute()
        assert res.data == [{"id": 4, "name": "Async"}]
        res = await pg.from_("clients").upsert({"id": 4, "name": "Async2"}).execute()
        assert res.data == [{"id": 4, "name": "Async2"}]
        res = await pg.from_("clients").update({"name": "Async3"}).eq("id", 4).execute()
        assert res.data == [{"id": 4, "name": "Async3"}]
        res = await pg.from_("clients").select("name,projects(name)").eq("id", 2).single().execute()
        assert res.data == {"name": "Apple", "projects": [{"name": "IOS"}, {"name": "OSX"}]}
        res = await pg.rpc("client_by_id", {"cid": 4}).execute()
        assert res.data == {"id": 4, "name": "Async3"}
        res = await pg.from_("clients").delete(count=CountMethod.exact).eq("id", 4).execute()
        assert res.count == 1
        res = await pg.from_("items").select("id").text_search("doc", "fox").execute()
        assert res.data == [{"id": 1}]
    assert rows(rest_db, "SELECT count(*) FROM api.clients") == [(3,)]

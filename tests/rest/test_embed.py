"""Resource embedding: every cardinality, views, hints, inner joins, spreads, PGRST200/201."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def get_json(client, url, **kw):
    r = await client.get(url, **kw)
    assert r.status_code == 200, r.text
    return r.json()


async def test_many_to_one_bytes(client):
    r = await client.get("/projects?select=id,clients(name)&id=lt.3&order=id")
    # to-one embeds go through ::jsonb like PostgREST, hence the spaces inside them
    assert r.text == (
        '[{"id":1,"clients":{"name": "Microsoft"}}, \n {"id":2,"clients":{"name": "Microsoft"}}]'
    )


async def test_one_to_many_nested_with_embedded_modifiers(client):
    rows = await get_json(
        client,
        "/clients?select=name,projects(name,tasks(name))&id=eq.1"
        "&projects.order=id.desc&projects.tasks.order=name&projects.tasks.done=is.false"
        "&projects.limit=1",
    )
    assert rows == [
        {
            "name": "Microsoft",
            "projects": [
                {"name": "Windows 10", "tasks": [{"name": "Code w10"}, {"name": "Design w10"}]}
            ],
        }
    ]
    rows = await get_json(client, "/clients?select=id,projects(id)&id=eq.3")
    assert rows == [{"id": 3, "projects": []}]
    rows = await get_json(client, "/clients?select=id,projects(id)&projects.offset=1&id=eq.1")
    assert rows == [{"id": 1, "projects": [{"id": 2}]}]


async def test_one_to_one_and_many_to_many(client):
    rows = await get_json(client, "/users?select=name,user_profiles(bio)&order=id")
    assert rows == [
        {"name": "Angela Martin", "user_profiles": {"bio": "Accountant"}},
        {"name": "Michael Scott", "user_profiles": {"bio": "Manager"}},
        {"name": "Dwight Schrute", "user_profiles": None},
    ]
    rows = await get_json(client, "/user_profiles?select=bio,users(name)&user_id=eq.2")
    assert rows == [{"bio": "Manager", "users": {"name": "Michael Scott"}}]
    rows = await get_json(client, "/users?select=name,tasks(name)&id=eq.1&tasks.order=id")
    assert rows == [
        {"name": "Angela Martin", "tasks": [{"name": "Design w7"}, {"name": "Code w7"}]}
    ]
    rows = await get_json(client, "/tasks?select=id,users(name)&id=eq.1&users.order=id")
    assert rows == [{"id": 1, "users": [{"name": "Angela Martin"}, {"name": "Michael Scott"}]}]


async def test_composite_foreign_key(client):
    rows = await get_json(client, "/cities?select=name,countries(name)&order=id")
    assert rows[0] == {"name": "Paris", "countries": {"name": "France"}}
    rows = await get_json(client, "/countries?select=code,cities(name)&code=eq.fr&cities.order=id")
    assert rows == [{"code": "fr", "cities": [{"name": "Paris"}, {"name": "Lyon"}]}]


async def test_relationships_through_views(client):
    rows = await get_json(client, "/authors?select=name,books(title)&id=eq.2&books.order=id")
    assert rows == [{"name": "Orwell", "books": [{"title": "1984"}, {"title": "Animal Farm"}]}]
    rows = await get_json(client, "/big_projects?select=name,clients(name)&id=eq.3")
    assert rows == [{"name": "IOS", "clients": {"name": "Apple"}}]


async def test_inner_join_and_null_embed_filters(client):
    rows = await get_json(
        client, "/projects?select=id,clients!inner(name)&clients.name=eq.Apple&order=id"
    )
    assert rows == [
        {"id": 3, "clients": {"name": "Apple"}},
        {"id": 4, "clients": {"name": "Apple"}},
    ]
    rows = await get_json(
        client, "/projects?select=id,clients(name)&clients.name=eq.Apple&order=id&id=lt.3"
    )
    assert rows == [{"id": 1, "clients": None}, {"id": 2, "clients": None}]
    rows = await get_json(client, "/clients?select=id,projects(id)&projects=not.is.null&order=id")
    assert [r["id"] for r in rows] == [1, 2]
    rows = await get_json(client, "/clients?select=id,projects(id)&projects=is.null")
    assert rows == [{"id": 3, "projects": []}]
    r = await client.get("/clients?select=id,projects(id)&projects=eq.1")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST120",
        "details": "Only is null or not is null filters are allowed on embedded resources",
        "hint": None,
        "message": "Bad operator on the 'projects' embedded resource",
    }
    r = await client.get(
        "/clients?select=id,projects!inner(id)&projects.id=eq.3", headers={"Prefer": "count=exact"}
    )
    assert (r.json(), r.headers["content-range"]) == ([{"id": 2, "projects": [{"id": 3}]}], "0-0/1")


async def test_hints_disambiguate(client):
    rows = await get_json(
        client,
        "/messages?select=id,sender:users!messages_sender_fkey(name),"
        "receiver:users!receiver_id(name)&id=eq.1",
    )
    assert rows == [
        {"id": 1, "sender": {"name": "Angela Martin"}, "receiver": {"name": "Michael Scott"}}
    ]
    rows = await get_json(client, "/employees?select=name,manager:manager_id(name)&id=eq.3")
    assert rows == [{"name": "Low", "manager": {"name": "Mid"}}]
    rows = await get_json(
        client, "/employees?select=name,reports:employees!manager_id(name)&id=eq.1"
    )
    assert rows == [{"name": "Boss", "reports": [{"name": "Mid"}]}]
    rows = await get_json(
        client, "/employees?select=name,employees(name)&id=eq.2&employees.order=id"
    )
    assert rows == [{"name": "Mid", "employees": [{"name": "Low"}, {"name": "Low2"}]}]


async def test_ambiguous_embedding_is_pgrst201(client):
    r = await client.get("/messages?select=*,users(*)")
    assert r.status_code == 300
    assert r.json() == {
        "code": "PGRST201",
        "details": [
            {
                "cardinality": "many-to-one",
                "embedding": "messages with users",
                "relationship": "messages_receiver_fkey using messages(receiver_id) and users(id)",
            },
            {
                "cardinality": "many-to-one",
                "embedding": "messages with users",
                "relationship": "messages_sender_fkey using messages(sender_id) and users(id)",
            },
        ],
        "hint": "Try changing 'users' to one of the following: "
        "'users!messages_receiver_fkey', 'users!messages_sender_fkey'. "
        "Find the desired relationship in the 'details' key.",
        "message": "Could not embed because more than one relationship was found for "
        "'messages' and 'users'",
    }


async def test_missing_relationship_is_pgrst200(client):
    r = await client.get("/clients?select=*,tasks(*)")
    assert r.status_code == 400
    assert r.json() == {
        "code": "PGRST200",
        "details": "Searched for a foreign key relationship between 'clients' and 'tasks' in "
        "the schema 'api', but no matches were found.",
        "hint": None,
        "message": "Could not find a relationship between 'clients' and 'tasks' in the "
        "schema cache",
    }
    r = await client.get("/clients?select=*,project(*)")
    assert r.json()["hint"] == "Perhaps you meant 'projects' instead of 'project'."
    r = await client.get("/projects?select=*,clients!nope(*)")
    assert r.json()["details"] == (
        "Searched for a foreign key relationship between 'projects' and 'clients' using the "
        "hint 'nope' in the schema 'api', but no matches were found."
    )


async def test_spread_and_related_order(client):
    rows = await get_json(
        client, "/projects?select=id,...clients(client_name:name)&id=lt.3&order=id"
    )
    assert rows == [{"id": 1, "client_name": "Microsoft"}, {"id": 2, "client_name": "Microsoft"}]
    rows = await get_json(
        client,
        "/projects?select=id,clients(name)&order=clients(name).desc,id&client_id=not.is.null",
    )
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    r = await client.get("/clients?select=id,projects(id)&order=projects(id)")
    assert r.status_code == 400 and r.json()["code"] == "PGRST118"
    r = await client.get("/clients?select=id&order=projects(id)")
    assert r.status_code == 400 and r.json()["code"] == "PGRST108"
    r = await client.get("/clients?select=id&projects.id=eq.1")
    assert r.json() == {
        "code": "PGRST108",
        "details": None,
        "hint": "Verify that 'projects' is included in the 'select' query parameter.",
        "message": "'projects' is not an embedded resource in this request",
    }

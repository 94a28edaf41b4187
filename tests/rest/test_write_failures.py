"""Failed writes: constraint and permission errors mapped like PostgREST, bad bodies, 413,
and property tests over bodies and headers (never a 500; a failure changes nothing)."""

from __future__ import annotations

import json
import time

import jwt
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_writes import rows

JWT_SECRET = "reallyreallyreallyreallyverysafe-secret-for-tests"  # as in conftest.rest_config

pytestmark = pytest.mark.anyio


def bearer(role: str = "web_user", sub: str = "alice") -> dict[str, str]:
    token = jwt.encode(
        {"role": role, "sub": sub, "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256"
    )
    return {"Authorization": f"Bearer {token}"}


def count(rest_db: str, table: str) -> int:
    return rows(rest_db, f"SELECT count(*) FROM {table}")[0][0]


async def test_not_null_violation(client, rest_db):
    r = await client.post("/notes", json={"body": "no title"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "23502",
        "details": "Failing row contains (1, null, no title, 0, null, null, 2024-01-01).",
        "hint": None,
        "message": 'null value in column "title" of relation "notes" violates not-null constraint',
    }
    assert count(rest_db, "api.notes") == 0


async def test_unique_and_foreign_key_violations(client, rest_db):
    r = await client.post("/kv", json=[{"k": "new"}, {"k": "a"}])
    assert r.status_code == 409
    assert r.json() == {
        "code": "23505",
        "details": "Key (k)=(a) already exists.",
        "hint": None,
        "message": 'duplicate key value violates unique constraint "kv_pkey"',
    }
    assert count(rest_db, "api.kv") == 2  # the first row of the batch was not kept
    r = await client.post("/notes", json={"title": "x", "client_id": 99})
    assert r.status_code == 409
    assert r.json() == {
        "code": "23503",
        "details": 'Key (client_id)=(99) is not present in table "clients".',
        "hint": None,
        "message": 'insert or update on table "notes" violates foreign key constraint '
        '"notes_client_id_fkey"',
    }
    r = await client.delete("/clients?id=eq.1")
    assert r.status_code == 409 and r.json()["code"] == "23503"
    assert count(rest_db, "api.clients") == 3


async def test_check_violation(client, rest_db):
    r = await client.post("/notes", json={"title": ""})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "23514"
    assert body["message"] == (
        'new row for relation "notes" violates check constraint "notes_title_check"'
    )
    assert body["details"].startswith("Failing row contains (")
    r = await client.patch("/kv?k=eq.a", json={"n": 2})
    assert r.status_code == 409
    assert rows(rest_db, "SELECT n FROM api.kv WHERE k = 'a'") == [(1,)]


async def test_generated_column_cannot_be_written(client, rest_db):
    r = await client.post("/notes", json={"title": "t", "title_len": 5})
    assert r.status_code == 400 and r.json()["code"] == "428C9"
    assert count(rest_db, "api.notes") == 0


async def test_permission_errors_401_anonymous_403_authenticated(client, rest_db):
    r = await client.post("/private_notes", json={"id": 1, "owner": "alice"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["message"] == "permission denied for table private_notes"
    r = await client.post("/users", json={"id": 9, "name": "x"}, headers=bearer())
    assert r.status_code == 403
    assert r.json() == {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for table users",
    }
    assert count(rest_db, "api.users") == 3


async def test_rls_with_check(client, rest_db):
    ok = await client.post(
        "/private_notes", json={"id": 1, "owner": "alice", "body": "mine"}, headers=bearer()
    )
    assert ok.status_code == 201
    r = await client.post(
        "/private_notes", json={"id": 2, "owner": "bob", "body": "forged"}, headers=bearer()
    )
    assert r.status_code == 403
    assert r.json() == {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": 'new row violates row-level security policy for table "private_notes"',
    }
    r = await client.patch("/private_notes?id=eq.1", json={"owner": "bob"}, headers=bearer())
    assert r.status_code == 403
    # rows of other owners are invisible to updates and deletes: nothing matches
    r = await client.delete("/private_notes?id=eq.1", headers=bearer(sub="bob"))
    assert r.status_code == 204
    assert rows(rest_db, "SELECT id, owner FROM api.private_notes") == [(1, "alice")]


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b'{"k": ', "Empty or invalid json"),
        ("application/json", b'[{"k": "x"}, 1]', "All object keys must match"),
        ("application/json", b'[{"k": "x"}, {"v": "y"}]', "All object keys must match"),
        ("application/json", b"\xff\xfe", "Empty or invalid json"),
        ("text/plain", b"k=v", "Content-Type not acceptable: text/plain"),
        ("application/xml", b"<a/>", "Content-Type not acceptable: application/xml"),
        ("text/csv", b"k,v\nx", "All lines must have same number of fields"),
        ("text/csv", b"k,v\nx,y,z", "All lines must have same number of fields"),
    ],
)
async def test_invalid_bodies_are_pgrst102(client, rest_db, content_type, body, message):
    r = await client.post("/kv", content=body, headers={"Content-Type": content_type})
    assert r.status_code == 400
    assert r.json()["code"] == "PGRST102"
    assert r.json()["message"] == message
    assert count(rest_db, "api.kv") == 2


async def test_body_size_limit_is_413(rest_config, make_client, rest_db):
    async with make_client(rest_config.with_(server_max_body_size=64)) as client:
        r = await client.post("/kv", json=[{"k": f"key{i}"} for i in range(10)])
        assert r.status_code == 413
        assert r.json() == {
            "code": "PGRST102",
            "details": "The request body exceeds 64 bytes",
            "hint": None,
            "message": "Payload Too Large",
        }

        async def chunked():  # no Content-Length: the limit is enforced while streaming
            for _ in range(10):
                yield b'{"k": "aaaaaaaaaa"}  '

        r = await client.post(
            "/kv", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert (await client.post("/kv", json={"k": "small"})).status_code == 201
    assert count(rest_db, "api.kv") == 3


async def test_statement_timeout_is_mapped(rest_config, make_client, rest_db):
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION api.slow() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM pg_sleep(2)';"
            "GRANT EXECUTE ON FUNCTION api.slow() TO web_anon;"
            "ALTER ROLE authenticator SET statement_timeout = '100ms'"
        )
    try:
        async with make_client(rest_config.with_(db_pool=1)) as client:
            r = await client.post("/rpc/slow")
            assert r.status_code == 500
            assert r.json() == {
                "code": "57014",
                "details": None,
                "hint": None,
                "message": "canceling statement due to statement timeout",
            }
            assert (await client.get("/rpc/add?a=1")).text == "2"  # the connection is reusable
    finally:
        with psycopg.connect(rest_db, autocommit=True) as conn:
            conn.execute("ALTER ROLE authenticator RESET statement_timeout")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["k", "v", "n", "x", ""]), children, max_size=3)
    ),
    max_leaves=8,
)
_PREFER = st.lists(
    st.sampled_from(
        [
            "return=representation",
            "return=minimal",
            "return=headers-only",
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
            "missing=default",
            "count=exact",
            "handling=strict",
            "max-affected=0",
            "tx=rollback",
            "timezone=UTC",
            "bogus",
            "params=single-object",
        ]
    ),
    max_size=4,
).map(", ".join)
_ACCEPT = st.sampled_from(
    [
        "*/*",
        "application/json",
        "text/csv",
        "application/vnd.pgrst.object+json",
        "application/vnd.pgrst.array+json;nulls=stripped",
        "text/html",
        "application/vnd.pgrst.plan",
    ]
)
_CTYPE = st.sampled_from(
    ["application/json", "text/csv", "application/x-www-form-urlencoded", "text/plain", ""]
)
_PATHS = st.sampled_from(
    [
        "/kv",
        "/kv?k=eq.a",
        "/kv?columns=k,v",
        "/kv?on_conflict=n",
        "/kv?select=k,nope",
        "/kv?limit=1&order=k",
        "/notes?select=id,clients(name)",
        "/rpc/add",
        "/rpc/echo_json",
        "/rpc/total",
        "/rpc/nope",
    ]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE"]),
    path=_PATHS,
    body=_JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40),
    prefer=_PREFER,
    accept=_ACCEPT,
    ctype=_CTYPE,
)
async def test_never_a_500_and_failures_change_nothing(
    client, rest_db, method, path, body, prefer, accept, ctype
):
    before = rows(rest_db, "SELECT k, v, n FROM api.kv ORDER BY k")
    headers = {"Prefer": prefer, "Accept": accept}
    if ctype:
        headers["Content-Type"] = ctype
    r = await client.request(method, path, content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    # `tx=rollback` binds only when the server says it applied it: under the default
    # db-tx-end=commit it is ignored (as PostgREST does) and a successful write commits
    rolled_back = "tx=rollback" in r.headers.get("preference-applied", "")
    if r.status_code >= 300 or rolled_back:
        assert rows(rest_db, "SELECT k, v, n FROM api.kv ORDER BY k") == before
    if r.status_code >= 400:
        assert set(r.json()) == {"code", "details", "hint", "message"}


async def test_nul_characters_are_client_errors(client, rest_db):
    r = await client.patch("/kv?k=eq.%00", json={"v": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == "22021"
    r = await client.post("/kv", json={"k": "\u0000"})
    assert r.status_code == 400 and r.json()["code"] == "22P05"
    assert (await client.get("/kv?k=eq.a")).status_code == 200  # the connection is still fine
    assert rows(rest_db, "SELECT v FROM api.kv WHERE k = 'a'") == [("alpha",)]


_ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PATCH", "DELETE", "GET"]),
    target=st.sampled_from(["/kv", "/rpc/greet", "/rpc/total", "/notes"]),
    key=st.sampled_from(["k", "v", "n", "name", "v.x", "select", "on_conflict", "columns", "or"]),
    value=st.text(max_size=12),
    prefer=_ASCII,
    range_=_ASCII,
)
async def test_random_query_and_headers_never_500(
    client, rest_db, method, target, key, value, prefer, range_
):
    before = rows(rest_db, "SELECT k, v, n FROM api.kv ORDER BY k")
    r = await client.request(
        method,
        target,
        params={key: value},
        json={"k": "hyp"} if method in ("POST", "PATCH") else None,
        headers={"Prefer": prefer, "Range": range_},
    )
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 300:
        assert rows(rest_db, "SELECT k, v, n FROM api.kv ORDER BY k") == before

"""Write safety: a refused write changes nothing and the client learns why.

Singular writes (`Accept: application/vnd.pgrst.object+json`) touching other than one row roll
back with 406 PGRST116 whatever `Prefer: return` or `Prefer: tx=commit` say; errors raised while
the transaction ends (deferred constraints at COMMIT, or at a requested rollback, where PostgREST
first runs `SET CONSTRAINTS ALL IMMEDIATE`) reach the client with their mapped status, in single
and pool mode; empty or invalid JSON bodies of table writes are 400 PGRST102 with no details.
"""

from __future__ import annotations

import time
import uuid

import jwt
import psycopg
import pytest
from pool_tenants import make_pool_tenant
from test_writes import rows

pytestmark = pytest.mark.anyio

SINGULAR = {"Accept": "application/vnd.pgrst.object+json"}
POOL_SECRET = "pool-secret-pool-secret-pool-secret!"
KV = [("a", "alpha", 1), ("b", "beta", 2)]
DUPLICATE = {
    "code": "23505",
    "details": "Key (col)=(1) already exists.",
    "hint": None,
    "message": 'duplicate key value violates unique constraint "deferred_col_key"',
}
EMPTY_OR_INVALID = {
    "code": "PGRST102",
    "details": None,
    "hint": None,
    "message": "Empty or invalid json",
}
# a unique constraint checked at COMMIT, and functions breaking it
DEFERRED_DDL = """
CREATE TABLE {schema}.deferred (col int UNIQUE DEFERRABLE INITIALLY DEFERRED);
CREATE FUNCTION {schema}.insert_twice() RETURNS void LANGUAGE sql VOLATILE
  AS $$ INSERT INTO {schema}.deferred VALUES (1), (1) $$;
CREATE FUNCTION {schema}.insert_twice_if(really bool) RETURNS void LANGUAGE sql VOLATILE
  AS $$ INSERT INTO {schema}.deferred SELECT 1 FROM generate_series(1, 2) WHERE really $$;
"""


def kv(rest_db: str) -> list[tuple]:
    return rows(rest_db, "SELECT k, v, n FROM api.kv ORDER BY k")


def singularity(count: int) -> dict:
    return {
        "code": "PGRST116",
        "details": f"The result contains {count} rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }


@pytest.fixture
def deferred_db(rest_db: str) -> str:
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(DEFERRED_DDL.format(schema="api"))
        conn.execute("GRANT SELECT, INSERT ON api.deferred TO web_anon")
    return rest_db


# ----------------------------------------------------------------- singular writes
WRITES = [
    ("DELETE", "/kv?k=in.(a,b)", None),
    ("PATCH", "/kv?k=in.(a,b)", {"v": "changed"}),
    ("POST", "/kv", [{"k": "c"}, {"k": "d"}]),
]


async def test_singular_write_of_two_rows_rolls_back(rest_config, make_client, rest_db):
    config = rest_config.with_(db_tx_end="commit-allow-override")
    async with make_client(config) as client:
        for method, url, body in WRITES:
            for prefer in ("", "return=minimal", "return=headers-only", "tx=commit"):
                headers = SINGULAR | {"Prefer": prefer}
                r = await client.request(method, url, json=body, headers=headers)
                assert (r.status_code, r.json()) == (406, singularity(2)), (method, prefer)
    assert kv(rest_db) == KV


async def test_singular_write_of_no_row_rolls_back(client, rest_db):
    r = await client.delete("/kv?k=eq.zzz", headers=SINGULAR)
    assert (r.status_code, r.json()) == (406, singularity(0))
    r = await client.post("/kv", json=[], headers=SINGULAR)
    assert (r.status_code, r.json()) == (406, singularity(0))
    assert kv(rest_db) == KV


async def test_singular_write_of_one_row_commits(client, rest_db):
    r = await client.patch("/kv?k=eq.a", json={"v": "ALPHA"}, headers=SINGULAR)
    assert (r.status_code, r.content) == (204, b"")
    r = await client.delete("/kv?k=eq.b", headers=SINGULAR | {"Prefer": "return=representation"})
    assert (r.status_code, r.json()) == (200, {"k": "b", "v": "beta", "n": 2})
    assert kv(rest_db) == [("a", "ALPHA", 1)]


# ----------------------------------------------------------------- errors at the end of the tx
@pytest.mark.parametrize(
    ("tx_end", "prefer"),
    [
        ("commit", ""),
        ("rollback", ""),
        ("rollback", "tx=rollback"),
        ("commit-allow-override", "tx=rollback"),
        ("rollback-allow-override", "tx=commit"),
    ],
)
async def test_deferred_constraint_is_409(rest_config, make_client, deferred_db, tx_end, prefer):
    calls = [
        ("/rpc/insert_twice", None),
        ("/rpc/insert_twice_if", {"really": True}),
        ("/deferred", [{"col": 1}, {"col": 1}]),
    ]
    async with make_client(rest_config.with_(db_tx_end=tx_end)) as client:
        for url, body in calls:
            r = await client.post(url, json=body, headers={"Prefer": prefer})
            assert (r.status_code, r.json()) == (409, DUPLICATE), url
            # the connection is usable again: a harmless call of the same function succeeds
            r = await client.post("/rpc/insert_twice_if", json={"really": False})
            assert r.status_code == 204
    assert rows(deferred_db, "SELECT count(*) FROM api.deferred") == [(0,)]


async def test_rollbacks_behind_errors_do_not_break_later_requests(
    rest_config, make_client, rest_db
):
    """Read-write calls ended by the same statements many times over (beyond psycopg's
    prepare threshold), failing and succeeding in turn, on the one pooled connection."""
    config = rest_config.with_(db_tx_end="rollback", db_pool=1)
    async with make_client(config) as client:
        for _ in range(8):
            r = await client.post("/rpc/fail")
            assert r.status_code == 400, r.text
            r = await client.post("/rpc/noop")
            assert r.status_code == 204, r.text


async def test_deferred_constraint_in_pool_mode(rest_db, rest_config, make_client):
    tenant = uuid.uuid4()
    short = tenant.hex[:12]
    schema = make_pool_tenant(rest_db, short, POOL_SECRET)
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(f"SET ROLE t_{short}_role; " + DEFERRED_DDL.format(schema=schema))
    token = jwt.encode(
        {
            "role": f"t_{short}_role",
            "tenant_id": str(tenant),
            "aud": "flux-pool",
            "exp": int(time.time()) + 60,
        },
        POOL_SECRET,
        algorithm="HS256",
    )
    auth = {"Authorization": f"Bearer {token}"}
    config = rest_config.with_(pool_mode=True, pool_jwt_secret=POOL_SECRET, db_schemas=())
    async with make_client(config) as client:
        for _ in range(3):
            r = await client.post("/rpc/insert_twice", headers=auth)
            assert (r.status_code, r.json()) == (409, DUPLICATE)
            r = await client.post("/rpc/insert_twice_if", json={"really": False}, headers=auth)
            assert r.status_code == 204
    assert rows(rest_db, f"SELECT count(*) FROM {schema}.deferred") == [(0,)]


# ----------------------------------------------------------------- bodies
async def test_empty_or_invalid_json_is_400(client, rest_db):
    for url in ("/kv", "/kv?k=eq.a"):
        method = "POST" if url == "/kv" else "PATCH"
        for content in (b"", b"  ", b'{"k": ', b"nope"):
            r = await client.request(method, url, content=content)
            assert (r.status_code, r.json()) == (400, EMPTY_OR_INVALID), (method, content)
    assert kv(rest_db) == KV


async def test_call_without_body_has_no_arguments(client):
    r = await client.post("/rpc/hello", content=b"")
    assert (r.status_code, r.json()) == (200, "Hello, world")
    r = await client.post("/rpc/hello", content=b" ")
    assert (r.status_code, r.json()) == (400, EMPTY_OR_INVALID)

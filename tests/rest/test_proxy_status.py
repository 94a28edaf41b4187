"""Every error response names its code in `Proxy-Status: PostgREST; error=<code>` (RFC 9209),
whichever layer raised it: request parsing, the schema cache, the database, a custom SQLSTATE."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def errors_db(rest_db: str) -> str:
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "fixtures" / "proxy_status.sql").read_text())
    return rest_db


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/clients/1/2", 404, "PGRST125"),  # request parsing
        ("GET", "/clients?select=id,", 400, "PGRST100"),
        ("GET", "/no_such_table", 404, "PGRST205"),  # schema cache
        ("GET", "/clients?nope=eq.1", 400, "42703"),  # the database
        ("POST", "/kv", 409, "23505"),
        ("GET", "/rpc/payment_required", 402, "PT402"),  # a custom status from SQL
        ("HEAD", "/no_such_table", 404, "PGRST205"),
    ],
)
async def test_errors_carry_proxy_status(errors_db, client, method, path, status, code):
    body = b'{"k": "a"}' if method == "POST" else None
    r = await client.request(method, path, content=body)
    assert r.status_code == status
    assert r.headers["proxy-status"] == f"PostgREST; error={code}"
    if method != "HEAD":
        assert r.json()["code"] == code


async def test_custom_status_body_and_success_has_no_proxy_status(errors_db, client):
    r = await client.get("/rpc/payment_required")
    assert r.json() == {
        "code": "PT402",
        "details": "Quota exceeded",
        "hint": None,
        "message": "Payment Required",
    }
    ok = await client.get("/clients?id=eq.1")
    assert ok.status_code == 200 and "proxy-status" not in ok.headers


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        # similarity is 1 - edit distance / longer length, at least 75%
        ("clientx", "Perhaps you meant the table 'api.clients'"),  # 6/7
        ("clientsxx", "Perhaps you meant the table 'api.clients'"),  # 7/9
        ("CLIENT", "Perhaps you meant the table 'api.clients'"),  # case-insensitive, 6/7
        ("clienxx", None),  # 5/7, just under
        ("clixxxx", None),
    ],
)
async def test_table_not_found_hint_by_similarity(client, name, hint):
    r = await client.get(f"/{name}")
    assert r.status_code == 404
    assert r.json() == {
        "code": "PGRST205",
        "details": None,
        "hint": hint,
        "message": f"Could not find the table 'api.{name}' in the schema cache",
    }

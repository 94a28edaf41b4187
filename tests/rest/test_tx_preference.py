"""`Prefer: tx=` binds only when db-tx-end allows an override, whatever else the request says.

Regression: a property test once saw `DELETE /kv` with `Prefer: tx=rollback` (given twice,
next to a lenient `max-affected`) leave the table empty. The server was right: under the
default `db-tx-end=commit` PostgREST ignores `tx=` and does not list it in
`Preference-Applied`; the test assumed the rollback without looking at that header.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_write_failures import _ACCEPT, _JSON, _PATHS, _PREFER
from test_writes import rows

pytestmark = pytest.mark.anyio

PREFER = "resolution=ignore-duplicates, tx=rollback, max-affected=0, tx=rollback"
ACCEPT = "application/vnd.pgrst.array+json;nulls=stripped"
KV = "SELECT k, v, n FROM api.kv ORDER BY k"


async def test_tx_is_ignored_without_override_and_not_reported(client, rest_db):
    r = await client.request(
        "DELETE", "/kv", content=b"[]", headers={"Prefer": PREFER, "Accept": ACCEPT}
    )
    assert r.status_code == 204
    assert "preference-applied" not in r.headers
    assert rows(rest_db, KV) == []


@pytest.mark.parametrize("handling", ["", ", handling=lenient"])
async def test_repeated_tx_rollback_rolls_back_when_allowed(
    rest_config, make_client, rest_db, handling
):
    before = rows(rest_db, KV)
    async with make_client(rest_config.with_(db_tx_end="commit-allow-override")) as client:
        r = await client.request(
            "DELETE", "/kv", content=b"[]", headers={"Prefer": PREFER + handling, "Accept": ACCEPT}
        )
        assert r.status_code == 204
        assert "tx=rollback" in r.headers["preference-applied"].split(", ")
        # lenient handling: max-affected is not enforced, nor reported
        assert "max-affected" not in r.headers["preference-applied"]
    assert rows(rest_db, KV) == before


async def test_strict_max_affected_fails_and_rolls_back_under_commit(
    rest_config, make_client, rest_db
):
    before = rows(rest_db, KV)
    async with make_client(rest_config.with_(db_tx_end="commit-allow-override")) as client:
        r = await client.delete(
            "/kv", headers={"Prefer": "handling=strict, max-affected=1, tx=commit"}
        )
        assert r.status_code == 400 and r.json()["code"] == "PGRST124"
        ok = await client.delete(
            "/kv?k=eq.a", headers={"Prefer": "handling=strict, max-affected=1, tx=rollback"}
        )
        assert ok.status_code == 204
    assert rows(rest_db, KV) == before


@pytest.fixture
async def rollback_client(rest_config, make_client):
    async with make_client(rest_config.with_(db_tx_end="commit-allow-override")) as client:
        yield client


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE"]),
    path=_PATHS,
    body=_JSON.map(lambda v: json.dumps(v).encode()),
    prefer=_PREFER,
    accept=_ACCEPT,
)
async def test_an_applied_tx_rollback_never_changes_data(
    rollback_client, rest_db, method, path, body, prefer, accept
):
    """Whatever else a write asks for (strict or lenient max-affected, duplicates, singular
    media, plans, bad bodies), `tx=rollback` once applied leaves every table as it was."""
    before = rows(rest_db, KV)
    headers = {"Prefer": f"{prefer}, tx=rollback", "Accept": accept}
    r = await rollback_client.request(method, path, content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code < 400:
        assert "tx=rollback" in r.headers["preference-applied"].split(", ")
    assert rows(rest_db, KV) == before

"""`flux db` access through the control-plane API: the operator switch for read-write, TTL
bounds, listing, revocation, the expiry sweep and the catalog never holding passwords."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from flux.control.db_access import MAX_TTL, parse_ttl, sweep


def test_ttl_rules():
    assert parse_ttl(None, False) == timedelta(hours=1)
    assert parse_ttl(None, True) == timedelta(minutes=30)
    assert parse_ttl("90s", False) == timedelta(seconds=90)
    assert parse_ttl("8h", True) == MAX_TTL
    for bad in ("9h", "0s", "1w", "soon", "-1h"):
        with pytest.raises(Exception, match="ttl"):
            parse_ttl(bad, False)


def test_grant_list_revoke_and_sweep(api, control, embedded):
    state, catalog = embedded
    h = api.post("/create", json={"name": "dba"}).json()["project"]["hash"]
    refused = api.post(f"/projects/{h}/db/access", json={"readWrite": True})
    assert refused.status_code == 403 and "FLUX_DB_ACCESS_ALLOW_READWRITE" in refused.json()["hint"]
    assert api.post(f"/projects/{h}/db/access", json={"ttl": "9h"}).status_code == 422

    login = api.post(f"/projects/{h}/db/access", json={"ttl": "10m"}).json()
    assert login["access"] == "read-only" and login["url"].startswith("postgresql://")
    expires = datetime.fromisoformat(login["expiresAt"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    with psycopg.connect(state.shared_conninfo()) as conn:
        valid_until = conn.execute(
            "select rolvaliduntil from pg_roles where rolname = %s", (login["user"],)
        ).fetchone()[0]
        assert abs((valid_until - expires).total_seconds()) < 1
    with catalog.connection() as conn:
        audit_text = conn.execute(
            "select string_agg(details::text, ' ') as t from audit_log where action like 'db.%'"
        ).fetchone()["t"]
        assert login["password"] not in audit_text
        row = conn.execute("select * from db_access_roles where role_name = %s", (login["user"],))
        assert login["password"] not in str(row.fetchone())

    roles = api.get(f"/projects/{h}/db/access").json()["roles"]
    assert [(r["role"], r["status"]) for r in roles] == [(login["user"], "active")]
    assert api.delete(f"/projects/{h}/db/access/t_000000000000_acc_00000000").status_code == 404
    assert api.delete(f"/projects/{h}/db/access/{login['user']}").json() == {
        "revoked": login["user"]
    }
    assert api.get(f"/projects/{h}/db/access").json()["roles"][0]["status"] == "revoked"

    control.db_access_readwrite = True
    short = api.post(f"/projects/{h}/db/access", json={"readWrite": True, "ttl": "1s"}).json()
    assert short["access"] == "read-write"
    with catalog.transaction() as conn:  # as if its time had come
        conn.execute(
            "update db_access_roles set expires_at = now() - interval '1s' where role_name = %s",
            (short["user"],),
        )
    assert short["user"] in sweep(control)
    with psycopg.connect(state.shared_conninfo()) as conn:
        gone = conn.execute("select 1 from pg_roles where rolname = %s", (short["user"],))
        assert gone.fetchone() is None
    assert api.get(f"/projects/{h}/db/access").json()["roles"][0]["status"] == "expired"

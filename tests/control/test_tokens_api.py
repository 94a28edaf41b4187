"""Personal API tokens through the control-plane API (GET/POST /tokens, DELETE /tokens/{id}),
and the admin token `flux up` reuses (embedded.ensure_admin_token), on the real catalog."""

from __future__ import annotations

import uuid

import pytest

from flux.catalog import audit, tokens, users
from flux.embedded import ensure_admin_token

SHOWN = {"id", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_list_revoke_own_tokens(api, control):
    created = api.post("/tokens", json={"name": "  ci  "})
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("flx_live_") and body["name"] == "ci"
    assert body["prefix"] == token[:13] + "…" and body["revokedAt"] is None

    # the new token works at once, and is listed (with use recorded) without hash or plaintext
    assert api.get("/auth/verify", headers=_bearer(token)).status_code == 200
    listed = api.get("/tokens").json()["tokens"]
    assert all(set(row) == SHOWN for row in listed)
    assert token not in str(listed) and tokens.hash_token(token) not in str(listed)
    mine = next(row for row in listed if row["id"] == body["id"])
    assert mine["lastUsedAt"] is not None

    revoked = api.delete(f"/tokens/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert revoked.json()["revokedAt"] is not None
    # immediate: the very next call with it is refused
    assert api.get("/auth/verify", headers=_bearer(token)).status_code == 401
    again = api.delete(f"/tokens/{body['id']}")
    assert again.status_code == 409 and "already revoked" in again.json()["error"]

    with control.catalog.connection() as conn:
        actions = [(e["action"], e["target"]) for e in audit.entries(conn, limit=20)]
    target = f"token:{body['id']}"
    assert ("token.create", target) in actions and ("token.revoke", target) in actions


def test_a_user_sees_and_revokes_only_their_own(api, control):
    with control.catalog.transaction() as conn:
        other = users.create_user(conn, f"{uuid.uuid4().hex[:8]}@other", None)
        other_token, other_row = tokens.issue_token(conn, other.id, "theirs")
    assert other_row["id"] not in [row["id"] for row in api.get("/tokens").json()["tokens"]]
    refused = api.delete(f"/tokens/{other_row['id']}")
    assert refused.status_code == 404
    assert api.get("/auth/verify", headers=_bearer(other_token)).status_code == 200


@pytest.mark.parametrize("token_id", ["0", "-1", "abc", str(2**63), "1.5"])
def test_bad_token_ids_are_422(api, token_id):
    assert api.delete(f"/tokens/{token_id}").status_code == 422


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "line\nbreak", "x" * 101])
def test_bad_token_names_are_422(api, name):
    res = api.post("/tokens", json={"name": name})
    assert res.status_code == 422 and "name" in res.json()["error"]


def test_token_routes_need_a_token(api):
    assert api.get("/tokens", headers={"Authorization": ""}).status_code == 401
    assert (
        api.post("/tokens", json={"name": "x"}, headers=_bearer("flx_live_nope")).status_code == 401
    )


def test_ensure_admin_token_reuses_a_verifying_token_and_mints_otherwise(control):
    first, minted = ensure_admin_token(control.catalog, None)
    assert minted and first.startswith("flx_live_")
    assert ensure_admin_token(control.catalog, first) == (first, False)
    # a token that is not the admin's, or no longer valid, is replaced
    with control.catalog.transaction() as conn:
        someone = users.create_user(conn, f"{uuid.uuid4().hex[:8]}@else", None)
        foreign = tokens.create_token(conn, someone.id, "x")
    replaced, minted = ensure_admin_token(control.catalog, foreign)
    assert minted and replaced not in (first, foreign)
    with control.catalog.transaction() as conn:
        assert tokens.revoke_token(conn, replaced)
    fresh, minted = ensure_admin_token(control.catalog, replaced)
    assert minted and fresh != replaced

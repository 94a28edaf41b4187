"""JWT claims as PostgREST reads them: `aud` when jwt-aud is unset or the claim is an empty
array, tokens without a role claim (anonymous, so permission errors are 401), and an empty
`db-anon-role` meaning no anonymous access at all (PGRST302)."""

from __future__ import annotations

import time

import jwt
import pytest

from flux.rest.config import load_config

JWT_SECRET = "reallyreallyreallyreallyverysafe-secret-for-tests"  # as in conftest.rest_config

pytestmark = pytest.mark.anyio


def bearer(claims: dict) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")}


def user(**extra) -> dict:
    return {"role": "web_user", "exp": int(time.time()) + 60, **extra}


def env_config(authenticator_dsn: str, **env: str):
    base = {
        "PGRST_DB_URI": authenticator_dsn,
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_JWT_SECRET": JWT_SECRET,
        "PGRST_JWT_AUD": "",
    }
    config, _ = load_config(environ={**base, **env})
    return config


@pytest.mark.parametrize("aud", ["somebody", ["a", "b"], []])
async def test_aud_is_not_checked_when_jwt_aud_is_empty(make_client, authenticator_dsn, aud):
    config = env_config(authenticator_dsn)
    assert config.jwt_aud is None
    async with make_client(config) as client:
        r = await client.get("/users?select=id&id=eq.1", headers=bearer(user(aud=aud)))
        assert r.status_code == 200 and r.json() == [{"id": 1}]


async def test_empty_aud_array_passes_a_configured_audience(rest_config, make_client):
    async with make_client(rest_config.with_(jwt_aud="flux-app")) as client:
        ok = await client.get("/users?select=id&id=eq.2", headers=bearer(user(aud=[])))
        assert ok.status_code == 200 and ok.json() == [{"id": 2}]
        inside = await client.get("/users?id=eq.2", headers=bearer(user(aud=["x", "flux-app"])))
        assert inside.status_code == 200
        other = await client.get("/users", headers=bearer(user(aud=["x"])))
        assert other.status_code == 401 and other.json()["code"] == "PGRST303"
        assert other.json()["message"] == "JWT not in audience"
        mixed = await client.get("/users", headers=bearer(user(aud=["flux-app", 1])))
        assert mixed.status_code == 401 and mixed.json()["code"] == "PGRST303"


@pytest.mark.parametrize("claims", [{}, {"sub": "alice"}, {"role": "web_anon"}])
async def test_a_token_acting_as_the_anonymous_role_gets_401(client, claims):
    r = await client.get("/private_notes", headers=bearer(claims))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "42501"
    # an authenticated role lacking the privilege is forbidden, not unauthorised
    r = await client.post("/users", json={"id": 9, "name": "x"}, headers=bearer(user()))
    assert r.status_code == 403


async def test_empty_anon_role_disables_anonymous_access(make_client, authenticator_dsn):
    config = env_config(authenticator_dsn, PGRST_DB_ANON_ROLE="")
    assert config.db_anon_role is None
    async with make_client(config) as client:
        r = await client.get("/users")
        assert r.status_code == 401
        assert r.json() == {
            "code": "PGRST302",
            "details": None,
            "hint": None,
            "message": "Anonymous access is disabled",
        }
        assert r.headers["www-authenticate"] == "Bearer"
        assert (await client.get("/users?id=eq.1", headers=bearer(user()))).status_code == 200
        # a token without a role claim has no role to fall back on either
        r = await client.get("/users", headers=bearer({"sub": "alice"}))
        assert r.status_code == 401 and r.json()["code"] == "PGRST302"

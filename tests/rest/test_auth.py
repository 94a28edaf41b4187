"""JWT auth, RLS with request.jwt.claims, pre-request, response GUCs, tx, pool mode, config."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from pool_tenants import make_pool_tenant

from flux.rest.auth import claim_at, parse_claim_path
from flux.rest.config import load_config
from flux.rest.tenant_login import tenant_conninfo

POOL_SECRET = "pool-secret-pool-secret-pool-secret!"

pytestmark = pytest.mark.anyio

JWT_SECRET = "reallyreallyreallyreallyverysafe-secret-for-tests"  # as in conftest.rest_config


def make_token(claims: dict, secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_rls_uses_jwt_claims(client):
    token = make_token({"role": "web_user", "sub": "alice", "exp": int(time.time()) + 60})
    r = await client.get(
        "/documents?select=id,title&order=id", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    assert r.json() == [{"id": 1, "title": "Alice doc"}, {"id": 3, "title": "Alice second"}]


async def test_anonymous_permission_denied_is_401(client):
    r = await client.get("/documents")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "code": "42501",
        "details": None,
        "hint": None,
        "message": "permission denied for table documents",
    }


def minted(claims: dict, secret: str = JWT_SECRET) -> dict:
    """Claims with `exp`/`nbf`/`iat` given relative to now; the token is minted when the test
    runs (a token minted at collection time could become valid before a long suite reaches it)."""
    return {"claims": claims, "secret": secret}


def mint(spec: dict | str) -> str:
    if isinstance(spec, str):
        return spec
    now = int(time.time())
    claims = {
        key: now + value if key in ("exp", "nbf", "iat") and isinstance(value, int) else value
        for key, value in spec["claims"].items()
    }
    return make_token(claims, spec["secret"])


@pytest.mark.parametrize(
    ("token", "status", "code", "message"),
    [
        ("", 401, "PGRST301", "Empty JWT is sent in Authorization header"),
        ("a.b", 401, "PGRST301", "Expected 3 parts in JWT; got 2"),
        (
            minted({"role": "web_user"}, secret="wrong-secret-wrong-secret-wrong-secret"),
            401,
            "PGRST301",
            "JWT cryptographic operation failed",
        ),
        (minted({"role": "web_user", "exp": -100}), 401, "PGRST303", "JWT expired"),
        (minted({"role": "web_user", "nbf": 100}), 401, "PGRST303", "JWT not yet valid"),
        (minted({"role": "web_user", "iat": 100}), 401, "PGRST303", "JWT issued at future"),
        (
            minted({"role": "web_user", "exp": "soon"}),
            401,
            "PGRST303",
            "The JWT 'exp' claim must be a number",
        ),
    ],
)
async def test_jwt_errors(client, token, status, code, message):
    r = await client.get("/clients", headers={"Authorization": f"Bearer {mint(token)}"})
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (status, code, message)
    assert r.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{message}"'
    )


async def test_leeway_and_missing_role_uses_anon(client):
    token = make_token({"exp": int(time.time()) - 10})  # within the 30 s skew allowance
    r = await client.get("/clients?select=id&id=eq.1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_unknown_role_is_401(client):
    r = await client.get(
        "/clients", headers={"Authorization": f"Bearer {make_token({'role': 'ghost'})}"}
    )
    assert r.status_code == 401
    assert r.json()["message"] == 'role "ghost" does not exist'


async def test_audience_role_claim_key_and_anon_disabled(rest_config, make_client):
    config = rest_config.with_(
        jwt_aud="my-app", jwt_role_claim_key=".realm_access.roles[1]", db_anon_role=None
    )
    async with make_client(config) as client:
        r = await client.get("/clients")
        assert (r.status_code, r.json()["code"], r.headers["www-authenticate"]) == (
            401,
            "PGRST302",
            "Bearer",
        )
        good = make_token({"aud": "my-app", "realm_access": {"roles": ["x", "web_user"]}})
        r = await client.get("/clients?id=eq.1", headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 200
        bad = make_token({"aud": ["other"], "realm_access": {"roles": ["x", "web_user"]}})
        r = await client.get("/clients", headers={"Authorization": f"Bearer {bad}"})
        assert (r.status_code, r.json()["message"]) == (401, "JWT not in audience")


async def test_jwks_secret_with_rs256(rest_config, make_client):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1"}
    import json

    config = rest_config.with_(jwt_secret=json.dumps({"keys": [jwk]}))
    async with make_client(config) as client:
        token = jwt.encode(
            {"role": "web_user", "sub": "bob"}, key, algorithm="RS256", headers={"kid": "k1"}
        )
        r = await client.get(
            "/documents?select=title", headers={"Authorization": f"Bearer {token}"}
        )
        assert (r.status_code, r.json()) == (200, [{"title": "Bob doc"}])
        hs = make_token({"role": "web_user"})
        r = await client.get("/documents", headers={"Authorization": f"Bearer {hs}"})
        assert (r.status_code, r.json()["message"]) == (401, "No suitable key or wrong key type")


def test_claim_paths():
    assert parse_claim_path(".role") == ("role",)
    assert parse_claim_path(".realm_access.roles[0]") == ("realm_access", "roles", 0)
    assert parse_claim_path('."https://x.com/role"') == ("https://x.com/role",)
    assert claim_at({"a": {"b": [1, 2]}}, ("a", "b", 1)) == 2
    assert claim_at({"a": 1}, ("a", "b")) is None


async def test_pre_request_gucs_and_request_settings(rest_config, make_client):
    async with make_client(rest_config.with_(db_pre_request="api.check_request")) as client:
        r = await client.get("/clients", headers={"X-Block": "yes"})
        assert r.status_code == 403
        assert r.json() == {
            "code": "PT403",
            "details": None,
            "hint": "no",
            "message": "blocked by pre-request",
        }
        r = await client.get("/clients?id=eq.1", headers={"X-Set-Header": "yes"})
        assert (r.status_code, r.headers["x-from-db"]) == (200, "hello")
        r = await client.get("/clients?id=eq.1", headers={"X-Set-Status": "yes"})
        assert r.status_code == 203


async def test_transaction_settings_are_local(client, rest_db):
    import psycopg

    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            "CREATE VIEW api.whoami AS SELECT current_user AS usr, "
            "current_setting('request.method', true) AS method, "
            "current_setting('request.path', true) AS path, "
            "current_setting('request.headers', true)::json->>'x-thing' AS thing, "
            "current_setting('request.cookies', true)::json->>'c' AS cookie, "
            "current_setting('search_path') AS sp, "
            "current_setting('transaction_read_only') AS ro; "
            "GRANT SELECT ON api.whoami TO web_anon"
        )
    await client.app.state.engine.cache.reload_now("api")
    r = await client.get("/whoami", headers={"X-Thing": "t", "Cookie": "c=v; d=w"})
    assert r.json() == [
        {
            "usr": "web_anon",
            "method": "GET",
            "path": "/whoami",
            "thing": "t",
            "cookie": "v",
            "sp": '"api", "public"',
            "ro": "on",
        }
    ]


async def test_tx_preference(rest_config, make_client):
    config = rest_config.with_(db_tx_end="rollback-allow-override")
    async with make_client(config) as client:
        r = await client.get("/clients?id=eq.1", headers={"Prefer": "tx=commit"})
        assert r.headers["preference-applied"] == "tx=commit"
        r = await client.get("/clients?id=eq.1", headers={"Prefer": "handling=strict, bogus"})
        assert r.status_code == 400
        assert r.json() == {
            "code": "PGRST122",
            "details": "Invalid preferences: bogus",
            "hint": None,
            "message": "Invalid preferences given with handling=strict",
        }


def _bridge(shortid: str, tenant: uuid.UUID, **extra) -> str:
    claims = {
        "role": f"t_{shortid}_role",
        "tenant_id": str(tenant),
        "aud": "flux-pool",
        "exp": int(time.time()) + 60,
    } | extra
    return jwt.encode(claims, POOL_SECRET, algorithm="HS256")


async def test_pool_mode(rest_db, authenticator_dsn, rest_config, make_client):
    import psycopg

    tenant = uuid.uuid4()
    short = tenant.hex[:12]
    make_pool_tenant(rest_db, short, POOL_SECRET)
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE t_{short}_api.notes (id int, body text);"
            f"INSERT INTO t_{short}_api.notes VALUES (1, 'hi');"
            f"GRANT SELECT ON t_{short}_api.notes TO t_{short}_role"
        )
    config = rest_config.with_(pool_mode=True, pool_jwt_secret=POOL_SECRET, db_schemas=())
    async with make_client(config) as client:
        auth = {"Authorization": f"Bearer {_bridge(short, tenant)}"}
        r = await client.get("/notes", headers=auth)
        assert (r.status_code, r.json()) == (200, [{"id": 1, "body": "hi"}])
        r = await client.get("/clients", headers=auth)  # other schemas are invisible
        assert r.status_code == 404
        r = await client.get("/notes", headers=auth | {"Accept-Profile": "api"})
        assert (r.status_code, r.json()["code"]) == (406, "PGRST106")
        other = uuid.uuid4()
        for token in (
            _bridge(short, other),
            _bridge(short, tenant, aud="x"),
            _bridge(short, tenant, exp=int(time.time()) - 100),
            jwt.encode(
                {
                    "role": f"t_{short}_role",
                    "tenant_id": str(tenant),
                    "aud": "flux-pool",
                    "exp": int(time.time()) + 60,
                },
                JWT_SECRET,
                algorithm="HS256",
            ),
        ):
            r = await client.get("/notes", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text
        r = await client.get("/notes")
        assert r.status_code == 401


def test_config_from_env_and_file(tmp_path):
    path = tmp_path / "rest.conf"
    path.write_text(
        'db-uri = "postgres://file"\ndb-schemas = "api, other"\n'
        "db-max-rows = 50\nserver-timing-enabled = true\nmystery-key = 1\n"
    )
    config, unknown = load_config(
        path,
        {
            "PGRST_DB_URI": "postgres://env",
            "PGRST_DB_ANON_ROLE": "anon",
            "PGRST_NOPE": "x",
            "PGRST_APP_SETTINGS_JWT_EXP": "3600",
            "FLUX_POOL_JWT_SECRET": "s",
            "HOME": "/root",
        },
    )
    assert config.db_uri == "postgres://env" and config.db_schemas == ("api", "other")
    assert config.db_max_rows == 50 and config.server_timing_enabled is True
    assert config.db_anon_role == "anon" and config.pool_jwt_secret == "s"
    assert config.app_settings == {"jwt_exp": "3600"}
    assert unknown == ["mystery-key", "nope"]


class FixedClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def test_verified_tokens_are_cached_and_time_claims_rechecked():
    from flux.rest.auth import Authenticator
    from flux.rest.errors import ApiError

    clock = FixedClock()
    auth = Authenticator(JWT_SECRET, anon_role="web_anon", clock=clock)
    token = make_token({"role": "web_user", "sub": "ä", "exp": int(clock.now) + 60})
    first = auth.authenticate(f"Bearer {token}")
    assert (first.role, first.claims_json) == (
        "web_user",
        '{"role":"web_user","sub":"ä","exp":' + str(int(clock.now) + 60) + "}",
    )
    assert auth.authenticate(f"Bearer {token}") is first  # served from the cache
    clock.now += 60 + 30  # past exp and the skew allowance: the cached entry is refused too
    with pytest.raises(ApiError) as err:
        auth.authenticate(f"Bearer {token}")
    assert (err.value.code, err.value.message) == ("PGRST303", "JWT expired")

    early = make_token({"role": "web_user", "nbf": int(clock.now) + 100})
    with pytest.raises(ApiError):
        auth.authenticate(f"Bearer {early}")  # refused tokens are not remembered
    clock.now += 100
    assert auth.authenticate(f"Bearer {early}").role == "web_user"


def test_verified_tokens_do_not_survive_a_secret_change():
    from flux.rest.auth import Authenticator
    from flux.rest.errors import ApiError

    token = make_token({"role": "web_user"})
    assert Authenticator(JWT_SECRET).authenticate(f"Bearer {token}").role == "web_user"
    with pytest.raises(ApiError) as err:
        Authenticator("another-secret-another-secret-another!").authenticate(f"Bearer {token}")
    assert err.value.code == "PGRST301"


def test_pool_bridge_tokens_are_cached_and_expire():
    from flux.rest.auth import PoolAuthenticator
    from flux.rest.errors import ApiError

    clock = FixedClock()
    auth = PoolAuthenticator(POOL_SECRET, clock=clock)
    tenant = uuid.uuid4()
    token = _bridge(tenant.hex[:12], tenant, exp=int(clock.now) + 60)
    first = auth.authenticate(f"Bearer {token}")
    assert first.schema == f"t_{tenant.hex[:12]}_api"
    assert auth.authenticate(f"Bearer {token}") is first
    clock.now += 91
    with pytest.raises(ApiError) as err:
        auth.authenticate(f"Bearer {token}")
    assert err.value.message == "JWT expired"


def test_lru_is_bounded():
    from flux.rest.lru import LRU

    lru: LRU[int, str] = LRU(2)
    lru.put(1, "a")
    lru.put(2, "b")
    assert lru.get(1) == "a"  # 1 is now the most recent
    lru.put(3, "c")
    assert (len(lru), lru.get(2), lru.get(1), lru.get(3)) == (2, None, "a", "c")


def _schema_loads(engine) -> float:
    import re

    text = engine.metrics.render().decode()
    return float(re.search(r"^flux_rest_schema_cache_loads_total (\S+)$", text, re.M).group(1))


async def test_pool_mode_reloads_only_on_a_trusted_notify(
    rest_db, authenticator_dsn, rest_config, make_client
):
    """A tenant's own NOTIFY pgrst (from its own session or from its function run through our
    pool) is ignored in pool mode; the superuser's reloads the cache."""
    import asyncio

    import psycopg

    tenant = uuid.uuid4()
    short = tenant.hex[:12]
    make_pool_tenant(rest_db, short, POOL_SECRET)
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE t_{short}_api.notes (id int);"
            f"GRANT SELECT ON t_{short}_api.notes TO t_{short}_role;"
            f"CREATE FUNCTION t_{short}_api.poke() RETURNS void LANGUAGE sql VOLATILE "
            "AS $$ SELECT pg_notify('pgrst', 'reload schema') $$;"
            f"GRANT EXECUTE ON FUNCTION t_{short}_api.poke() TO t_{short}_role"
        )
    config = rest_config.with_(pool_mode=True, pool_jwt_secret=POOL_SECRET, db_schemas=())
    async with make_client(config) as client:
        engine = client.app.state.engine
        auth = {"Authorization": f"Bearer {_bridge(short, tenant)}"}
        assert (await client.get("/notes", headers=auth)).status_code == 200
        await asyncio.sleep(0.3)  # the listener is connected
        before = _schema_loads(engine)
        assert (await client.post("/rpc/poke", headers=auth)).status_code == 204
        own_login = tenant_conninfo(rest_db, POOL_SECRET, f"t_{short}_role")
        with psycopg.connect(own_login, autocommit=True) as conn:  # the tenant's own session
            conn.execute("NOTIFY pgrst, 'reload schema'")
        # the sender is verified in pg_stat_activity, so its session must still be there
        with psycopg.connect(rest_db, autocommit=True) as conn:
            conn.execute("NOTIFY pgrst, 'reload schema'")
            deadline = time.monotonic() + 5
            while _schema_loads(engine) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a reload wrongly started by the tenant would land by now
        assert _schema_loads(engine) == before + 1


def _raw_token(payload: bytes) -> str:
    """A correctly signed token around raw payload bytes (JSON a client library would not write)."""
    return jwt.api_jws.encode(payload, JWT_SECRET.encode(), algorithm="HS256")


_ROLE = b'"role":"web_user"'


# Malformed claims: PostgREST's PGRST303 on every use, never a 500 (a cached or serialised
# claims set must not be able to fail later: NaN never expires, a lone surrogate cannot be
# sent to PostgreSQL, nesting recurses).
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: make_token({"exp": str(int(time.time()) + 3600)}), "'exp' claim must be a number"),
        (lambda: make_token({"exp": True}), "The JWT 'exp' claim must be a number"),
        (lambda: make_token({"nbf": {"a": 1}}), "The JWT 'nbf' claim must be a number"),
        (lambda: make_token({"iat": [1]}), "The JWT 'iat' claim must be a number"),
        (
            lambda: _raw_token(b'{"exp":null,' + _ROLE + b"}"),
            "The JWT 'exp' claim must be a number",
        ),
        (lambda: _raw_token(b'{"exp":NaN,' + _ROLE + b"}"), "Parsing claims failed"),
        (lambda: _raw_token(b'{"exp":1e999,' + _ROLE + b"}"), "Parsing claims failed"),
        (lambda: _raw_token(b'{"x":"\\udc00",' + _ROLE + b"}"), "Parsing claims failed"),
        (
            lambda: _raw_token(b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"," + _ROLE + b"}"),
            "Parsing claims failed",
        ),
        (lambda: _raw_token(b'{"x":' + b"{}" * 3 + b"}"), "Parsing claims failed"),
        (lambda: _raw_token(b"\xc3\x28"), "Parsing claims failed"),
    ],
)
async def test_malformed_claims_are_401_on_every_use(client, make, message):
    token = make()
    for _ in range(2):
        r = await client.get("/clients", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        body = r.json()
        assert (body["code"], body["details"], body["hint"]) == ("PGRST303", None, None)
        assert body["message"].endswith(message)


async def test_fractional_and_huge_numeric_dates(client):
    now = int(time.time())
    for claims in (
        {"role": "web_user", "exp": now + 60.5, "iat": now - 0.5},
        {"role": "web_user", "exp": 10**30, "nbf": -(10**30)},
    ):
        token = make_token(claims)
        for _ in range(2):
            r = await client.get("/clients?id=eq.1", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text


async def test_pool_mode_refused_tenant_login_is_not_an_outage(rest_db, rest_config, make_client):
    """A tenant whose login the server refuses gets its own 503; the others keep working."""
    import psycopg

    good, bad = uuid.uuid4(), uuid.uuid4()
    make_pool_tenant(rest_db, good.hex[:12], POOL_SECRET)
    make_pool_tenant(rest_db, bad.hex[:12], "a-different-pool-secret-than-the-servers")
    with psycopg.connect(rest_db, autocommit=True) as conn:
        for tenant in (good, bad):
            s = tenant.hex[:12]
            conn.execute(
                f"CREATE TABLE t_{s}_api.notes (id int); GRANT SELECT ON t_{s}_api.notes TO t_{s}_role"
            )
    config = rest_config.with_(pool_mode=True, pool_jwt_secret=POOL_SECRET, db_schemas=())
    async with make_client(config) as client:
        refused = await client.get(
            "/notes", headers={"Authorization": f"Bearer {_bridge(bad.hex[:12], bad)}"}
        )
        assert (refused.status_code, refused.json()["code"]) == (503, "PGRST001")
        assert refused.headers["retry-after"] == "1"
        served = await client.get(
            "/notes", headers={"Authorization": f"Bearer {_bridge(good.hex[:12], good)}"}
        )
        assert served.status_code == 200, served.text

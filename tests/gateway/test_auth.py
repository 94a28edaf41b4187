"""Project-JWT verification (SPEC §8) and bridge-token minting."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from flux.gateway.auth import TokenVerifier, bearer_token, verify_project_jwt
from flux.gateway.bridge import (
    BRIDGE_AUDIENCE,
    BridgeMinter,
    bridge_claims,
    mint_bridge_token,
    sign_hs256,
)
from flux.gateway.rejections import Reject

SECRET = "s" * 64
OTHER = "o" * 64
TENANT = "3f2a9c1e-77aa-4b0d-9e11-5c7d8e9f0a1b"
ROLE = "t_3f2a9c1e77aa_role"


def _token(secret: str = SECRET, algorithm: str = "HS256", **claims: object) -> str:
    payload: dict[str, object] = {"sub": "u1", "exp": int(time.time()) + 60}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def _verify(header: str | None) -> dict | Reject:
    return verify_project_jwt(header, secret=SECRET, tenant_role=ROLE)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("role", [None, "authenticated", ROLE])
def test_accepted_roles(role: str | None) -> None:
    claims = _verify("Bearer " + _token(role=role, email="a@b.c"))
    assert isinstance(claims, dict)
    assert claims["sub"] == "u1" and claims["email"] == "a@b.c"


def _reason(header: str | None) -> str:
    result = _verify(header)
    assert isinstance(result, Reject), result
    assert result.status == 401
    assert result.error == "authorization required"
    assert result.headers == {"WWW-Authenticate": "Bearer"}
    return result.reason


def _now_plus(seconds: int) -> int:
    return int(time.time()) + seconds


# Each case builds its header when the test runs (tokens with times must not age in collection).
@pytest.mark.parametrize(
    ("make_header", "reason"),
    [
        (lambda: None, "missing_token"),
        (lambda: "Bearer", "missing_token"),
        (lambda: "Basic dXNlcjpwYXNz", "missing_token"),
        (lambda: "Bearer not-a-jwt", "invalid_token"),
        (lambda: "Bearer " + _token(OTHER), "bad_signature"),
        (lambda: "Bearer " + _token(exp=None), "invalid_token"),
        (lambda: "Bearer " + _token(exp="tomorrow"), "invalid_token"),
        (lambda: "Bearer " + _token(exp=_now_plus(-31)), "token_expired"),
        (lambda: "Bearer " + _token(nbf=_now_plus(120)), "token_not_yet_valid"),
        (lambda: "Bearer " + _token(iat=_now_plus(120)), "token_not_yet_valid"),
        (lambda: "Bearer " + _token(algorithm="HS512"), "invalid_token"),
        (lambda: "Bearer " + _token(role="anon"), "foreign_role"),
        (lambda: "Bearer " + _token(role="service_role"), "foreign_role"),
        (lambda: "Bearer " + _token(role="postgres"), "foreign_role"),
        (lambda: "Bearer " + _token(role="t_000000000000_role"), "foreign_role"),
        (lambda: "Bearer " + _token(role=["authenticated"]), "foreign_role"),
        (
            lambda: "Bearer " + jwt.encode({"exp": _now_plus(60)}, None, algorithm="none"),
            "invalid_token",
        ),
    ],
)
def test_rejections(make_header, reason: str) -> None:
    assert _reason(make_header()) == reason


def test_leeway_accepts_recent_expiry_and_slight_skew() -> None:
    assert isinstance(_verify("Bearer " + _token(exp=_now_plus(-5))), dict)
    assert isinstance(_verify("Bearer " + _token(nbf=_now_plus(10), iat=_now_plus(10))), dict)


def test_forged_bridge_token_is_not_a_project_token() -> None:
    pool_secret = "p" * 40
    forged = mint_bridge_token({"sub": "x"}, tenant_id=TENANT, pool_secret=pool_secret)
    assert _reason("Bearer " + forged) == "bad_signature"


def test_bridge_claims() -> None:
    inbound = {
        "sub": "u1",
        "role": "authenticated",
        "email": "a@b.c",
        "tenant_id": "evil",
        "aud": "authenticated",
        "exp": 1,
        "app_metadata": {"org": 7},
    }
    claims = bridge_claims(inbound, tenant_id=TENANT, now=1000)
    assert claims == {
        "sub": "u1",
        "email": "a@b.c",
        "app_metadata": {"org": 7},
        "role": ROLE,
        "tenant_id": TENANT,
        "exp": 1060,
        "aud": BRIDGE_AUDIENCE,
    }


def test_bridge_token_signed_with_pool_secret() -> None:
    pool_secret = "p" * 40
    token = mint_bridge_token(
        {"sub": "u1", "role": "authenticated"}, tenant_id=TENANT, pool_secret=pool_secret
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, pool_secret, algorithms=["HS256"], audience=BRIDGE_AUDIENCE)
    assert claims["role"] == ROLE and claims["tenant_id"] == TENANT and claims["sub"] == "u1"
    assert 55 <= claims["exp"] - time.time() <= 61
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience=BRIDGE_AUDIENCE)
    assert str(uuid.UUID(claims["tenant_id"])) == TENANT


def test_sign_hs256_matches_pyjwt() -> None:
    payload = {"sub": "ü", "n": 1, "nested": {"a": [1, 2]}}
    token = sign_hs256(payload, SECRET)
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == payload
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_token_verifier_remembers_signatures_not_decisions() -> None:
    verifier = TokenVerifier(max_entries=2)
    time.sleep(1.02 - time.time() % 1)  # start of a second: the checks below share it
    short = _token(exp=int(time.time()) - 29)  # inside the leeway until this second ends
    for _ in range(2):
        assert isinstance(verifier.verify("Bearer " + short, secret=SECRET, tenant_role=ROLE), dict)
    time.sleep(1.1)
    rejected = verifier.verify("Bearer " + short, secret=SECRET, tenant_role=ROLE)
    assert isinstance(rejected, Reject) and rejected.reason == "token_expired"

    token = _token(role=ROLE)
    assert isinstance(verifier.verify("Bearer " + token, secret=SECRET, tenant_role=ROLE), dict)
    other_tenant = verifier.verify("Bearer " + token, secret=SECRET, tenant_role="t_x_role")
    assert isinstance(other_tenant, Reject) and other_tenant.reason == "foreign_role"
    rotated = verifier.verify("Bearer " + token, secret=OTHER, tenant_role=ROLE)
    assert isinstance(rotated, Reject) and rotated.reason == "bad_signature"
    for i in range(5):  # bounded
        verifier.verify("Bearer " + _token(n=i), secret=SECRET, tenant_role=ROLE)
    assert len(verifier._verified) == 2


def test_bridge_minter_reuses_a_token_only_within_its_second() -> None:
    minter = BridgeMinter("p" * 64)
    claims = {"sub": "u1", "role": "authenticated"}
    first = minter.mint("Bearer a", claims, tenant_id=TENANT)
    assert minter.mint("Bearer a", claims, tenant_id=TENANT) in (
        first,
        minter.mint("Bearer a", claims, tenant_id=TENANT),  # the second may have turned
    )
    other = "9f2a9c1e-77aa-4b0d-9e11-5c7d8e9f0a1b"
    assert (
        jwt.decode(
            minter.mint("Bearer a", claims, tenant_id=other),
            "p" * 64,
            algorithms=["HS256"],
            audience=BRIDGE_AUDIENCE,
        )["tenant_id"]
        == other
    )
    time.sleep(1.05)
    later = jwt.decode(
        minter.mint("Bearer a", claims, tenant_id=TENANT),
        "p" * 64,
        algorithms=["HS256"],
        audience=BRIDGE_AUDIENCE,
    )
    assert (
        later["exp"]
        > jwt.decode(first, "p" * 64, algorithms=["HS256"], audience=BRIDGE_AUDIENCE)["exp"]
    )


def _signed(payload: bytes) -> str:
    """A correctly signed token around raw payload bytes (JSON a client library would not write)."""
    return jwt.api_jws.encode(payload, SECRET, algorithm="HS256")


_EXP = b'"exp":' + str(_now_plus(3600)).encode()


# Claims of the wrong type or shape: refused the same way on first sight and on every reuse
# (PyJWT alone coerces a numeric string `exp`, and the verifier's cache then compared a str).
@pytest.mark.parametrize(
    "make_token",
    [
        lambda: _token(exp=str(_now_plus(3600))),
        lambda: _token(exp=True),
        lambda: _token(exp={"at": _now_plus(3600)}),
        lambda: _token(exp=[_now_plus(3600)]),
        lambda: _signed(b'{"exp":null}'),
        lambda: _token(nbf=str(_now_plus(-10))),
        lambda: _token(nbf=False),
        lambda: _token(iat="1700000000"),
        lambda: _token(iat={"a": 1}),
        lambda: _signed(b'{"iat":null,' + _EXP + b"}"),
        lambda: _signed(b'{"exp":NaN}'),
        lambda: _signed(b'{"exp":Infinity}'),
        lambda: _signed(b'{"exp":1e999}'),
        lambda: _signed(b'{"x":-Infinity,' + _EXP + b"}"),
        lambda: _signed(b'{"x":"\\ud800",' + _EXP + b"}"),  # lone surrogate
        lambda: _signed(b'{"x":' + b"[" * 65 + b"]" * 65 + b"," + _EXP + b"}"),
        lambda: _signed(b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"," + _EXP + b"}"),
        lambda: _signed(b"[1]"),
        lambda: _signed(b"\xff\xfe"),
    ],
)
def test_malformed_claims_are_refused_on_every_use(make_token) -> None:
    verifier = TokenVerifier()
    header = "Bearer " + make_token()
    for _ in range(2):
        result = verifier.verify(header, secret=SECRET, tenant_role=ROLE)
        assert isinstance(result, Reject) and result.status == 401, result
        assert result.reason == "invalid_token"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": _now_plus(3600) + 0.5}, None),  # NumericDate may be fractional
        ({"exp": _now_plus(3600), "iat": _now_plus(-5) + 0.25}, None),
        ({"exp": 10**30}, None),  # far future, compared exactly (no float overflow)
        ({"exp": _now_plus(3600), "iat": -(10**30)}, None),
        ({"exp": -(10**30)}, "token_expired"),
        ({"exp": _now_plus(3600), "nbf": 10**30}, "token_not_yet_valid"),
        ({"exp": _now_plus(3600), "iat": 10**300}, "token_not_yet_valid"),
    ],
)
def test_numeric_dates_of_any_size_compare_the_same_on_reuse(claims, reason) -> None:
    verifier = TokenVerifier()
    header = "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")
    for _ in range(2):
        result = verifier.verify(header, secret=SECRET, tenant_role=ROLE)
        if reason is None:
            assert isinstance(result, dict) and result["exp"] == claims["exp"]
        else:
            assert isinstance(result, Reject) and result.reason == reason

"""TTL and claim parsing and local HS256 minting (verified with PyJWT)."""

from __future__ import annotations

import jwt
import pytest

from flux.cli.tokens import mint_project_token, parse_claims, parse_ttl
from flux.errors import FluxError

SECRET = "a-project-secret-of-at-least-32-bytes!!"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("90", 90),
        (" 10M ", 600),
    ],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "5w", "-5m", "m", "1.5h", "5 m", "abc"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(FluxError) as err:
        parse_ttl(text)
    assert err.value.code == "bad_ttl" and "30s" in (err.value.hint or "")


def test_parse_claims_json_values_else_strings() -> None:
    claims = parse_claims(
        [
            "admin=true",
            "n=5",
            "name=bob",
            'tags=["a","b"]',
            "eq=a=b",
            'obj={"k": 1}',
            "empty=",
            'quoted="x"',
        ]
    )
    assert claims == {
        "admin": True,
        "n": 5,
        "name": "bob",
        "tags": ["a", "b"],
        "eq": "a=b",
        "obj": {"k": 1},
        "empty": "",
        "quoted": "x",
    }


@pytest.mark.parametrize("pair", ["novalue", "=x", " =x"])
def test_parse_claims_rejects(pair: str) -> None:
    with pytest.raises(FluxError) as err:
        parse_claims([pair])
    assert err.value.code == "bad_claim"


def test_mint_verifies_with_the_secret() -> None:
    token = mint_project_token(
        SECRET, sub="user-1", ttl_seconds=120, extra_claims={"tier": "gold"}, now=1_700_000_000
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "sub": "user-1",
        "role": "authenticated",
        "iat": 1_700_000_000,
        "exp": 1_700_000_120,
        "tier": "gold",
    }
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            "another-secret-of-at-least-32-bytes!",
            algorithms=["HS256"],
            options={"verify_exp": False},
        )


def test_minted_token_is_currently_valid() -> None:
    claims = jwt.decode(mint_project_token(SECRET), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "flux-cli" and claims["exp"] - claims["iat"] == 300

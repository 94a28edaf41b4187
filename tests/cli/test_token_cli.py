"""`flux token list|create|revoke` against the HTTP double of the control plane, and how a
token is picked by id or prefix."""

from __future__ import annotations

import json

import pytest

from flux.cli.commands.token import pick_token
from flux.errors import FluxError

from .conftest import FakeControlPlane, Flux

ROWS = [
    {"id": 1, "name": "laptop", "prefix": "flx_live_AbCd…"},
    {"id": 2, "name": "ci", "prefix": "flx_live_AbXy…"},
    {"id": 12, "name": "bot", "prefix": "flx_live_Zz00…"},
]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("1", 1),
        ("12", 12),
        ("flx_live_AbCd", 1),
        ("flx_live_AbCd…", 1),
        ("flx_live_AbX", 2),
        ("flx_live_Zz00...", 12),
    ],
)
def test_pick_token_by_id_or_prefix(ref: str, expected: int) -> None:
    assert pick_token(ROWS, ref)["id"] == expected


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("flx_live_Ab", "ambiguous_token"),
        ("3", "unknown_token"),
        ("flx_live_AbCdEFGHIJ", "unknown_token"),  # longer than a preview: never a guess
        ("", "unknown_token"),
    ],
)
def test_pick_token_refuses_ambiguous_or_unknown(ref: str, code: str) -> None:
    with pytest.raises(FluxError) as err:
        pick_token(ROWS, ref)
    assert err.value.code == code


def test_create_list_revoke(flux: Flux, logged_in: FakeControlPlane) -> None:
    created = flux("token", "create", "ci")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("flx_live_") and "\n" not in token
    assert "shown once" in created.stderr

    listed = flux("token", "list", "--json")
    rows = json.loads(listed.stdout)["tokens"]
    assert [(r["id"], r["name"], r["prefix"]) for r in rows] == [(1, "ci", token[:13] + "…")]
    assert token not in listed.stdout
    table = flux("token", "list")
    assert "ci" in table.stdout and token[:13] in table.stdout and token not in table.stdout

    revoked = flux("token", "revoke", token[:13])
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked token 1 (ci" in revoked.stdout
    assert ("DELETE", "/api/cli/v1/tokens/1", {}) in logged_in.bodies

    again = flux("token", "revoke", "1")
    assert again.exit_code == 1 and "already revoked" in again.stderr
    assert "Traceback" not in again.output


def test_revoke_unknown_is_one_line(flux: Flux, logged_in: FakeControlPlane) -> None:
    result = flux("token", "revoke", "flx_live_nope")
    assert result.exit_code == 1
    assert "no token of yours matches" in result.stderr and "flux token list" in result.stderr


def test_token_mint_still_works_beside_them(flux: Flux, logged_in: FakeControlPlane) -> None:
    project = logged_in.add("app")
    result = flux("token", "mint", "-p", "app", "--hash", project["hash"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count(".") == 2  # one JWT, alone on stdout

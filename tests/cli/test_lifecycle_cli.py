"""Lifecycle commands, `flux nuke` confirmation and `flux secrets rotate` against the contract
HTTP double: bodies sent, what is printed, and refusals without confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux.cli.commands import confirm

from .conftest import FakeControlPlane, Flux


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def shop(logged_in: FakeControlPlane) -> dict:
    return logged_in.add("shop", "abc1234", mode="v1_dedicated")


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a person sits at the terminal (CliRunner's stdin is a pipe)."""
    monkeypatch.setattr(confirm, "interactive", lambda: True)


@pytest.mark.parametrize(
    ("action", "past", "status"),
    [
        ("stop", "Stopped", "stopped"),
        ("start", "Started", "running"),
        ("suspend", "Suspended", "suspended"),
    ],
)
def test_lifecycle_actions_post_the_action(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, action: str, past: str, status: str
) -> None:
    result = flux(action, "shop")
    assert result.exit_code == 0, result.output
    assert logged_in.bodies == [
        ("POST", "/api/cli/v1/projects/abc1234/lifecycle", {"action": action})
    ]
    assert result.stdout.strip() == f"{past} shop (abc1234); status {status}."


def test_repair_lists_what_it_did_and_process_actions_need_a_dedicated_project(
    flux: Flux, logged_in: FakeControlPlane, shop: dict
) -> None:
    repaired = flux("repair", "shop")
    assert repaired.stdout.splitlines() == [
        "Repaired shop (abc1234); status running.",
        "  - restarted the REST process",
    ]
    logged_in.add("tiny", "def5678")
    refused = flux("stop", "tiny")
    assert refused.exit_code == 1
    assert "is v2_shared" in refused.stderr and "use suspend/resume" in refused.stderr
    _no_traceback(refused)


def test_lifecycle_selection_by_flag_hash_manifest_and_json(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, isolated_user: Path
) -> None:
    assert flux("stop", "-p", "shop").exit_code == 0
    assert json.loads(flux("resume", "--hash", "abc1234", "--json").stdout)["action"] == "resume"
    (isolated_user / "flux.json").write_text('{"slug": "shop", "hash": "abc1234"}')
    assert flux("start").exit_code == 0
    assert [b["action"] for _, _, b in logged_in.bodies] == ["stop", "resume", "start"]
    assert shop["status"] == "running"


def test_lifecycle_errors_are_one_line(flux: Flux, logged_in: FakeControlPlane, shop: dict) -> None:
    conflicting = flux("stop", "shop", "-p", "other")
    assert conflicting.exit_code == 1 and "two different projects" in conflicting.stderr
    unknown = flux("start", "nosuch")
    assert unknown.exit_code == 1 and "no project with slug 'nosuch'" in unknown.stderr
    nothing = flux("repair")
    assert nothing.exit_code == 1 and "no project selected" in nothing.stderr
    assert logged_in.bodies == []
    _no_traceback(unknown)


def test_nuke_with_yes_deletes_and_notes_the_stale_manifest(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, isolated_user: Path
) -> None:
    manifest = isolated_user / "flux.json"
    manifest.write_text('{"slug": "shop", "hash": "abc1234"}')
    result = flux("nuke", "--yes", "--skip-backup-check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Deleted shop (abc1234)."
    assert logged_in.bodies == [("DELETE", "/api/cli/v1/projects/abc1234?skipBackupCheck=true", {})]
    assert "abc1234" not in logged_in.projects
    assert manifest.exists() and "still links this folder" in result.stderr


def test_nuke_without_yes_off_a_terminal_refuses(
    flux: Flux, logged_in: FakeControlPlane, shop: dict
) -> None:
    result = flux("nuke", "shop")
    assert result.exit_code == 1
    assert "not a terminal" in result.stderr and "pass --yes" in result.stderr
    assert "abc1234" in logged_in.projects
    _no_traceback(result)


def test_nuke_asks_for_the_slug_to_be_typed(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, tty: None
) -> None:
    wrong = flux("nuke", "--hash", "abc1234", input="shoop\n")
    assert wrong.exit_code == 1 and "confirmation did not match 'shop'" in wrong.stderr
    assert "abc1234" in logged_in.projects
    right = flux("nuke", "--hash", "abc1234", input="shop\n")
    assert right.exit_code == 0, right.output
    assert "abc1234" not in logged_in.projects
    assert "still links" not in right.stderr  # no flux.json here


def test_secrets_rotate_prints_the_new_secret_once(
    flux: Flux, logged_in: FakeControlPlane, shop: dict
) -> None:
    old = logged_in.secrets["abc1234"]
    result = flux("secrets", "rotate", "shop", "--yes")
    assert result.exit_code == 0, result.output
    new = logged_in.secrets["abc1234"]
    assert new != old
    assert f"FLUX_GATEWAY_JWT_SECRET={new}" in result.stdout.splitlines()
    assert "shown only once" in result.stderr
    assert json.loads(flux("secrets", "rotate", "shop", "-y", "--json").stdout) == {
        "jwtSecret": logged_in.secrets["abc1234"]
    }


def test_secrets_rotate_confirms_first(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = logged_in.secrets["abc1234"]
    piped = flux("secrets", "rotate", "shop")
    assert piped.exit_code == 1 and "pass --yes" in piped.stderr
    monkeypatch.setattr(confirm, "interactive", lambda: True)
    declined = flux("secrets", "rotate", "shop", input="n\n")
    assert declined.exit_code == 1 and "cancelled" in declined.stderr
    assert logged_in.secrets["abc1234"] == old
    accepted = flux("secrets", "rotate", "shop", input="y\n")
    assert accepted.exit_code == 0 and logged_in.secrets["abc1234"] != old


def test_nuke_notes_a_manifest_linked_by_slug_only(
    flux: Flux, logged_in: FakeControlPlane, shop: dict, isolated_user: Path
) -> None:
    (isolated_user / "flux.json").write_text('{"slug": "shop"}')
    result = flux("nuke", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": True, "slug": "shop", "hash": "abc1234"}
    assert "still links this folder" in result.stderr
    assert logged_in.bodies == [("DELETE", "/api/cli/v1/projects/abc1234", {})]

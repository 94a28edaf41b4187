"""`flux plan list|set|quota` against the control-plane test double (contract_routes.py)."""

from __future__ import annotations

import json

from .conftest import FakeControlPlane, Flux


def test_plan_list_shows_limits_and_quota(flux: Flux, logged_in: FakeControlPlane) -> None:
    logged_in.add("one")
    result = flux("plan", "list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "free (default)" in rows and "5000 ms" in rows["free (default)"]
    assert "1000" in rows["free (default)"] and "unlimited" in rows["enterprise"]
    assert "Your projects: 1, 100 allowed." in result.stdout
    assert "an admin assigns" in result.stderr
    as_json = json.loads(flux("plan", "list", "--json").stdout)
    assert as_json["default"] == "free" and as_json["quota"]["owned"] == 1


def test_plan_set_by_slug_and_hash(flux: Flux, logged_in: FakeControlPlane) -> None:
    project = logged_in.add("shop", hash_="abc1234")
    result = flux("plan", "set", "shop", "enterprise")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Moved shop (abc1234) from free to enterprise."
    assert logged_in.bodies[-1] == (
        "POST",
        "/api/cli/v1/projects/abc1234/plan",
        {"plan": "enterprise"},
    )
    assert project["plan"] == "enterprise"
    again = flux("plan", "set", "shop", "enterprise", "--hash", "ABC1234")
    assert again.stdout.strip() == "shop (abc1234) is already on enterprise."
    as_json = json.loads(flux("plan", "set", "shop", "free", "--json").stdout)
    assert (as_json["previous"], as_json["changed"]) == ("enterprise", True)


def test_plan_set_refusals_are_one_error_line(flux: Flux, logged_in: FakeControlPlane) -> None:
    logged_in.add("shop", hash_="abc1234")
    unknown = flux("plan", "set", "shop", "gold")
    assert unknown.exit_code == 1
    assert "error: unknown plan 'gold'" in unknown.stderr and "hint: use one of" in unknown.stderr
    logged_in.canned["admin"] = False
    denied = flux("plan", "set", "shop", "enterprise")
    assert denied.exit_code == 1
    assert "error: only an admin can assign a plan to a project" in denied.stderr
    assert "Traceback" not in denied.output
    assert flux("plan", "set", "nope", "pro").exit_code == 1


def test_plan_quota(flux: Flux, logged_in: FakeControlPlane) -> None:
    result = flux("plan", "quota", "dev@example.com", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "dev@example.com may now own 3 projects."
    assert logged_in.bodies[-1] == (
        "POST",
        "/api/cli/v1/users/quota",
        {"email": "dev@example.com", "quota": 3},
    )
    assert flux("plan", "quota", "dev@example.com", "-1").exit_code == 2
    logged_in.canned["admin"] = False
    denied = flux("plan", "quota", "dev@example.com", "3")
    assert denied.exit_code == 1 and "only an admin" in denied.stderr

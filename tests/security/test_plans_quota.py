"""Finding 8 (plans belong to the operator) played against a real `flux up`: a user asking for
a bigger plan is refused and nothing is created; the admin assigns plans with `flux plan set`;
a per-user project quota refuses creates beyond it."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from flux.catalog import tokens, users
from flux.embedded import load_state


@pytest.fixture(scope="module")
def catalog_conninfo(platform) -> str:
    return load_state(platform.up.flux_home).catalog_conninfo()


@pytest.fixture
def mallory(platform, catalog_conninfo):
    """A fresh non-admin user (there is no API to create users): email and API token."""
    email = f"mallory-{uuid.uuid4().hex[:6]}@example.com"
    with psycopg.connect(catalog_conninfo, row_factory=dict_row) as conn:
        user = users.create_user(conn, email, None)
        token = tokens.create_token(conn, user.id, "attack test")
    return email, token


def _admin_token(platform) -> str:
    return json.loads((platform.up.home / ".flux" / "config.json").read_text())["token"]


def _as(platform, token: str, *args: str):
    return platform.up.cli(*args, env={"FLUX_API_TOKEN": token})


def _projects(platform, token: str) -> dict[str, dict]:
    result = _as(platform, token, "list", "--json")
    assert result.returncode == 0, result.stderr
    return {p["slug"]: p for p in json.loads(result.stdout)["projects"]}


def _owned_in_catalog(catalog_conninfo: str, email: str) -> int:
    with psycopg.connect(catalog_conninfo) as conn:
        return conn.execute(
            "SELECT count(*) FROM projects p JOIN users u ON u.id = p.owner_id WHERE u.email = %s",
            (email,),
        ).fetchone()[0]


@pytest.mark.parametrize("plan", ["pro", "enterprise"])
def test_a_user_asking_for_a_bigger_plan_is_refused_and_nothing_is_created(
    platform, mallory, catalog_conninfo, plan
):
    email, token = mallory
    result = _as(platform, token, "create", "greedy", "--plan", plan)
    assert result.returncode == 1
    assert f"error: only an admin can put a project on plan '{plan}'" in result.stderr
    assert "flux plan set" in result.stderr and "Traceback" not in result.stderr
    assert _projects(platform, token) == {}
    assert _owned_in_catalog(catalog_conninfo, email) == 0


def test_the_admin_assigns_plans_and_the_user_cannot(platform, mallory):
    _, token = mallory
    admin = _admin_token(platform)
    created = json.loads(_as(platform, token, "create", "shop", "--json").stdout)["project"]
    assert created["plan"] == "free"

    refused = _as(platform, token, "plan", "set", "shop", "pro")
    assert refused.returncode == 1
    assert "only an admin can assign a plan" in refused.stderr
    assert _projects(platform, token)["shop"]["plan"] == "free"

    # the admin does not own it: the hash names it
    moved = _as(platform, admin, "plan", "set", "shop", "pro", "--hash", created["hash"])
    assert moved.returncode == 0, moved.stderr
    assert "from free to pro" in moved.stdout
    assert _projects(platform, token)["shop"]["plan"] == "pro"
    unknown = _as(platform, admin, "plan", "set", "shop", "gold", "--hash", created["hash"])
    assert unknown.returncode == 1 and "unknown plan 'gold'" in unknown.stderr

    big = json.loads(_as(platform, admin, "create", "big", "--plan", "enterprise", "--json").stdout)
    assert big["project"]["plan"] == "enterprise"


def test_the_project_quota_refuses_creates_beyond_it(platform, mallory, catalog_conninfo):
    email, token = mallory
    admin = _admin_token(platform)
    assert _as(platform, token, "plan", "quota", email, "1000").returncode == 1  # not an admin
    set_ = _as(platform, admin, "plan", "quota", email, "2")
    assert set_.returncode == 0 and f"{email} may now own 2 projects." in set_.stdout
    listed = json.loads(_as(platform, token, "plan", "list", "--json").stdout)
    assert listed["quota"] == {"owned": 0, "limit": 2, "exempt": False}

    for name in ("q-one", "q-two"):
        assert _as(platform, token, "create", name).returncode == 0
    refused = _as(platform, token, "create", "q-three")
    assert refused.returncode == 1
    assert "error: project quota reached: you own 2 projects and your quota is 2" in refused.stderr
    assert "ask an admin" in refused.stderr
    assert sorted(_projects(platform, token)) == ["q-one", "q-two"]
    assert _owned_in_catalog(catalog_conninfo, email) == 2

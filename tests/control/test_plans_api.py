"""Plans belong to the operator, and each user has a project quota (issue 10, finding 8),
through the control-plane API on the real catalog and shared cluster."""

from __future__ import annotations

import threading
import uuid

import pytest
from starlette.testclient import TestClient

from flux.catalog import tokens, users
from flux.control.app import build_control_app


def _client(control, *, admin: bool) -> tuple[TestClient, str]:
    email = f"{uuid.uuid4().hex[:8]}@{'admin' if admin else 'user'}"
    with control.catalog.transaction() as conn:
        user = users.create_user(conn, email, None, is_admin=admin)
        token = tokens.create_token(conn, user.id, "test")
    client = TestClient(build_control_app(control), base_url="http://testserver/api/cli/v1")
    client.headers["Authorization"] = f"Bearer {token}"
    return client, email


@pytest.fixture
def admin(control) -> TestClient:
    return _client(control, admin=True)[0]


@pytest.fixture
def user(control) -> tuple[TestClient, str]:
    """A non-admin client and its email."""
    return _client(control, admin=False)


def _audit(control, action: str, target: str) -> list[dict]:
    with control.catalog.connection() as conn:
        return conn.execute(
            "SELECT user_id, details FROM audit_log WHERE action = %s AND target = %s ORDER BY id",
            (action, target),
        ).fetchall()


@pytest.mark.parametrize("plan", ["pro", "enterprise"])
def test_a_user_cannot_choose_a_plan_above_the_default(user, plan):
    api, _ = user
    res = api.post("/create", json={"name": "greedy", "plan": plan})
    assert res.status_code == 403, res.text
    error = res.json()["error"]
    assert repr(plan) in error and "only an admin" in error
    assert "flux plan set" in res.json()["hint"]
    assert api.get("/list").json()["projects"] == []


def test_a_user_may_name_the_default_plan(user):
    api, _ = user
    res = api.post("/create", json={"name": "modest", "plan": "free"})
    assert res.status_code == 201 and res.json()["project"]["plan"] == "free"


def test_an_admin_creates_on_any_plan(admin):
    res = admin.post("/create", json={"name": "big", "plan": "enterprise"})
    assert res.status_code == 201, res.text
    assert res.json()["project"]["plan"] == "enterprise"


def test_admin_assigns_a_plan_audited_and_evicted(admin, user, control):
    api, _ = user
    project = api.post("/create", json={"name": "upgrade me"}).json()["project"]
    h = project["hash"]
    evicted = []
    control.on_project_changed.append(evicted.append)
    try:
        res = admin.post(f"/projects/{h}/plan", json={"plan": "pro"})
        assert res.status_code == 200, res.text
        body = res.json()
        assert (body["project"]["plan"], body["previous"], body["changed"]) == ("pro", "free", True)
        assert [p.hash for p in evicted] == [h] and evicted[0].plan == "pro"
        again = admin.post(f"/projects/{h}/plan", json={"plan": "pro"}).json()
        assert again["changed"] is False and len(evicted) == 1
    finally:
        control.on_project_changed.remove(evicted.append)
    assert api.get(f"/projects/{h}").json()["project"]["plan"] == "pro"
    rows = _audit(control, "project.plan.set", f"upgrade-me/{h}")
    assert [r["details"] for r in rows] == [{"from": "free", "to": "pro"}]


def test_plan_assignment_refusals(admin, user, control):
    api, _ = user
    h = api.post("/create", json={"name": "mine"}).json()["project"]["hash"]
    own = api.post(f"/projects/{h}/plan", json={"plan": "pro"})
    assert own.status_code == 403 and "only an admin" in own.json()["error"]
    assert api.post("/projects/abcdef0/plan", json={"plan": "pro"}).status_code == 403
    assert admin.post("/projects/abcdef0/plan", json={"plan": "pro"}).status_code == 404
    assert admin.post("/projects/NOTHEX!/plan", json={"plan": "pro"}).status_code == 422
    unknown = admin.post(f"/projects/{h}/plan", json={"plan": "gold"})
    assert unknown.status_code == 422 and "unknown plan 'gold'" in unknown.json()["error"]
    assert admin.post(f"/projects/{h}/plan", json={}).status_code == 422
    assert api.get(f"/projects/{h}").json()["project"]["plan"] == "free"
    assert _audit(control, "project.plan.set", f"mine/{h}") == []


def test_plans_list_shows_limits_default_and_own_quota(user):
    api, _ = user
    api.post("/create", json={"name": "one"})
    body = api.get("/plans").json()
    assert body["default"] == "free"
    by_name = {p["name"]: p for p in body["plans"]}
    assert [p["name"] for p in body["plans"]] == ["free", "pro", "enterprise"]
    assert by_name["free"] == {
        "name": "free",
        "default": True,
        "rateLimitPerMinute": 600,
        "statementTimeoutMs": 5000,
        "connectionLimit": 5,
        "maxRows": 1000,
    }
    assert by_name["enterprise"]["maxRows"] is None and not by_name["pro"]["default"]
    assert body["quota"] == {"owned": 1, "limit": 100, "exempt": False}
    assert api.get("/plans", headers={"Authorization": ""}).status_code == 401


def test_quota_refuses_create_and_init_beyond_it(admin, user, control):
    api, email = user
    res = admin.post("/users/quota", json={"email": email, "quota": 2})
    assert res.json() == {"email": email, "projectQuota": 2}
    assert api.post("/create", json={"name": "q1"}).status_code == 201
    assert api.post("/init", json={"slug": "q2"}).status_code == 200
    for refused in (
        api.post("/create", json={"name": "q3"}),
        api.post("/init", json={"slug": "q3"}),
    ):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == (
            "project quota reached: you own 2 projects and your quota is 2"
        )
        assert "ask an admin" in refused.json()["hint"]
    assert sorted(p["slug"] for p in api.get("/list").json()["projects"]) == ["q1", "q2"]
    assert api.post("/init", json={"slug": "q1"}).json()["action"] == "linked"
    assert [r["details"] for r in _audit(control, "user.quota.set", email)] == [{"projectQuota": 2}]


def test_admins_are_not_held_to_a_quota(control):
    admin, email = _client(control, admin=True)
    admin.post("/users/quota", json={"email": email, "quota": 0})
    assert admin.post("/create", json={"name": "operator"}).status_code == 201
    assert admin.get("/plans").json()["quota"] == {"owned": 1, "limit": 0, "exempt": True}


def test_quota_route_refusals(admin, user):
    api, email = user
    denied = api.post("/users/quota", json={"email": email, "quota": 1000})
    assert denied.status_code == 403 and "only an admin" in denied.json()["error"]
    assert admin.post("/users/quota", json={"email": "nobody@x", "quota": 1}).status_code == 404
    assert admin.post("/users/quota", json={"email": email, "quota": -1}).status_code == 422
    assert api.get("/plans").json()["quota"]["limit"] == 100


def test_concurrent_creates_cannot_overshoot_the_quota(admin, user):
    api, email = user
    admin.post("/users/quota", json={"email": email, "quota": 1})
    statuses: list[int] = []

    def create(name: str) -> None:
        statuses.append(api.post("/create", json={"name": name}).status_code)

    threads = [threading.Thread(target=create, args=(f"race-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 403, 403]
    assert len(api.get("/list").json()["projects"]) == 1

"""The control-plane API in process (real catalog, real shared cluster, real HTTP stack)."""

import uuid

import pytest

from flux.catalog import tokens, users


def test_verify_and_bad_tokens(api):
    body = api.get("/auth/verify").json()
    assert body["ok"] is True and body["defaultMode"] == "v2_shared"
    for header in (
        {"Authorization": "Bearer flx_live_nope"},
        {"Authorization": ""},
        {"Authorization": "Basic abc"},
    ):
        res = api.get("/auth/verify", headers=header)
        assert res.status_code == 401
        assert "error" in res.json() and "flux login" in res.json()["hint"]


def test_create_list_describe_credentials_rotate_delete(api):
    res = api.post("/create", json={"name": "Percept"})
    assert res.status_code == 201, res.text
    body = res.json()
    project = body["project"]
    h = project["hash"]
    assert project["slug"] == "percept" and project["mode"] == "v2_shared"
    assert project["apiUrl"] == f"http://api--percept--{h}.localhost:8000"
    assert project["apiUrlPath"] == f"http://127.0.0.1:8000/api--percept--{h}"
    assert project["apiSchema"].startswith("t_") and project["apiSchema"].endswith("_api")
    secret = body["secrets"]["jwtSecret"]
    assert len(secret) >= 43

    listed = api.get("/list").json()["projects"]
    assert [p["hash"] for p in listed] == [h]
    assert api.get(f"/projects/{h}").json()["project"]["slug"] == "percept"
    creds = api.get(f"/projects/{h}/credentials").json()
    assert creds["jwtSecret"] == secret and "flux token mint" in creds["howToMint"]

    rotated = api.post(f"/projects/{h}/secrets/rotate").json()["jwtSecret"]
    assert rotated != secret
    assert api.get(f"/projects/{h}/credentials").json()["jwtSecret"] == rotated

    assert api.delete(f"/projects/{h}?skipBackupCheck=true").json() == {"deleted": True, "slug": "percept", "hash": h}
    assert api.get(f"/projects/{h}").status_code == 404
    assert api.get("/list").json()["projects"] == []


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"name": ""}, 422, "name"),
        ({"name": "!!!"}, 422, "no letters or digits"),
        ({"name": "x", "mode": "v3"}, 422, "mode"),
        ({"name": "x", "plan": "gold"}, 422, "unknown plan"),
        ({}, 422, "name"),
    ],
)
def test_create_rejects_bad_input(api, payload, status, fragment):
    res = api.post("/create", json=payload)
    assert res.status_code == status
    assert fragment in res.json()["error"]
    assert api.get("/list").json()["projects"] == []


def test_duplicate_slug_conflicts_and_nothing_is_created(api):
    assert api.post("/create", json={"name": "dup"}).status_code == 201
    res = api.post("/create", json={"name": "DUP!"})
    assert res.status_code == 409 and "dup" in res.json()["error"]
    assert len(api.get("/list").json()["projects"]) == 1


def test_unknown_bad_and_foreign_hashes(api, control):
    assert api.get("/projects/abcdef0").status_code == 404
    assert api.get("/projects/NOTHEX!").status_code == 422
    with control.catalog.transaction() as conn:
        other = users.create_user(conn, f"{uuid.uuid4().hex[:8]}@other", None)
        other_token = tokens.create_token(conn, other.id, "t")
    h = api.post("/create", json={"name": "mine"}).json()["project"]["hash"]
    res = api.get(f"/projects/{h}/credentials", headers={"Authorization": f"Bearer {other_token}"})
    assert res.status_code == 403


def test_init_links_or_creates_and_checks_slug(api):
    created = api.post("/init", json={"slug": "linked-app"}).json()
    assert created["action"] == "created" and created["slug"] == "linked-app"
    assert "jwtSecret" in created["secrets"]
    again = api.post("/init", json={"slug": "linked-app"}).json()
    assert again["action"] == "linked" and again["hash"] == created["hash"]
    by_hash = api.post("/init", json={"slug": "linked-app", "hash": created["hash"]}).json()
    assert by_hash["action"] == "linked" and "secrets" not in by_hash
    mismatch = api.post("/init", json={"slug": "other", "hash": created["hash"]})
    assert mismatch.status_code == 409 and "linked-app" in mismatch.json()["error"]


def test_every_mutation_is_audited(api, control):
    h = api.post("/create", json={"name": "audited"}).json()["project"]["hash"]
    api.post(f"/projects/{h}/secrets/rotate")
    api.delete(f"/projects/{h}?skipBackupCheck=true")
    with control.catalog.connection() as conn:
        rows = conn.execute(
            "SELECT action, details::text FROM audit_log WHERE target = %s ORDER BY id",
            (f"audited/{h}",),
        ).fetchall()
    assert [r["action"] for r in rows] == [
        "project.create",
        "project.secrets.rotate",
        "backup.gate.skipped",
        "project.delete",
    ]


def test_openapi_document(api):
    res = api.get("http://testserver/api/openapi.json")
    assert res.status_code == 200
    assert "/api/cli/v1/create" in res.json()["paths"]

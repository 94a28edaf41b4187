"""Custom domains and doctor through the control-plane API."""

import pytest


def test_domains_add_list_remove_and_eviction(api, control):
    evicted = []
    control.on_domain_changed.append(evicted.append)
    try:
        a = api.post("/create", json={"name": "dom a"}).json()["project"]["hash"]
        b = api.post("/create", json={"name": "dom b"}).json()["project"]["hash"]
        res = api.post(f"/projects/{a}/domains", json={"hostname": "API.Example.com."})
        assert res.status_code == 201 and res.json()["hostname"] == "api.example.com"
        assert (
            api.post(f"/projects/{b}/domains", json={"hostname": "api.example.com"}).status_code
            == 409
        )
        listed = api.get(f"/projects/{a}/domains").json()["domains"]
        assert [d["hostname"] for d in listed] == ["api.example.com"]
        assert api.delete(f"/projects/{b}/domains/api.example.com").status_code == 404
        assert api.delete(f"/projects/{a}/domains/api.example.com").json()["deleted"] is True
        assert api.get(f"/projects/{a}/domains").json()["domains"] == []
        assert evicted == ["api.example.com", "api.example.com"]
    finally:
        control.on_domain_changed.remove(evicted.append)


@pytest.mark.parametrize(
    "hostname",
    [
        "not a host",
        "-bad.example.com",
        "localhost",
        "api--x--abc1234.localhost",
        "x" * 64 + ".com",
        "single",
    ],
)
def test_domains_reject_bad_hostnames(api, hostname):
    h = api.post("/create", json={"name": "dom bad"}).json()["project"]["hash"]
    res = api.post(f"/projects/{h}/domains", json={"hostname": hostname})
    assert res.status_code == 422, res.text


def test_doctor_v2_passes_then_warns_on_writable_table_without_rls(api):
    h = api.post("/create", json={"name": "doc"}).json()["project"]["hash"]
    report = api.post(f"/projects/{h}/doctor").json()
    assert report["status"] == "PASS", report
    assert {c["name"] for c in report["checks"]} >= {"schema", "roles", "no-public-access"}
    api.post(
        "/push",
        json={
            "hash": h,
            "mode": "raw",
            "filename": "t.sql",
            "sql": "create table t (x int); grant insert on t to authenticated;",
        },
    )
    report = api.post(f"/projects/{h}/doctor").json()
    assert report["status"] == "WARN"
    warn = next(c for c in report["checks"] if c["status"] == "WARN")
    assert "t" in warn["message"] and warn["remediation"]

"""`flux env list`, `flux domains`, `flux doctor` and `flux open` against the contract HTTP double."""

from __future__ import annotations

import json
import webbrowser

import pytest

from .conftest import FakeControlPlane, Flux


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_env_list_prints_only_what_the_server_returned(
    flux: Flux, logged_in: FakeControlPlane
) -> None:
    logged_in.add("shop", "abc1234", mode="v1_dedicated")
    result = flux("env", "list", "-p", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "PGRST_DB_ANON_ROLE=anon",
        "PGRST_DB_SCHEMAS=api",
        "PGRST_DB_URI=postgresql://authenticator:********@127.0.0.1:5433/postgres",
        "PGRST_JWT_SECRET=********",
    ]
    assert logged_in.secrets["abc1234"] not in result.output
    data = json.loads(flux("env", "list", "-p", "shop", "--json").stdout)
    assert data["env"]["PGRST_DB_SCHEMAS"] == "api"


def test_env_list_on_a_shared_project_is_an_api_error(
    flux: Flux, logged_in: FakeControlPlane
) -> None:
    logged_in.add("tiny", "def5678")
    result = flux("env", "list", "--hash", "def5678")
    assert result.exit_code == 1 and "has no REST process of its own" in result.stderr
    _no_traceback(result)


def test_domains_add_list_remove(flux: Flux, logged_in: FakeControlPlane) -> None:
    logged_in.add("shop", "abc1234")
    logged_in.add("other", "def5678")
    assert flux("domains", "list", "-p", "shop").stdout.startswith("No custom domains on shop")
    added = flux("domains", "add", "API.Example.com", "-p", "shop")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Added api.example.com to shop (abc1234)."
    listed = flux("domains", "list", "-p", "shop")
    assert "api.example.com" in listed.stdout and "2025-01-02" in listed.stdout
    assert json.loads(flux("domains", "list", "-p", "shop", "--json").stdout) == {
        "domains": [{"hostname": "api.example.com", "createdAt": "2025-01-02T00:00:00+00:00"}]
    }
    taken = flux("domains", "add", "api.example.com", "-p", "other")
    assert taken.exit_code == 1 and "already attached" in taken.stderr
    invalid = flux("domains", "add", "nodots", "-p", "shop")
    assert invalid.exit_code == 1 and "not a valid hostname" in invalid.stderr
    assert "hint: e.g. api.example.com" in invalid.stderr
    removed = flux("domains", "remove", "api.example.com", "-p", "shop")
    assert removed.stdout.strip() == "Removed api.example.com from shop (abc1234)."
    again = flux("domains", "remove", "api.example.com", "-p", "shop")
    assert again.exit_code == 1 and "is not attached to shop" in again.stderr
    _no_traceback(again)


def test_doctor_passes(flux: Flux, logged_in: FakeControlPlane) -> None:
    logged_in.add("shop", "abc1234")
    result = flux("doctor", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "PASS  schema: tenant schema ok",
        "shop (abc1234): 1 passed, 0 warnings, 0 failed.",
    ]


def test_doctor_fail_shows_remediation_and_exits_1(flux: Flux, logged_in: FakeControlPlane) -> None:
    logged_in.add("shop", "abc1234")
    logged_in.canned["doctor"] = [
        {"name": "rls", "status": "WARN", "message": "api.t: RLS on, no policies",
         "remediation": "add a policy"},
        {"name": "exposure", "status": "FAIL", "message": "api.notes writable by anon",
         "remediation": "ALTER TABLE api.notes ENABLE ROW LEVEL SECURITY"},
    ]  # fmt: skip
    result = flux("doctor", "-p", "shop")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "WARN  rls: api.t: RLS on, no policies",
        "      fix: add a policy",
        "FAIL  exposure: api.notes writable by anon",
        "      fix: ALTER TABLE api.notes ENABLE ROW LEVEL SECURITY",
        "shop (abc1234): 0 passed, 1 warning, 1 failed.",
    ]
    as_json = flux("doctor", "-p", "shop", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["status"] == "FAIL"
    _no_traceback(result)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: urls.append(url) or True)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return urls


def test_open_prints_the_dashboard_url_and_needs_a_display_for_a_browser(
    flux: Flux, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_DASHBOARD_BASE", "http://127.0.0.1:9999/")
    headless = flux("open")
    assert headless.exit_code == 0 and headless.stdout.strip() == "http://127.0.0.1:9999/"
    assert opened == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert flux("open", "--no-browser").exit_code == 0 and opened == []
    assert flux("open").exit_code == 0 and opened == ["http://127.0.0.1:9999/"]


def test_open_defaults_to_the_api_base_host(
    flux: Flux, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_API_BASE", "http://127.0.0.1:8123/api")
    assert flux("open").stdout.strip() == "http://127.0.0.1:8123/"

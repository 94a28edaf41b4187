"""The `flux` commands end to end against a real HTTP server speaking the API contract."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

import flux as flux_pkg
from flux.cli.user_config import config_path
from flux.postgres import free_port

from .conftest import TOKEN, FakeControlPlane, Flux


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_version(flux: Flux) -> None:
    assert flux("version").stdout.strip() == f"flux {flux_pkg.__version__}"
    assert json.loads(flux("version", "--json").stdout) == {"version": flux_pkg.__version__}


def test_unreachable_control_plane_names_the_url(
    flux: Flux, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("FLUX_API_BASE", base)
    result = flux("list")
    assert result.exit_code == 1
    assert f"error: control plane not reachable at {base}" in result.stderr
    assert "flux up" in result.stderr
    assert result.stdout == ""
    _no_traceback(result)


def test_invalid_token_says_to_log_in(flux: Flux, control: FakeControlPlane) -> None:
    result = flux("--api-base", control.base, "--token", "flx_live_wrong", "whoami")
    assert result.exit_code == 1
    assert "error: invalid or missing API token" in result.stderr
    assert "hint: run `flux login`" in result.stderr
    _no_traceback(result)


def test_login_whoami_logout(flux: Flux, control: FakeControlPlane, isolated_user: Path) -> None:
    result = flux("login", "--api-base", control.base + "/", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert "Logged in as admin@localhost" in result.stdout
    path = config_path(Path.home())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"apiBase": control.base, "token": TOKEN}

    who = flux("whoami", "--json")
    assert who.exit_code == 0, who.output
    data = json.loads(who.stdout)
    assert data["user"]["email"] == "admin@localhost"
    assert (data["apiBase"], data["tokenSource"]) == (control.base, "config")
    human = flux("whoami")
    assert "admin@localhost" in human.stdout and TOKEN not in human.output

    assert flux("logout").exit_code == 0
    assert json.loads(path.read_text()) == {"apiBase": control.base}
    after = flux("whoami")
    assert after.exit_code == 1 and "flux login" in after.stderr


def test_login_prompts_for_the_token(flux: Flux, control: FakeControlPlane) -> None:
    result = flux("login", "--api-base", control.base, input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(config_path(Path.home()).read_text())["token"] == TOKEN


def test_login_with_bad_token_stores_nothing(flux: Flux, control: FakeControlPlane) -> None:
    result = flux("login", "--api-base", control.base, "--token", "flx_live_bad")
    assert result.exit_code == 1 and "invalid or missing API token" in result.stderr
    assert not config_path(Path.home()).exists()


def test_create_prints_urls_and_env_once(flux: Flux, logged_in: FakeControlPlane) -> None:
    result = flux("create", "percept")
    assert result.exit_code == 0, result.output
    (project,) = logged_in.projects.values()
    hash_ = project["hash"]
    out = result.stdout
    assert "percept" in out and hash_ in out and "v2_shared" in out
    assert f"http://api--percept--{hash_}.localhost:8000" in out
    assert f"http://127.0.0.1:8000/api--percept--{hash_}" in out
    assert f"FLUX_URL=http://api--percept--{hash_}.localhost:8000" in out
    assert f"FLUX_GATEWAY_JWT_SECRET={logged_in.secrets[hash_]}" in out
    assert "shown only once" in result.stderr


def test_create_json_and_default_mode(
    flux: Flux, logged_in: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_DEFAULT_MODE", "v1_dedicated")
    data = json.loads(flux("create", "Big App!", "--json").stdout)
    assert data["project"]["slug"] == "big-app" and data["project"]["mode"] == "v1_dedicated"
    assert data["secrets"]["jwtSecret"]
    explicit = json.loads(flux("create", "small", "--mode", "v2_shared", "--json").stdout)
    assert explicit["project"]["mode"] == "v2_shared"


@pytest.mark.parametrize("name", ["", "   ", "!!!", "@#$ %"])
def test_create_rejects_names_without_letters_client_side(
    flux: Flux, logged_in: FakeControlPlane, name: str
) -> None:
    result = flux("create", name)
    assert result.exit_code == 1 and "error:" in result.stderr
    assert logged_in.requests == []
    _no_traceback(result)


def test_create_bad_default_mode_and_duplicate(
    flux: Flux, logged_in: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert flux("create", "percept").exit_code == 0
    duplicate = flux("create", "percept")
    assert duplicate.exit_code == 1
    assert "error: a project with slug 'percept' already exists" in duplicate.stderr
    monkeypatch.setenv("FLUX_DEFAULT_MODE", "v3_magic")
    bad = flux("create", "other")
    assert bad.exit_code == 1 and "unknown mode 'v3_magic'" in bad.stderr
    assert flux("create", "other", "--mode", "v3_magic").exit_code == 2  # usage error


def test_list_table_and_json(flux: Flux, logged_in: FakeControlPlane) -> None:
    empty = flux("list")
    assert empty.exit_code == 0 and "No projects yet" in empty.stdout
    a = logged_in.add("alpha", "aaaaaaa")
    logged_in.add("beta", "bbbbbbb", mode="v1_dedicated")
    table = flux("list").stdout
    for text in ("alpha", "aaaaaaa", "beta", "v1_dedicated", a["apiUrl"], a["apiUrlPath"]):
        assert text in table
    data = json.loads(flux("list", "--json").stdout)
    assert [p["slug"] for p in data["projects"]] == ["alpha", "beta"]


def test_init_rewrites_the_placeholder_without_secrets(
    flux: Flux, logged_in: FakeControlPlane, isolated_user: Path
) -> None:
    manifest = isolated_user / "flux.json"
    manifest.write_text('{"slug": "percept", "hash": "REPLACE_AFTER_FLUX_INIT"}')
    blocked = flux("project", "credentials")
    assert blocked.exit_code == 1 and "flux init" in blocked.stderr

    result = flux("init")
    assert result.exit_code == 0, result.output
    (project,) = logged_in.projects.values()
    written = json.loads(manifest.read_text())
    assert written == {
        "slug": "percept",
        "hash": project["hash"],
        "apiUrl": project["apiUrl"],
        "mode": "v2_shared",
        "apiSchema": project["apiSchema"],
    }
    secret = logged_in.secrets[project["hash"]]
    assert secret not in manifest.read_text()
    assert f"FLUX_GATEWAY_JWT_SECRET={secret}" in result.stdout  # shown once on creation

    again = flux("init", "--json")
    assert json.loads(again.stdout)["action"] == "linked"
    assert len(logged_in.projects) == 1


def test_init_in_empty_folder_uses_folder_name(
    flux: Flux, logged_in: FakeControlPlane, isolated_user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = isolated_user / "My Cool App"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert flux("init").exit_code == 0
    assert json.loads((folder / "flux.json").read_text())["slug"] == "my-cool-app"


def test_init_links_by_hash_and_refuses_mismatch(
    flux: Flux, logged_in: FakeControlPlane, isolated_user: Path
) -> None:
    logged_in.add("percept", "abc1234")
    ok = flux("init", "percept", "--hash", "abc1234")
    assert ok.exit_code == 0, ok.output
    assert json.loads((isolated_user / "flux.json").read_text())["hash"] == "abc1234"
    bad = flux("init", "other", "--hash", "abc1234")
    assert bad.exit_code == 1 and "belongs to 'percept'" in bad.stderr
    invalid = flux("init", "Not A Slug")
    assert invalid.exit_code == 1 and "invalid slug" in invalid.stderr


def test_credentials_views(flux: Flux, logged_in: FakeControlPlane) -> None:
    project = logged_in.add("percept", "abc1234")
    secret = logged_in.secrets["abc1234"]
    human = flux("project", "credentials", "percept", "--hash", "abc1234")
    assert human.exit_code == 0, human.output
    assert secret in human.stdout and "How to mint tokens" in human.stdout
    assert "sign HS256" in human.stdout  # the API's howToMint text
    assert flux("project", "credentials", "percept", "--field", "jwtSecret").stdout == secret + "\n"
    data = json.loads(flux("project", "credentials", "--hash", "abc1234", "--json").stdout)
    assert data["jwtSecret"] == secret and data["apiUrl"] == project["apiUrl"]
    unknown = flux("project", "credentials", "percept", "--field", "postgres.password")
    assert unknown.exit_code == 1 and "unknown field 'postgres.password'" in unknown.stderr
    assert "jwtSecret" in unknown.stderr and "apiSchema" in unknown.stderr
    mismatch = flux("project", "credentials", "other", "--hash", "abc1234")
    assert mismatch.exit_code == 1 and "belongs to project 'percept'" in mismatch.stderr


def test_token_mint_from_project_secret(
    flux: Flux, logged_in: FakeControlPlane, isolated_user: Path
) -> None:
    logged_in.add("percept", "abc1234")
    (isolated_user / "flux.json").write_text('{"slug": "percept", "hash": "abc1234"}')
    result = flux(
        "token",
        "mint",
        "--sub",
        "user-7",
        "--ttl",
        "2h",
        "--claim",
        "tier=gold",
        "--claim",
        "level=3",
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    claims = jwt.decode(token, logged_in.secrets["abc1234"], algorithms=["HS256"])
    assert claims["sub"] == "user-7" and claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 7200
    assert (claims["tier"], claims["level"]) == ("gold", 3)

    explicit = flux("token", "mint", "-p", "percept")
    jwt.decode(explicit.stdout.strip(), logged_in.secrets["abc1234"], algorithms=["HS256"])


def test_token_mint_from_env_secret_or_flag_needs_no_api(
    flux: Flux, isolated_user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_API_BASE", f"http://127.0.0.1:{free_port()}/api")  # nothing there
    (isolated_user / "flux.json").write_text('{"slug": "percept", "hash": "abc1234"}')
    (isolated_user / ".env").write_text(
        "FLUX_GATEWAY_JWT_SECRET=dotenv-secret-0123456789abcdef0123\n"
    )
    token = flux("token", "mint").stdout.strip()
    assert jwt.decode(token, "dotenv-secret-0123456789abcdef0123", algorithms=["HS256"])
    flagged = flux(
        "token", "mint", "--secret", "flag-secret-0123456789abcdef012345", "--ttl", "30s"
    )
    claims = jwt.decode(
        flagged.stdout.strip(), "flag-secret-0123456789abcdef012345", algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == 30
    bad = flux("token", "mint", "--ttl", "soon")
    assert bad.exit_code == 1 and "invalid --ttl 'soon'" in bad.stderr


def test_debug_output_redacts_token_and_secrets(
    flux: Flux, logged_in: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in.add("percept", "abc1234")
    monkeypatch.setenv("FLUX_DEBUG", "1")
    result = flux("project", "credentials", "--hash", "abc1234", "--field", "apiSchema")
    assert result.exit_code == 0, result.output
    assert "GET" in result.stderr and "/cli/v1/projects/abc1234/credentials" in result.stderr
    assert "Bearer ***" in result.stderr
    assert TOKEN not in result.stderr
    assert logged_in.secrets["abc1234"] not in result.stderr
    assert logged_in.requests[-1][2]["authorization"] == f"Bearer {TOKEN}"


def test_login_takes_the_env_token_and_refuses_an_empty_one(
    flux: Flux, control: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = flux("login", "--api-base", control.base, input="\n")
    assert empty.exit_code == 1 and "no API token given" in empty.stderr
    monkeypatch.setenv("FLUX_API_TOKEN", TOKEN)
    result = flux("login", "--api-base", control.base)
    assert result.exit_code == 0, result.output
    assert json.loads(config_path(Path.home()).read_text())["token"] == TOKEN


def test_up_passes_its_options_and_exit_code(
    flux: Flux, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import flux.up as up_module
    from flux.postgres import free_port

    calls: list[tuple] = []

    def fake_main(settings) -> int:
        calls.append((settings.home, settings.api_port, settings.gateway_port))
        return 3 if len(calls) == 2 else 0

    monkeypatch.setattr(up_module, "main", fake_main)
    api, gateway = free_port(), free_port()
    ports = ("--api-port", str(api), "--gateway-port", str(gateway))
    assert flux("up", "--home", str(tmp_path / "a"), *ports).exit_code == 0
    result = flux("up", "--home", str(tmp_path / "b"), *ports)
    assert result.exit_code == 3
    assert calls == [(tmp_path / "a", api, gateway), (tmp_path / "b", api, gateway)]

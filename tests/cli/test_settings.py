"""Configuration resolution order, dotenv discovery and whitelist, the user config file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from flux.cli.dotenv import parse_dotenv
from flux.cli.settings import DEFAULT_API_BASE, Flags, resolve_settings
from flux.cli.user_config import config_path, load_user_config, save_user_config
from flux.errors import FluxError


def _write_config(home: Path, **data: str) -> None:
    save_user_config(config_path(home), data)


def _repo(root: Path, env: str = "", env_local: str | None = None) -> Path:
    """A repo root with flux.json and dotenv files; returns a nested working folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flux.json").write_text('{"slug": "app", "hash": "abc1234"}')
    (root / ".env").write_text(env)
    if env_local is not None:
        (root / ".env.local").write_text(env_local)
    nested = root / "src" / "deep"
    nested.mkdir(parents=True)
    return nested


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    s = resolve_settings(cwd=tmp_path, environ={}, home=tmp_path)
    assert s.api_base == DEFAULT_API_BASE == "http://127.0.0.1:8080/api"
    assert s.dashboard_base == "http://127.0.0.1:8080"
    assert s.token is None and s.default_mode is None and not s.debug
    assert s.sources["api_base"] == "default"


def test_each_layer_beats_the_ones_below(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write_config(
        home,
        apiBase="http://config:1/api",
        token="flx_live_config",
        dashboardBase="http://config-dash",
    )
    cwd = _repo(
        tmp_path / "repo", env="FLUX_API_BASE=http://dotenv:2/api\nFLUX_API_TOKEN=flx_live_dotenv\n"
    )

    only_config = resolve_settings(cwd=tmp_path, environ={}, home=home)
    assert (only_config.api_base, only_config.token) == ("http://config:1/api", "flx_live_config")
    assert only_config.dashboard_base == "http://config-dash"
    assert only_config.sources["token"] == "config"

    dotenv = resolve_settings(cwd=cwd, environ={}, home=home)
    assert (dotenv.api_base, dotenv.token) == ("http://dotenv:2/api", "flx_live_dotenv")
    assert dotenv.sources["api_base"] == "dotenv"

    env = {"FLUX_API_BASE": "http://env:3/api/", "FLUX_API_TOKEN": "flx_live_env"}
    shell = resolve_settings(cwd=cwd, environ=env, home=home)
    assert (shell.api_base, shell.token) == ("http://env:3/api", "flx_live_env")
    assert shell.sources["token"] == "env"

    flags = resolve_settings(
        Flags(api_base="http://flag:4/api", token="flx_live_flag"), cwd=cwd, environ=env, home=home
    )
    assert (flags.api_base, flags.token) == ("http://flag:4/api", "flx_live_flag")
    assert flags.sources == {**flags.sources, "api_base": "flag", "token": "flag"}


def test_dotenv_is_found_next_to_the_nearest_flux_json_walking_up(tmp_path: Path) -> None:
    cwd = _repo(tmp_path / "outer", env="FLUX_DEFAULT_MODE=v1_dedicated\n")
    inner = tmp_path / "outer" / "src" / "inner-repo"
    inner.mkdir()
    (inner / "flux.json").write_text('{"slug": "inner"}')
    (inner / ".env").write_text("FLUX_DEFAULT_MODE=v2_shared\n")

    assert resolve_settings(cwd=cwd, environ={}, home=tmp_path).default_mode == "v1_dedicated"
    assert resolve_settings(cwd=inner, environ={}, home=tmp_path).default_mode == "v2_shared"


def test_dotenv_without_flux_json_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FLUX_API_BASE=http://stray:9/api\n")
    assert resolve_settings(cwd=tmp_path, environ={}, home=tmp_path).api_base == DEFAULT_API_BASE


def test_env_local_overrides_env(tmp_path: Path) -> None:
    cwd = _repo(
        tmp_path,
        env="FLUX_API_BASE=http://env-file/api\nFLUX_API_TOKEN=flx_live_a\n",
        env_local="FLUX_API_BASE=http://env-local/api\n",
    )
    s = resolve_settings(cwd=cwd, environ={}, home=tmp_path / "nohome")
    assert s.api_base == "http://env-local/api"
    assert s.token == "flx_live_a"


def test_only_whitelisted_keys_are_read_from_dotenv(tmp_path: Path) -> None:
    cwd = _repo(
        tmp_path,
        env="FLUX_DEBUG=1\nFLUX_HOME=/elsewhere\nDATABASE_URL=postgres://x\n"
        "FLUX_GATEWAY_JWT_SECRET=s3cret\nFLUX_DASHBOARD_BASE=http://dash\n",
    )
    s = resolve_settings(cwd=cwd, environ={}, home=tmp_path / "nohome")
    assert not s.debug  # FLUX_DEBUG only counts from the shell
    assert s.gateway_jwt_secret == "s3cret"
    assert s.dashboard_base == "http://dash"


@pytest.mark.parametrize(
    ("value", "expected"), [("", False), ("0", False), ("1", True), ("yes", True), (" 0 ", False)]
)
def test_flux_debug(tmp_path: Path, value: str, expected: bool) -> None:
    assert (
        resolve_settings(cwd=tmp_path, environ={"FLUX_DEBUG": value}, home=tmp_path).debug
        is expected
    )


def test_parse_dotenv_syntax() -> None:
    text = """
# comment
export FLUX_API_BASE=http://a/api
FLUX_API_TOKEN = "flx_live_q"
FLUX_DEFAULT_MODE='v1_dedicated'
FLUX_DASHBOARD_BASE=http://d # trailing comment
FLUX_GATEWAY_JWT_SECRET="has # hash"
not a line
FLUX_API_TOKEN="flx_live_second"
"""
    assert parse_dotenv(text) == {
        "FLUX_API_BASE": "http://a/api",
        "FLUX_API_TOKEN": "flx_live_second",
        "FLUX_DEFAULT_MODE": "v1_dedicated",
        "FLUX_DASHBOARD_BASE": "http://d",
        "FLUX_GATEWAY_JWT_SECRET": "has # hash",
    }


def test_user_config_is_private_and_round_trips(tmp_path: Path) -> None:
    path = config_path(tmp_path)
    save_user_config(
        path, {"apiBase": "http://x/api", "token": "flx_live_t", "dashboardBase": None}
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"apiBase": "http://x/api", "token": "flx_live_t"}
    assert load_user_config(path)["token"] == "flx_live_t"


def test_corrupt_user_config_is_a_clear_error(tmp_path: Path) -> None:
    path = config_path(tmp_path)
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(FluxError) as err:
        resolve_settings(cwd=tmp_path, environ={}, home=tmp_path)
    assert str(path) in err.value.message and "flux login" in (err.value.hint or "")

"""The CLI's stored configuration `~/.flux/config.json` (apiBase, token, dashboardBase), mode
0600. Shared by `flux up` (writes it on bootstrap) and `flux login`/`logout`."""

from __future__ import annotations

from pathlib import Path

from flux.jsonfile import read_json, write_private_json


def cli_config_path() -> Path:
    return Path.home() / ".flux" / "config.json"


def read_cli_config() -> dict:
    return read_json(cli_config_path())


def write_cli_config(data: dict) -> None:
    write_private_json(cli_config_path(), data)

"""`flux up` refuses, before anything starts, a home another process holds and ports that are
taken or equal: one `error:` line, exit code 1, the home left as it was."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from flux.homelock import HomeLock
from flux.postgres import free_port

from .conftest import Flux


def _up(flux: Flux, home: Path, api: int, gateway: int):
    return flux("up", "--home", str(home), "--api-port", str(api), "--gateway-port", str(gateway))


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_held_home_is_refused_naming_the_holder(flux: Flux, tmp_path: Path) -> None:
    home = tmp_path / "state"
    with HomeLock.acquire(home) as held:
        held.record(api_port=18080, gateway_port=18000)
        line = _one_error_line(_up(flux, home, free_port(), free_port()))
    assert line == (
        f"error: Flux is already running on {home} (pid {os.getpid()}, api port 18080, "
        "gateway port 18000); stop it first, or use another --home"
    )
    assert [p.name for p in home.iterdir()] == ["flux.lock"]


def test_taken_ports_are_refused_before_anything_starts(flux: Flux, tmp_path: Path) -> None:
    home = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_error_line(_up(flux, home, port, free_port()))
    assert f"already in use on 127.0.0.1: {port} (API);" in line
    assert [p.name for p in home.iterdir()] == ["flux.lock"]
    assert (home / "flux.lock").read_text() == ""  # released: the next start may take it


def test_one_port_for_both_is_refused(flux: Flux, tmp_path: Path) -> None:
    port = free_port()
    line = _one_error_line(_up(flux, tmp_path / "state", port, port))
    assert f"cannot share port {port}" in line

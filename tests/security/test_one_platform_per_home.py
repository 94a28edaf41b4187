"""One platform per `$FLUX_HOME` (SPEC §11.6): a second `flux up` on a running home — same
ports or other ports — refuses in one line naming the running instance (pid, ports), exit code
1, and changes nothing: the first instance's processes keep serving (control API and a v2
Service URL), `~/.flux/config.json` and the home's files stay byte for byte. Busy ports are
refused the same way before anything starts."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flux.devserver import FLUX
from flux.homelock import HomeBusy, HomeLock
from flux.postgres import free_port

START_TIMEOUT = 60


def _second_up(platform, *flags: str, **env: str) -> subprocess.CompletedProcess:
    """`flux up` as a second instance: the first's HOME and FLUX_HOME unless overridden."""
    return subprocess.run(
        FLUX + ["up", *flags],
        env={k: v for k, v in {**platform.up.env, **env}.items() if v},
        cwd=platform.up.root,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every regular file under the home except the live PostgreSQL data (which the running
    server writes on its own): name → sha256."""
    prints = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[:2] == ("pg", "system") or not path.is_file() or path.is_symlink():
            continue
        if path.is_socket() or path.name.endswith(".lock") and path.name != "flux.lock":
            continue
        prints[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return prints


@pytest.fixture(scope="module")
def serving(platform):
    """A v2 tenant with a row, served through the first instance's gateway."""
    tenant = platform.create("home-lock")
    platform.push(
        tenant,
        "create table t (id int); insert into t values (7); grant select on t to authenticated;",
    )
    return tenant


def _assert_first_untouched(platform, serving, before: dict) -> None:
    up = platform.up
    assert up.proc is not None and up.proc.poll() is None, "the first flux up died"
    assert sorted(up.postgres_pids()) == before["pids"]
    assert (up.home / ".flux" / "config.json").read_bytes() == before["config"]
    assert _fingerprint(up.flux_home) == before["files"]
    assert "admin@localhost" in platform.ok("whoami")
    res = platform.get(serving, "t?select=id")
    assert res.status_code == 200 and res.json() == [{"id": 7}], res.text


def _snapshot(platform) -> dict:
    up = platform.up
    return {
        "pids": sorted(up.postgres_pids()),
        "config": (up.home / ".flux" / "config.json").read_bytes(),
        "files": _fingerprint(up.flux_home),
    }


def _one_line(result: subprocess.CompletedProcess) -> str:
    text = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, text
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_second_up_on_the_same_home_refuses_and_changes_nothing(platform, serving):
    up = platform.up
    before = _snapshot(platform)
    line = _one_line(_second_up(platform))
    assert line.startswith(f"error: Flux is already running on {up.flux_home} (")
    assert f"(pid {up.proc.pid}, api port {up.api_port}, gateway port {up.gateway_port})" in line
    _assert_first_untouched(platform, serving, before)


def test_second_up_with_other_ports_is_refused_too(platform, serving):
    """The issue's worst case: other ports used to start a second control plane on the same
    state (which then "stopped orphaned" processes of the first). Flags, not env, this time."""
    up = platform.up
    before = _snapshot(platform)
    flags = ["--home", str(up.flux_home), "--api-port", str(free_port())]
    result = _second_up(platform, *flags, "--gateway-port", str(free_port()), FLUX_HOME="")
    line = _one_line(result)
    assert f"(pid {up.proc.pid}, api port {up.api_port}, gateway port {up.gateway_port})" in line
    _assert_first_untouched(platform, serving, before)


@pytest.mark.parametrize("busy", ["both", "gateway"])
def test_busy_ports_are_refused_in_one_line_before_anything_starts(
    platform, serving, tmp_path, busy
):
    up = platform.up
    before = _snapshot(platform)
    other_home = tmp_path / "other-state"
    api = up.api_port if busy in ("both", "api") else free_port()
    gateway = up.gateway_port if busy in ("both", "gateway") else free_port()
    line = _one_line(
        _second_up(
            platform,
            FLUX_HOME=str(other_home),
            FLUX_API_PORT=str(api),
            FLUX_GATEWAY_PORT=str(gateway),
        )
    )
    assert "already in use" in line
    if busy in ("both", "api"):
        assert f"{api} (API)" in line
    if busy in ("both", "gateway"):
        assert f"{gateway} (gateway)" in line
    # nothing was started or created in the new home beyond its (released) lock file
    assert [p.name for p in other_home.iterdir()] == ["flux.lock"]
    _assert_first_untouched(platform, serving, before)


def test_the_lock_file_names_the_holder_and_is_private(platform):
    lock = platform.up.flux_home / "flux.lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600"
    assert f'"pid": {platform.up.proc.pid}' in lock.read_text()


def test_the_lock_dies_with_its_holder(tmp_path):
    """flock belongs to the process: a holder killed with SIGKILL frees the home at once."""
    home = tmp_path / "h"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from flux.homelock import HomeLock;"
            " HomeLock.acquire(Path(sys.argv[1])).record(api_port=1, gateway_port=2);"
            " print('held', flush=True); time.sleep(60)",
            str(home),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(HomeBusy) as err:
            HomeLock.acquire(home)
        assert err.value.message.endswith(
            f"(pid {holder.pid}, api port 1, gateway port 2); stop it first, or use another --home"
        )
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    lock = HomeLock.acquire(home)
    try:
        fd = os.open(home / "flux.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        lock.release()

"""Secrets and names on a real `flux up` (SPEC §11.7): the admin token never reaches redirected
output, is reused across restarts and printed in full only once on a terminal; personal tokens
are listed and revoked with the CLI, a revoked token is refused at once, a user sees and
revokes only their own; custom domains must be public DNS names."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import psycopg
import pytest

from flux.catalog import tokens, users
from flux.cli.user_config import config_path, load_user_config
from flux.devserver import FLUX
from flux.embedded import load_state

SHOWN = {"id", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"}


def _admin_token(platform) -> str:
    return load_user_config(config_path(platform.up.home))["token"]


def _verify(platform, token: str) -> int:
    res = platform.http.get(
        f"{platform.up.api_base}/cli/v1/auth/verify", headers={"Authorization": f"Bearer {token}"}
    )
    return res.status_code


def _fails(result: subprocess.CompletedProcess, fragment: str) -> str:
    text = result.stdout + result.stderr
    assert result.returncode == 1 and fragment in text and "Traceback" not in text, text
    return text


def test_redirected_first_start_shows_a_preview_never_the_token(platform):
    token = _admin_token(platform)
    log = platform.up.output.read_text()
    assert "Flux is up." in log
    assert token not in log
    assert f"API token:     {token[:13]}…   (new; saved to {config_path(platform.up.home)})" in log


def test_personal_tokens_list_create_revoke(platform):
    admin = _admin_token(platform)
    listed = json.loads(platform.ok("token", "list", "--json"))["tokens"]
    assert all(set(row) == SHOWN for row in listed)
    assert [row["name"] for row in listed] == ["flux up bootstrap"]
    assert listed[0]["prefix"] == admin[:13] + "…" and listed[0]["lastUsedAt"]

    created = platform.up.cli("token", "create", "ci")
    assert created.returncode == 0, created.stderr
    ci = created.stdout.strip()
    assert ci.startswith("flx_live_") and "shown once" in created.stderr
    assert "admin@localhost" in platform.ok("--token", ci, "whoami")
    table = platform.ok("token", "list")
    assert "ci" in table and ci[:13] in table and ci not in table and admin not in table

    revoked = platform.ok("token", "revoke", ci[:13])
    assert "Revoked token" in revoked and "(ci, " in revoked
    # immediate, for the API and the CLI; the other token is unaffected
    assert _verify(platform, ci) == 401
    _fails(platform.up.cli("--token", ci, "whoami"), "invalid or missing API token")
    assert _verify(platform, admin) == 200
    rows = json.loads(platform.ok("token", "list", "--json"))["tokens"]
    assert [(r["name"], bool(r["revokedAt"])) for r in rows] == [
        ("flux up bootstrap", False),
        ("ci", True),
    ]
    _fails(platform.up.cli("token", "revoke", str(rows[1]["id"])), "already revoked")


def test_a_user_sees_and_revokes_only_their_own_tokens(platform):
    with psycopg.connect(load_state(platform.up.flux_home).catalog_conninfo()) as conn:
        conn.row_factory = psycopg.rows.dict_row
        other = users.create_user(conn, "other@example.com", None)
        other_token = tokens.create_token(conn, other.id, "theirs")
    admin_rows = json.loads(platform.ok("token", "list", "--json"))["tokens"]
    theirs = json.loads(platform.ok("--token", other_token, "token", "list", "--json"))["tokens"]
    assert [r["name"] for r in theirs] == ["theirs"]
    assert not {r["id"] for r in theirs} & {r["id"] for r in admin_rows}
    for row in admin_rows:  # by id and by prefix: not theirs, so not found
        _fails(
            platform.up.cli("--token", other_token, "token", "revoke", str(row["id"])),
            "no token of yours",
        )
    res = platform.http.delete(
        f"{platform.up.api_base}/cli/v1/tokens/{admin_rows[0]['id']}",
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert res.status_code == 404
    assert _verify(platform, _admin_token(platform)) == 200


@pytest.fixture(scope="module")
def domain_tenant(platform):
    return platform.create("domains")


@pytest.mark.parametrize(
    ("hostname", "why"),
    [
        ("127.0.0.1", "IP address"),
        ("0x7f.1", "IP address"),
        ("[::1]", "IP address"),
        ("localhost", "special-use"),
        ("api.localhost", "special-use"),
    ],
)
def test_custom_domains_refuse_ips_and_local_names(platform, domain_tenant, hostname, why):
    result = platform.up.cli(
        "domains", "add", hostname, "-p", domain_tenant.slug, "--hash", domain_tenant.hash
    )
    assert _fails(result, why).startswith("error: ")


def test_custom_domains_accept_public_names(platform, domain_tenant):
    """After the refusals above: only the public name was stored."""
    tenant = domain_tenant
    platform.ok("domains", "add", "API.Example.com.", "-p", tenant.slug, "--hash", tenant.hash)
    listed = json.loads(
        platform.ok("domains", "list", "-p", tenant.slug, "--hash", tenant.hash, "--json")
    )
    assert [d["hostname"] for d in listed["domains"]] == ["api.example.com"]


def _pty_up(env: dict[str, str], cwd, timeout: float = 60) -> str:
    """Run `flux up` on a terminal until it is up, then Ctrl-C; everything it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        FLUX + ["up"], env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while b"Try: flux create" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
            assert proc.poll() is None, seen.decode(errors="replace")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
    return seen.decode(errors="replace")


def test_restart_reuses_the_token_and_a_terminal_sees_a_new_one_once(platform, tmp_path):
    """Last in the module: restarts the platform."""
    up = platform.up
    admin = _admin_token(platform)
    config = (up.home / ".flux" / "config.json").read_bytes()
    count = len(json.loads(platform.ok("token", "list", "--json"))["tokens"])
    logged = len(up.output.read_text())

    assert up.stop() == 0
    up.start(timeout=60)
    after = up.output.read_text()[logged:]
    assert f"API token:     {admin[:13]}…   (in {config_path(up.home)})" in after
    assert admin not in after
    assert (up.home / ".flux" / "config.json").read_bytes() == config
    assert len(json.loads(platform.ok("token", "list", "--json"))["tokens"]) == count

    # another user account (no stored token) on a terminal: minted, shown in full once
    assert up.stop() == 0
    home = tmp_path / "someone"
    home.mkdir()
    shown = _pty_up({**up.env, "HOME": str(home)}, up.root)
    fresh = load_user_config(config_path(home))["token"]
    assert fresh != admin
    assert f"API token:     {fresh}   (shown once; saved to {config_path(home)})" in shown

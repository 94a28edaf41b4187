"""The foundation workflow as a new user runs it: flux up, then the CLI in another terminal."""

from __future__ import annotations

import json
import re

import jwt

pytestmark = __import__("pytest").mark.slow


def _ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _fails(result, *fragments):
    assert result.returncode != 0, result.stdout
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_up_create_list_credentials_mint_restart(flux_up):
    assert "admin@localhost" in _ok(flux_up.cli("whoami"))

    out = _ok(flux_up.cli("create", "percept"))
    h = re.search(r"\b([0-9a-f]{7})\b", out).group(1)
    port = flux_up.gateway_port
    assert "percept" in out and "v2_shared" in out
    assert f"http://api--percept--{h}.localhost:{port}" in out
    assert f"http://127.0.0.1:{port}/api--percept--{h}" in out

    listed = json.loads(_ok(flux_up.cli("list", "--json")))
    rows = listed["projects"] if isinstance(listed, dict) else listed
    assert [(p["slug"], p["hash"]) for p in rows] == [("percept", h)]
    assert f"api--percept--{h}" in _ok(flux_up.cli("list"))

    creds = json.loads(_ok(flux_up.cli("project", "credentials", "percept", "--hash", h, "--json")))
    secret = creds["jwtSecret"]
    assert len(secret.encode()) >= 32
    assert (
        _ok(
            flux_up.cli("project", "credentials", "percept", "--hash", h, "--field", "jwtSecret")
        ).strip()
        == secret
    )
    token = (
        _ok(
            flux_up.cli(
                "token", "mint", "-p", "percept", "--hash", h, "--sub", "u1", "--claim", "team=7"
            )
        )
        .strip()
        .splitlines()[-1]
    )
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "u1" and claims["team"] == 7 and claims["exp"] > claims["iat"]

    # Ctrl-C stops everything; nothing of ours survives
    assert flux_up.stop() == 0
    assert flux_up.postgres_pids() == []
    cold = flux_up.start()
    assert cold < 10
    rows = json.loads(_ok(flux_up.cli("list", "--json")))
    rows = rows["projects"] if isinstance(rows, dict) else rows
    assert [p["hash"] for p in rows] == [h]


def test_init_rewrites_placeholder_flux_json(flux_up, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "flux.json").write_text(
        json.dumps({"slug": "my-site", "hash": "REPLACE_AFTER_FLUX_INIT"})
    )
    _fails(flux_up.cli("project", "credentials", cwd=repo), "flux init")
    _ok(flux_up.cli("init", cwd=repo))
    manifest = json.loads((repo / "flux.json").read_text())
    assert manifest["slug"] == "my-site" and re.fullmatch(r"[0-9a-f]{7}", manifest["hash"])
    text = (repo / "flux.json").read_text().lower()
    assert "secret" not in text and "token" not in text
    creds = json.loads(_ok(flux_up.cli("project", "credentials", "--json", cwd=repo)))
    assert creds["jwtSecret"]
    # linking again keeps the same project
    _ok(flux_up.cli("init", cwd=repo))
    assert json.loads((repo / "flux.json").read_text())["hash"] == manifest["hash"]


def test_bad_input_gets_one_clear_line(flux_up, tmp_path):
    _fails(flux_up.cli("create", "!!!"), "no letters or digits")
    _fails(flux_up.cli("create", ""))
    _ok(flux_up.cli("create", "taken"))
    _fails(flux_up.cli("create", "Taken"), "taken")
    _fails(flux_up.cli("project", "credentials", "nosuch"), "nosuch")
    _fails(flux_up.cli("project", "credentials", "taken", "--hash", "abcdef0"))
    listed = json.loads(_ok(flux_up.cli("list", "--json")))
    rows = listed["projects"] if isinstance(listed, dict) else listed
    h = rows[0]["hash"]
    _fails(flux_up.cli("project", "credentials", "other", "--hash", h), "taken")
    _fails(flux_up.cli("whoami", env={"FLUX_API_TOKEN": "flx_live_bogus"}), "flux login")
    dead = "http://127.0.0.1:9/api"
    _fails(flux_up.cli("whoami", env={"FLUX_API_BASE": dead}), dead)

"""Attack-test fixtures: one real `flux up` per test module, tenants created and pushed to with
the real CLI, requests sent through the real gateway (path-form Service URLs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest

from flux.devserver import FluxUp


@dataclass
class Tenant:
    """One project as its owner sees it: slug, hash, JWT secret, schema and Service URL."""

    slug: str
    hash: str
    mode: str
    jwt_secret: str
    schema: str
    url: str  # path-form Service URL
    extra: dict = field(default_factory=dict)

    def token(self, sub: str = "user-1", ttl: int = 300, **claims) -> str:
        now = int(time.time())
        payload = {"sub": sub, "role": "authenticated", "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(payload, self.jwt_secret, algorithm="HS256")

    def headers(self, sub: str = "user-1", **claims) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, **claims)}"}


class Platform:
    """A running `flux up` plus helpers to act as its users."""

    def __init__(self, up: FluxUp) -> None:
        self.up = up
        self.http = httpx.Client(timeout=60)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.up.gateway_port}"

    def ok(self, *args: str, cwd: Path | None = None, timeout: float = 120) -> str:
        result = self.up.cli(*args, cwd=cwd, timeout=timeout)
        assert result.returncode == 0, f"flux {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def create(self, name: str, mode: str = "v2_shared") -> Tenant:
        answer = json.loads(self.ok("create", name, "--mode", mode, "--json"))
        project = answer["project"]
        creds = json.loads(
            self.ok("project", "credentials", project["slug"], "--hash", project["hash"], "--json")
        )
        secret = creds.get("jwtSecret") or creds.get("jwt_secret")
        return Tenant(
            slug=project["slug"],
            hash=project["hash"],
            mode=project["mode"],
            jwt_secret=secret,
            schema=project.get("apiSchema") or creds.get("apiSchema"),
            url=f"{self.gateway}/api--{project['slug']}--{project['hash']}",
            extra=creds,
        )

    def push(self, tenant: Tenant, sql: str, name: str | None = None, *, check: bool = True):
        """Push `sql` as one raw migration file of `tenant`; the CompletedProcess."""
        folder = self.up.root / f"sql-{tenant.slug}"
        folder.mkdir(exist_ok=True)
        path = folder / (name or f"{time.monotonic_ns()}.sql")
        path.write_text(sql)
        result = self.up.cli("push", str(path), "-p", tenant.slug, "--hash", tenant.hash)
        if check:
            assert result.returncode == 0, f"push failed:\n{result.stdout}\n{result.stderr}"
        return result

    def rpc(self, tenant: Tenant, fn: str, args: dict | None = None, **kw) -> httpx.Response:
        return self.http.post(
            f"{tenant.url}/rpc/{fn}", json=args or {}, headers=tenant.headers(), **kw
        )

    def get(self, tenant: Tenant, path: str, **kw) -> httpx.Response:
        headers = {**tenant.headers(), **kw.pop("headers", {})}
        return self.http.get(f"{tenant.url}/{path.lstrip('/')}", headers=headers, **kw)

    def close(self) -> None:
        self.http.close()


class _FluxUp(FluxUp):
    """`flux up` with extra environment (a test module's `FLUX_UP_ENV`, e.g. lowered limits)."""

    def __init__(self, root: Path, templates: Path, extra_env: dict[str, str]) -> None:
        super().__init__(root, templates)
        self.extra_env = extra_env

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}


@pytest.fixture(scope="module")
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_templates: Path
):
    root = tmp_path_factory.mktemp("secup")
    up = _FluxUp(root, pg_templates, getattr(request.module, "FLUX_UP_ENV", {}))
    up.start(timeout=60)
    plat = Platform(up)
    yield plat
    plat.close()
    if up.proc is not None:
        up.stop()
    for pid in up.postgres_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(root / "state", ignore_errors=True)

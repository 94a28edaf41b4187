"""CLI test fixtures: an isolated user (HOME, cwd, no FLUX_* env) and a tiny real HTTP server
speaking the control-plane contract (docs: /work/briefs/api_contract.md) for the CLI to call.

The server is a test double of an HTTP peer only (in-memory projects, no database); the real
control plane gets its own end-to-end tests with `flux up`.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from flux.cli.app import app
from flux.postgres import free_port

from .contract_routes import extra_routes

TOKEN = "flx_live_testtoken0123456789"


@dataclass
class FakeControlPlane:
    """In-memory project store behind the contract routes."""

    base: str = ""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # the added routes (contract_routes.py): ledger rows and domains per hash, replies a test
    # substitutes, and the JSON bodies received
    ledger: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    domains: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    canned: dict[str, Any] = field(default_factory=dict)
    bodies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # the caller's API tokens as GET tokens lists them (contract_routes.py)
    tokens: list[dict[str, Any]] = field(default_factory=list)

    def add(self, slug: str, hash_: str | None = None, mode: str = "v2_shared") -> dict[str, Any]:
        hash_ = hash_ or secrets.token_hex(4)[:7]
        project = {
            "slug": slug,
            "hash": hash_,
            "mode": mode,
            "status": "running",
            "lifecycleState": "active",
            "plan": "free",
            "apiUrl": f"http://api--{slug}--{hash_}.localhost:8000",
            "apiUrlPath": f"http://127.0.0.1:8000/api--{slug}--{hash_}",
            "apiSchema": f"t_{hash_}00000_api" if mode == "v2_shared" else "api",
            "createdAt": "2025-01-01T00:00:00Z",
        }
        self.projects[hash_] = project
        self.secrets[hash_] = secrets.token_urlsafe(32)
        return project

    def reset(self) -> None:
        self.projects.clear()
        self.secrets.clear()
        self.requests.clear()
        self.ledger.clear()
        self.domains.clear()
        self.canned.clear()
        self.bodies.clear()
        self.tokens.clear()


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    body = {"error": message} | ({"hint": hint} if hint else {})
    return JSONResponse(body, status_code=status)


def build_app(state: FakeControlPlane) -> Starlette:
    async def guard(request: Request) -> JSONResponse | None:
        state.requests.append((request.method, request.url.path, dict(request.headers)))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "invalid API token")
        return None

    async def verify(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        return JSONResponse(
            {
                "ok": True,
                "user": {"id": 1, "email": "admin@localhost"},
                "plan": "free",
                "defaultMode": "v2_shared",
            }
        )

    async def list_projects(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        return JSONResponse({"projects": list(state.projects.values())})

    async def create(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        body = await request.json()
        slug = re.sub(r"[^a-z0-9]+", "-", str(body.get("name", "")).lower()).strip("-")
        if not slug:
            return _error(422, "project name has no letters or digits")
        if any(p["slug"] == slug for p in state.projects.values()):
            return _error(409, f"a project with slug '{slug}' already exists")
        project = state.add(slug, mode=body.get("mode", "v2_shared"))
        return JSONResponse(
            {"project": project, "secrets": {"jwtSecret": state.secrets[project["hash"]]}},
            status_code=201,
        )

    async def init(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        body = await request.json()
        slug, hash_ = body["slug"], body.get("hash")
        extra: dict[str, Any] = {}
        if hash_:
            project = state.projects.get(hash_)
            if project is None:
                return _error(404, "project not found")
            if project["slug"] != slug:
                return _error(409, f"hash {hash_} belongs to '{project['slug']}', not '{slug}'")
            action = "linked"
        else:
            found = [p for p in state.projects.values() if p["slug"] == slug]
            if found:
                project, action = found[0], "linked"
            else:
                project, action = state.add(slug, mode=body.get("mode", "v2_shared")), "created"
                extra = {"secrets": {"jwtSecret": state.secrets[project["hash"]]}}
        keys = ("slug", "hash", "mode", "apiUrl", "apiSchema")
        return JSONResponse({"action": action, **{k: project[k] for k in keys}, **extra})

    async def describe(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        project = state.projects.get(request.path_params["hash"])
        if project is None:
            return _error(404, "project not found")
        return JSONResponse({"project": project})

    async def credentials(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        hash_ = request.path_params["hash"]
        project = state.projects.get(hash_)
        if project is None:
            return _error(404, "project not found")
        return JSONResponse(
            {
                "mode": project["mode"],
                "jwtSecret": state.secrets[hash_],
                "apiUrl": project["apiUrl"],
                "apiUrlPath": project["apiUrlPath"],
                "apiSchema": project["apiSchema"],
                "howToMint": "sign HS256 {sub, role: authenticated, exp} with jwtSecret",
            }
        )

    prefix = "/api/cli/v1"
    return Starlette(
        routes=[
            Route(f"{prefix}/auth/verify", verify),
            Route(f"{prefix}/list", list_projects),
            Route(f"{prefix}/create", create, methods=["POST"]),
            Route(f"{prefix}/init", init, methods=["POST"]),
            Route(f"{prefix}/projects/{{hash}}", describe),
            Route(f"{prefix}/projects/{{hash}}/credentials", credentials),
            *extra_routes(state, guard, _error, prefix),
        ]
    )


@pytest.fixture(scope="session")
def _control_server() -> Iterator[FakeControlPlane]:
    state = FakeControlPlane()
    port = free_port()
    config = uvicorn.Config(
        build_app(state),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake control plane did not start")
        time.sleep(0.02)
    state.base = f"http://127.0.0.1:{port}/api"
    yield state
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def control(_control_server: FakeControlPlane) -> Iterator[FakeControlPlane]:
    """The fake control plane, emptied for this test."""
    _control_server.reset()
    yield _control_server
    _control_server.reset()


@pytest.fixture(autouse=True)
def isolated_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME and working folder, with no FLUX_* variables from the outer shell."""
    for name in list(os.environ):
        if name.startswith("FLUX_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def logged_in(control: FakeControlPlane, monkeypatch: pytest.MonkeyPatch) -> FakeControlPlane:
    """The CLI pointed at the fake control plane with a valid token (through the env)."""
    monkeypatch.setenv("FLUX_API_BASE", control.base)
    monkeypatch.setenv("FLUX_API_TOKEN", TOKEN)
    return control


class Flux:
    """Runs `flux ...` in-process and returns the click Result."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # noqa: A002
        return self.runner.invoke(app, list(args), input=input)


@pytest.fixture
def flux() -> Flux:
    return Flux()

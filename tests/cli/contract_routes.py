"""The added control-plane routes (push, ledger, lifecycle, env, domains, doctor, secret
rotation, delete, personal tokens) for the CLI's HTTP test double in conftest.py, per the API contract.

Replies are in-memory and simple; a test can replace one with `control.canned[key]` (keys:
"push", "doctor"). Every JSON body received is appended to `control.bodies` as
(method, path with query, body) so tests can assert what the CLI sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from .conftest import FakeControlPlane

Guard = Callable[[Request], Awaitable[JSONResponse | None]]
ErrorFn = Callable[..., JSONResponse]

LIFECYCLE = {
    "start": "running",
    "stop": "stopped",
    "repair": "running",
    "suspend": "suspended",
    "resume": "active",
}

PLANS = [
    {
        "name": "free",
        "default": True,
        "rateLimitPerMinute": 600,
        "statementTimeoutMs": 5000,
        "connectionLimit": 5,
        "maxRows": 1000,
    },
    {
        "name": "enterprise",
        "default": False,
        "rateLimitPerMinute": 60000,
        "statementTimeoutMs": 60000,
        "connectionLimit": 50,
        "maxRows": None,
    },
]


def default_push_report(body: dict[str, Any]) -> dict[str, Any]:
    """Every file applied (or, for a plan, would apply)."""
    names = [f["filename"] for f in body.get("files") or []]
    planning = body.get("plan") or body.get("dryRun")
    if planning:
        lines = [f"→ {n} would apply (1 create)" for n in names]
        title = "Plan" if body.get("plan") else "Dry run"
        lines.append(f"{title}: {len(names)} to apply, 0 skipped, 0 blocked.")
    else:
        lines = [text for n in names for text in (f"→ {n} applying...", f"✓ {n} applied")]
        lines.append(f"Done. {len(names)} applied, 0 skipped.")
    return {
        "ok": True,
        "exitCode": 0,
        "operation": "plan" if body.get("plan") else "dry_run" if planning else "push",
        "engine": "v2_shared",
        "mode": body.get("mode"),
        "applied": 0 if planning else len(names),
        "skipped": 0,
        "files": [{"name": n} for n in names],
        "lines": lines,
        "errors": [],
        "warnings": [],
        "missingLocally": [],
    }


def extra_routes(state: FakeControlPlane, guard: Guard, error: ErrorFn, prefix: str) -> list[Route]:
    async def owned(request: Request) -> tuple[dict[str, Any] | None, JSONResponse | None]:
        if denied := await guard(request):
            return None, denied
        project = state.projects.get(request.path_params["hash"])
        if project is None:
            return None, error(404, "project not found")
        return project, None

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = await request.json() if raw else {}
        query = f"?{request.url.query}" if request.url.query else ""
        state.bodies.append((request.method, request.url.path + query, body))
        return body

    async def push(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        body = await body_of(request)
        if body.get("mode") not in ("raw", "versioned", "repeatable") or not body.get("files"):
            return error(422, "invalid request: mode and files are required")
        project = state.projects.get(body.get("hash", ""))
        if project is None:
            return error(404, "project not found")
        if body.get("slug") and body["slug"] != project["slug"]:
            return error(409, f"hash {project['hash']} belongs to '{project['slug']}'")
        return JSONResponse(state.canned.get("push") or default_push_report(body))

    async def ledger(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        rows = state.ledger.get(project["hash"], [])
        return JSONResponse({"slug": project["slug"], "hash": project["hash"], "migrations": rows})

    async def lifecycle(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        action = (await body_of(request)).get("action")
        if action not in LIFECYCLE:
            return error(422, f"unknown action {action!r}")
        if action in ("start", "stop", "repair") and project["mode"] != "v1_dedicated":
            return error(
                422,
                f"{action} applies to projects with their own processes (v1_dedicated); "
                f"'{project['slug']}' is {project['mode']}",
                "use suspend/resume for v2_shared projects",
            )
        project["status"] = LIFECYCLE[action]
        done = ["restarted the REST process"] if action == "repair" else []
        return JSONResponse(
            {
                "slug": project["slug"],
                "hash": project["hash"],
                "action": action,
                "status": project["status"],
                "done": done,
            }
        )

    async def env(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        if project["mode"] != "v1_dedicated":
            return error(
                422,
                f"'{project['slug']}' is {project['mode']}: it has no REST process of its own",
                "v2_shared projects are served by the shared REST pool behind the gateway",
            )
        return JSONResponse(
            {
                "slug": project["slug"],
                "hash": project["hash"],
                "env": {
                    "PGRST_DB_URI": "postgresql://authenticator:********@127.0.0.1:5433/postgres",
                    "PGRST_DB_SCHEMAS": "api",
                    "PGRST_DB_ANON_ROLE": "anon",
                    "PGRST_JWT_SECRET": "********",
                },
            }
        )

    async def domains(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        attached = state.domains.setdefault(project["hash"], [])
        if request.method == "GET":
            return JSONResponse({"domains": attached})
        host = str((await body_of(request)).get("hostname", "")).strip().lower()
        if "." not in host or host.endswith("localhost"):
            return error(422, f"{host!r} is not a valid hostname", "e.g. api.example.com")
        if any(d["hostname"] == host for ds in state.domains.values() for d in ds):
            return error(409, f"{host} is already attached to a project")
        attached.append({"hostname": host, "createdAt": "2025-01-02T00:00:00+00:00"})
        return JSONResponse(
            {"hostname": host, "slug": project["slug"], "hash": project["hash"]}, status_code=201
        )

    async def remove_domain(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        host = request.path_params["hostname"]
        attached = state.domains.get(project["hash"], [])
        if not any(d["hostname"] == host for d in attached):
            return error(404, f"{host} is not attached to {project['slug']}")
        state.domains[project["hash"]] = [d for d in attached if d["hostname"] != host]
        return JSONResponse({"deleted": True, "hostname": host})

    async def doctor(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        checks = state.canned.get("doctor") or [
            {"name": "schema", "status": "PASS", "message": "tenant schema ok", "remediation": ""}
        ]
        worst = next((s for s in ("FAIL", "WARN") if any(c["status"] == s for c in checks)), "PASS")
        return JSONResponse(
            {"slug": project["slug"], "hash": project["hash"], "status": worst, "checks": checks}
        )

    async def rotate(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        await body_of(request)
        state.secrets[project["hash"]] = secrets.token_urlsafe(32)
        return JSONResponse({"jwtSecret": state.secrets[project["hash"]]})

    async def destroy(request: Request) -> JSONResponse:
        project, denied = await owned(request)
        if denied:
            return denied
        await body_of(request)
        del state.projects[project["hash"]]
        return JSONResponse({"deleted": True, "slug": project["slug"], "hash": project["hash"]})

    async def tokens(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        if request.method == "GET":
            return JSONResponse({"tokens": state.tokens})
        name = str((await body_of(request)).get("name", "")).strip()
        if not name:
            return error(422, "invalid request: name: must be non-blank printable text")
        token = "flx_live_" + secrets.token_urlsafe(32)
        row = {
            "id": len(state.tokens) + 1,
            "name": name,
            "prefix": token[:13] + "…",
            "createdAt": "2025-01-02T00:00:00+00:00",
            "lastUsedAt": None,
            "revokedAt": None,
        }
        state.tokens.append(row)
        return JSONResponse({**row, "token": token}, status_code=201)

    async def revoke_token(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        await body_of(request)
        wanted = request.path_params["id"]
        row = next((t for t in state.tokens if str(t["id"]) == wanted), None)
        if row is None:
            return error(404, f"token {wanted} not found", "see `flux token list`")
        if row["revokedAt"]:
            return error(409, f"token {wanted} is already revoked")
        row["revokedAt"] = "2025-01-03T00:00:00+00:00"
        return JSONResponse({"revoked": True, **row})

    async def list_plans(request: Request) -> JSONResponse:
        if denied := await guard(request):
            return denied
        return JSONResponse(
            {
                "default": "free",
                "plans": PLANS,
                "quota": {"owned": len(state.projects), "limit": 100, "exempt": False},
            }
        )

    def not_admin(what: str) -> JSONResponse | None:
        if state.canned.get("admin", True):
            return None
        return error(
            403, f"only an admin can {what}", "plans and quotas are assigned by the operator"
        )

    async def assign_plan(request: Request) -> JSONResponse:
        if denied := await guard(request) or not_admin("assign a plan to a project"):
            return denied
        project, missing = await owned(request)
        if missing:
            return missing
        plan = (await body_of(request)).get("plan")
        names = sorted(p["name"] for p in PLANS)
        if plan not in names:
            return error(422, f"unknown plan {plan!r}", f"use one of: {', '.join(names)}")
        previous = project["plan"]
        project["plan"] = plan
        return JSONResponse({"project": project, "previous": previous, "changed": plan != previous})

    async def quota(request: Request) -> JSONResponse:
        if denied := await guard(request) or not_admin("set a user's project quota"):
            return denied
        body = await body_of(request)
        return JSONResponse({"email": body.get("email"), "projectQuota": body.get("quota")})

    one = f"{prefix}/projects/{{hash}}"
    return [
        Route(f"{prefix}/plans", list_plans),
        Route(f"{one}/plan", assign_plan, methods=["POST"]),
        Route(f"{prefix}/users/quota", quota, methods=["POST"]),
        Route(f"{prefix}/push", push, methods=["POST"]),
        Route(f"{one}/migrations", ledger),
        Route(f"{one}/lifecycle", lifecycle, methods=["POST"]),
        Route(f"{one}/env", env),
        Route(f"{one}/domains", domains, methods=["GET", "POST"]),
        Route(f"{one}/domains/{{hostname}}", remove_domain, methods=["DELETE"]),
        Route(f"{one}/doctor", doctor, methods=["POST"]),
        Route(f"{one}/secrets/rotate", rotate, methods=["POST"]),
        Route(one, destroy, methods=["DELETE"]),
        Route(f"{prefix}/tokens", tokens, methods=["GET", "POST"]),
        Route(f"{prefix}/tokens/{{id}}", revoke_token, methods=["DELETE"]),
    ]

"""Project commands: `flux create`, `flux list`, `flux init`, `flux project credentials`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.manifest import MANIFEST_NAME, find_manifest, write_manifest
from flux.cli.options import HashOption, JsonOption, Mode, ModeOption, SlugArgument
from flux.cli.project_ref import normalize_hash, select_project
from flux.cli.settings import CliSettings
from flux.cli.state import get_state
from flux.errors import FluxError
from flux.naming import is_valid_slug, slugify

project_app = typer.Typer(help="Inspect one project.", no_args_is_help=True)

# secret fields → the env var name an app expects
_SECRET_ENV = {
    "jwtSecret": "FLUX_GATEWAY_JWT_SECRET",
    "anonKey": "FLUX_ANON_KEY",
    "serviceRoleKey": "FLUX_SERVICE_ROLE_KEY",
}


def env_name(path: str) -> str:
    """The env var an app reads a credential field from (jwtSecret → FLUX_GATEWAY_JWT_SECRET)."""
    if path in _SECRET_ENV:
        return _SECRET_ENV[path]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).replace(".", "_")
    return f"FLUX_{snake.upper()}"


def _mode_value(
    mode: Mode | None, settings: CliSettings, fallback: str | None = None
) -> str | None:
    """--mode, else `fallback` (e.g. flux.json), else FLUX_DEFAULT_MODE; validated."""
    value = mode.value if mode else (fallback or settings.default_mode)
    if value is not None and value not in {m.value for m in Mode}:
        raise FluxError(
            f"unknown mode {value!r}",
            code="bad_mode",
            hint="use v2_shared or v1_dedicated (check FLUX_DEFAULT_MODE)",
        )
    return value


def _print_summary(title: str, project: dict[str, Any]) -> None:
    labels = [
        ("slug", "slug"),
        ("hash", "hash"),
        ("mode", "mode"),
        ("status", "status"),
        ("Service URL", "apiUrl"),
        ("path form", "apiUrlPath"),
        ("API schema", "apiSchema"),
    ]
    output.key_values(title, [(label, project[key]) for label, key in labels if project.get(key)])


def _print_app_env(project: dict[str, Any], secrets: dict[str, Any] | None) -> None:
    """The env lines an app needs; secrets are shown this once, with a warning."""
    output.line()
    output.line("Environment for your app:", style="bold")
    output.line(f"FLUX_URL={project.get('apiUrl', '')}")
    if project.get("apiUrlPath"):
        output.line(
            f"# without wildcard DNS (Python, Node): FLUX_URL={project['apiUrlPath']}", style="dim"
        )
    flat = output.flatten(secrets or {})
    for path, value in flat.items():
        output.line(f"{env_name(path)}={value}")
    if flat:
        output.warn(
            "secrets are shown only once; store them now "
            "(`flux project credentials` shows them again to the owner)"
        )


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name; the slug is derived from it.")],
    mode: ModeOption = None,
    plan: Annotated[str | None, typer.Option(help="Plan name (free, pro, enterprise).")] = None,
    json_: JsonOption = False,
) -> None:
    """Create a project and print its Service URL and the env lines your app needs."""
    slugify(name)  # cheap client-side check; the server stays the authority
    state = get_state(ctx)
    body: dict[str, Any] = {"name": name, "mode": _mode_value(mode, state.settings) or "v2_shared"}
    if plan:
        body["plan"] = plan
    with state.client() as client, output.working(f"Creating project {name} ({body['mode']})"):
        answer = client.post("create", body)
    if json_:
        output.print_json(answer)
        return
    project = answer.get("project") or {}
    _print_summary(f"Created project {project.get('slug')}", project)
    _print_app_env(project, answer.get("secrets"))
    output.note(
        f"Mint a test token: flux token mint -p {project.get('slug')} --hash {project.get('hash')}"
    )


def list_projects(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List your projects."""
    with get_state(ctx).client() as client:
        answer = client.get("list")
    projects = [p for p in answer.get("projects") or [] if isinstance(p, dict)]
    if json_:
        output.print_json({"projects": projects})
        return
    if not projects:
        output.line("No projects yet. Create one with `flux create <name>`.")
        return
    with_path = any(p.get("apiUrlPath") for p in projects)
    columns = ["slug", "hash", "mode", "status", "Service URL"] + (
        ["path form"] if with_path else []
    )
    rows = []
    for p in projects:
        row = [p.get("slug"), p.get("hash"), p.get("mode"), p.get("status"), p.get("apiUrl")]
        rows.append(row + ([p.get("apiUrlPath")] if with_path else []))
    output.rows_table(columns, rows)


def init(
    ctx: typer.Context,
    slug: SlugArgument = None,
    hash_: HashOption = None,
    mode: ModeOption = None,
    json_: JsonOption = False,
) -> None:
    """Link this folder to a project (or create it) and write flux.json (never secrets)."""
    manifest = find_manifest(Path.cwd())
    target = manifest.path if manifest else Path.cwd() / MANIFEST_NAME
    previous = manifest.data if manifest else {}
    known_slug = manifest.slug if manifest else None
    slug = slug or known_slug or slugify(target.parent.name)
    if not is_valid_slug(slug):
        raise FluxError(
            f"invalid slug {slug!r}",
            code="bad_slug",
            hint="slugs are lower-case letters, digits and single dashes, e.g. my-app",
        )
    if hash_:
        hash_ = normalize_hash(hash_)
    elif manifest and manifest.hash and not manifest.has_placeholder_hash and slug == known_slug:
        hash_ = normalize_hash(manifest.hash)
    state = get_state(ctx)
    body: dict[str, Any] = {"slug": slug}
    if hash_:
        body["hash"] = hash_
    mode_value = _mode_value(mode, state.settings, manifest.mode if manifest else None)
    if mode_value:
        body["mode"] = mode_value
    with state.client() as client, output.working(f"Linking {slug} (creating it if needed)"):
        answer = client.post("init", body)
    write_manifest(target, answer, previous)
    if json_:
        output.print_json({**answer, "manifest": str(target)})
        return
    verb = "Created" if answer.get("action") == "created" else "Linked"
    _print_summary(f"{verb} project {answer.get('slug')} → {target}", answer)
    if answer.get("secrets"):
        _print_app_env(answer, answer.get("secrets"))


def _field(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            valid = ", ".join(output.flatten(data))
            raise FluxError(
                f"unknown field {path!r}", code="bad_field", hint=f"valid fields: {valid}"
            )
        value = value[part]
    return value


@project_app.command("credentials")
def credentials(
    ctx: typer.Context,
    slug: SlugArgument = None,
    hash_: HashOption = None,
    field: Annotated[
        str | None, typer.Option(help="Print one value, e.g. jwtSecret or postgres.password.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Show a project's credentials (JWT secret; Postgres URL and keys on v1)."""
    state = get_state(ctx)
    with state.client() as client:
        ref = select_project(client, slug, hash_)
        answer = client.get(f"projects/{ref.hash}/credentials")
    if field:
        value = _field(answer, field)
        if json_:
            output.print_json(value)
        else:
            output.line(value if isinstance(value, str) else json.dumps(value))
        return
    if json_:
        output.print_json(answer)
        return
    how_to_mint = answer.get("howToMint")
    rows = [(k, v) for k, v in output.flatten(answer).items() if k != "howToMint"]
    output.key_values(f"Credentials for {ref.slug or ref.hash} ({ref.hash})", rows)
    selector = f"-p {ref.slug} --hash {ref.hash}" if ref.slug else f"--hash {ref.hash}"
    output.line()
    output.line("How to mint tokens:", style="bold")
    output.line(str(how_to_mint or f"flux token mint {selector} --sub <user-id> --ttl 1h"))


def register(app: typer.Typer) -> None:
    app.command()(create)
    app.command("list")(list_projects)
    app.command()(init)
    app.add_typer(project_app, name="project")

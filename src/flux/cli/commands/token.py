"""`flux token ...`: project JWTs and personal API tokens.

`mint` signs a project JWT locally (for curl and CI) and prints it alone on stdout. `list`,
`create` and `revoke` manage the caller's own control-plane API tokens (`flx_live_…`) through
/api/cli/v1/tokens; a new token is printed once, on creation.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux.cli import output
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import select_project
from flux.cli.state import CliState, get_state
from flux.cli.tokens import DEFAULT_SUB, mint_project_token, parse_claims, parse_ttl
from flux.errors import FluxError

token_app = typer.Typer(
    help="Project JWTs (mint) and your personal API tokens (list, create, revoke).",
    no_args_is_help=True,
)


def _project_secret(state: CliState, project: str | None, hash_: str | None) -> str:
    """The signing secret: FLUX_GATEWAY_JWT_SECRET when no project is named explicitly
    (it belongs to the flux.json project), else the project's secret from the API."""
    if not (project or hash_) and state.settings.gateway_jwt_secret:
        return state.settings.gateway_jwt_secret
    with state.client() as client:
        ref = select_project(client, project, hash_)
        answer = client.get(f"projects/{ref.hash}/credentials")
    secret = answer.get("jwtSecret")
    if not isinstance(secret, str) or not secret:
        raise FluxError(
            f"project {ref.hash} has no JWT secret in its credentials",
            code="no_secret",
            hint="pass --secret or set FLUX_GATEWAY_JWT_SECRET",
        )
    return secret


@token_app.command("mint")
def mint(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project slug (default: flux.json).")
    ] = None,
    hash_: HashOption = None,
    sub: Annotated[str, typer.Option(help="The `sub` claim (auth.uid() in SQL).")] = DEFAULT_SUB,
    ttl: Annotated[str, typer.Option(help="Lifetime: 30s, 5m, 2h, 1d.")] = "5m",
    claim: Annotated[
        list[str] | None,
        typer.Option(help="Extra claim key=value (JSON values allowed); repeatable."),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="Sign with this secret instead of the project's.")
    ] = None,
) -> None:
    """Mint an HS256 project JWT (sub, role=authenticated, iat, exp) and print it."""
    ttl_seconds = parse_ttl(ttl)
    extra = parse_claims(claim or [])
    key = secret or _project_secret(get_state(ctx), project, hash_)
    output.line(mint_project_token(key, sub=sub, ttl_seconds=ttl_seconds, extra_claims=extra))


def _when(iso: object) -> str:
    """'2025-01-02T10:11:12.345+00:00' → '2025-01-02 10:11' ('' when absent)."""
    return str(iso)[:16].replace("T", " ") if iso else ""


def _describe(token: dict) -> str:
    return f"{token.get('id')} ({token.get('name')}, {token.get('prefix')})"


def pick_token(tokens: list[dict], ref: str) -> dict:
    """The token `ref` names: its id, or the start of its prefix preview (`flx_live_ab`)."""
    ref = ref.strip().removesuffix("…").removesuffix("...")
    if ref.isdigit():
        found = [t for t in tokens if str(t.get("id")) == ref]
    else:
        found = [t for t in tokens if ref and str(t.get("prefix", "")).startswith(ref)]
    if len(found) == 1:
        return found[0]
    if found:
        raise FluxError(
            f"{ref!r} matches several tokens: {', '.join(_describe(t) for t in found)}",
            code="ambiguous_token",
            hint="pass the token's id",
        )
    raise FluxError(
        f"no token of yours matches {ref!r}",
        code="unknown_token",
        hint="`flux token list` shows ids and prefixes",
    )


@token_app.command("list")
def list_tokens(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List your API tokens: id, name, prefix, created, last used, revoked (never the token)."""
    with get_state(ctx).client() as client:
        tokens = client.get("tokens").get("tokens") or []
    if json_:
        output.print_json({"tokens": tokens})
        return
    output.rows_table(
        ["id", "name", "prefix", "created", "last used", "revoked"],
        [
            [
                t.get("id"),
                t.get("name"),
                t.get("prefix"),
                _when(t.get("createdAt")),
                _when(t.get("lastUsedAt")),
                _when(t.get("revokedAt")),
            ]
            for t in tokens
        ],
    )


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'ci'.")],
    json_: JsonOption = False,
) -> None:
    """Create an API token for you and print it once (alone on stdout)."""
    with get_state(ctx).client() as client:
        answer = client.post("tokens", {"name": name})
    if json_:
        output.print_json(answer)
        return
    output.line(str(answer.get("token", "")))
    output.note(f"Token {_describe(answer)} is shown once: store it now.")


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token's id or prefix (see `flux token list`).")],
    json_: JsonOption = False,
) -> None:
    """Revoke one of your API tokens; it stops working at once."""
    state = get_state(ctx)
    with state.client() as client:
        chosen = pick_token(client.get("tokens").get("tokens") or [], token)
        answer = client.request("DELETE", f"tokens/{chosen['id']}")
    if json_:
        output.print_json(answer)
        return
    output.line(f"Revoked token {_describe(answer)}.")
    if state.settings.token and str(answer.get("prefix", "")).startswith(state.settings.token[:13]):
        output.warn("that looks like the token this CLI uses: `flux login` with another one")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

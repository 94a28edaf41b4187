"""`flux token mint`: a project JWT minted locally (for curl and CI), printed alone on stdout."""

from __future__ import annotations

from typing import Annotated

import typer

from flux.cli import output
from flux.cli.options import HashOption
from flux.cli.project_ref import select_project
from flux.cli.state import CliState, get_state
from flux.cli.tokens import DEFAULT_SUB, mint_project_token, parse_claims, parse_ttl
from flux.errors import FluxError

token_app = typer.Typer(help="Project JWTs for calling a Service URL.", no_args_is_help=True)


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


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

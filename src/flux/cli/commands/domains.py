"""`flux domains add|list|remove`: custom hostnames routed to a project's Service URL
(projects/{hash}/domains)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from flux.cli import output
from flux.cli.commands.selection import ProjectOption, fetch_project_resource, label
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import select_project
from flux.cli.state import get_state

domains_app = typer.Typer(help="Custom domains of a project.", no_args_is_help=True)

HostnameArgument = Annotated[str, typer.Argument(help="A hostname you own, e.g. api.example.com.")]


@domains_app.command("add")
def add(
    ctx: typer.Context,
    hostname: HostnameArgument,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Attach a hostname to the project."""
    with get_state(ctx).client() as client:
        ref = select_project(client, project, hash_)
        answer = client.post(f"projects/{ref.hash}/domains", {"hostname": hostname})
    if json_:
        output.print_json(answer)
        return
    output.line(f"Added {answer.get('hostname', hostname)} to {label(ref)}.")
    output.note("Point its DNS (A/CNAME) at the Flux gateway to route it.")


@domains_app.command("list")
def list_domains(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """List the hostnames attached to the project."""
    ref, answer = fetch_project_resource(ctx, project, hash_, "domains")
    domains = [d for d in answer.get("domains") or [] if isinstance(d, dict)]
    if json_:
        output.print_json({"domains": domains})
        return
    if not domains:
        output.line(f"No custom domains on {label(ref)}. Add one with `flux domains add <host>`.")
        return
    output.rows_table(
        ["hostname", "added at"], [[d.get("hostname"), d.get("createdAt")] for d in domains]
    )


@domains_app.command("remove")
def remove(
    ctx: typer.Context,
    hostname: HostnameArgument,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Detach a hostname from the project."""
    with get_state(ctx).client() as client:
        ref = select_project(client, project, hash_)
        answer = client.request("DELETE", f"projects/{ref.hash}/domains/{quote(hostname, safe='')}")
    if json_:
        output.print_json(answer)
        return
    output.line(f"Removed {answer.get('hostname', hostname)} from {label(ref)}.")


def register(app: typer.Typer) -> None:
    app.add_typer(domains_app, name="domains")

"""Project selection flags shared by the per-project commands (SPEC §5): an optional positional
slug and/or `--project/-p <slug>`, plus `--hash`, resolved by `project_ref.select_project`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flux.cli.client import ApiClient
from flux.cli.project_ref import ProjectRef, select_project
from flux.cli.state import get_state
from flux.errors import FluxError

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project slug (default: from flux.json).")
]


def choose(
    client: ApiClient, slug: str | None, project: str | None, hash_: str | None
) -> ProjectRef:
    """The project named by a positional slug or -p (they must agree), --hash, or flux.json."""
    if slug and project and slug != project:
        raise FluxError(
            f"two different projects named: '{slug}' and --project '{project}'",
            code="bad_args",
            hint="name the project once (positional slug or -p)",
        )
    return select_project(client, slug or project, hash_)


def label(ref: ProjectRef) -> str:
    """`slug (hash)` for messages, or just the hash when the slug is unknown."""
    return f"{ref.slug} ({ref.hash})" if ref.slug else ref.hash


def fetch_project_resource(
    ctx: typer.Context, project: str | None, hash_: str | None, resource: str
) -> tuple[ProjectRef, Any]:
    """Select the project and GET `projects/{hash}/{resource}` from the API."""
    with get_state(ctx).client() as client:
        ref = select_project(client, project, hash_)
        return ref, client.get(f"projects/{ref.hash}/{resource}")

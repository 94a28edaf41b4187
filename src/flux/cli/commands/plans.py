"""`flux plan list|set|quota`: the plans and their limits (GET plans), an admin moving a project
to another plan (POST projects/{hash}/plan) and an admin setting a user's project quota
(POST users/quota). The server decides who may do what; the CLI only shows its answer."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.commands.selection import label
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import select_project
from flux.cli.state import get_state

plan_app = typer.Typer(
    help="Plans (per-project limits) and project quotas; admins assign them.",
    no_args_is_help=True,
)


def _limit(value: Any, unit: str = "") -> str:
    return "unlimited" if value is None else f"{value}{unit}"


@plan_app.command("list")
def list_plans(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show the plans, their limits, and how many projects you may still create."""
    with get_state(ctx).client() as client:
        answer = client.get("plans")
    if json_:
        output.print_json(answer)
        return
    plans = [p for p in answer.get("plans") or [] if isinstance(p, dict)]
    output.rows_table(
        ["plan", "requests/min", "statement timeout", "connections", "max rows"],
        [
            [
                f"{p.get('name')} (default)" if p.get("default") else p.get("name"),
                _limit(p.get("rateLimitPerMinute")),
                _limit(p.get("statementTimeoutMs"), " ms"),
                _limit(p.get("connectionLimit")),
                _limit(p.get("maxRows")),
            ]
            for p in plans
        ],
    )
    quota = answer.get("quota") or {}
    allowed = "no quota (admin)" if quota.get("exempt") else f"{quota.get('limit', '?')} allowed"
    output.line(f"Your projects: {quota.get('owned', '?')}, {allowed}.")
    output.note("New projects start on the default plan; an admin assigns the others.")


@plan_app.command("set")
def set_plan(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Project slug (pass --hash for another user's).")],
    plan: Annotated[str, typer.Argument(help="Plan name, e.g. pro (see `flux plan list`).")],
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """Move a project to another plan (admins only); the gateway applies it at once."""
    with get_state(ctx).client() as client:
        ref = select_project(client, slug, hash_)
        answer = client.post(f"projects/{ref.hash}/plan", {"plan": plan})
    if json_:
        output.print_json(answer)
        return
    now = (answer.get("project") or {}).get("plan", plan)
    if answer.get("changed"):
        output.line(f"Moved {label(ref)} from {answer.get('previous')} to {now}.")
    else:
        output.line(f"{label(ref)} is already on {now}.")


@plan_app.command("quota")
def set_quota(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The user's email.")],
    projects: Annotated[int, typer.Argument(min=0, help="How many projects they may own.")],
    json_: JsonOption = False,
) -> None:
    """Set how many projects a user may own (admins only; the default is 100)."""
    with get_state(ctx).client() as client:
        answer = client.post("users/quota", {"email": email, "quota": projects})
    if json_:
        output.print_json(answer)
        return
    output.line(f"{answer.get('email', email)} may now own {answer.get('projectQuota')} projects.")


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")

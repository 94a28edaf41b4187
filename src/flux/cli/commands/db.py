"""`flux db password|url|shell|dump|restore` and `flux db access list|revoke` (issue 13).

v1 projects: the owner's credentials. v2 projects: each `password`, `url` or `shell` asks the
platform for a temporary login (read-only by default, 1 h; `--read-write` when the operator
allows it, 30 min; `--ttl` up to 8 h). `shell` runs psql with the password in a private
temporary password file (never on a command line, never in an environment variable); `dump`
downloads a pg_dump taken by the platform; `restore FILE` uploads an archive, which the
platform validates and test-restores, then restores it behind the backup gate.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from flux.cli import output
from flux.cli.client import LONG_TIMEOUT, ApiClient
from flux.cli.commands.backup import restore_report
from flux.cli.commands.confirm import confirm_by_typing
from flux.cli.commands.selection import ProjectOption, choose, label
from flux.cli.options import HashOption, JsonOption
from flux.cli.project_ref import ProjectRef
from flux.cli.state import get_state
from flux.errors import FluxError

db_app = typer.Typer(help="Direct database access: psql, dumps, restores.", no_args_is_help=True)
access_app = typer.Typer(help="Temporary database logins of a project.", no_args_is_help=True)
db_app.add_typer(access_app, name="access")

ReadWrite = Annotated[
    bool,
    typer.Option("--read-write", help="A login that can change data (v2: operator must allow it)."),
]
Ttl = Annotated[
    str | None, typer.Option("--ttl", help="How long the v2 login lives (e.g. 30m, 1h; max 8h).")
]


def _grant(ctx: typer.Context, project, hash_, read_write: bool, ttl) -> tuple[ProjectRef, dict]:
    with get_state(ctx).client() as client:
        ref = choose(client, None, project, hash_)
        answer = client.post(
            f"projects/{ref.hash}/db/access", {"readWrite": read_write, "ttl": ttl}
        )
    return ref, answer


def _note_login(ref: ProjectRef, answer: dict[str, Any]) -> None:
    if answer.get("expiresAt"):
        output.note(
            f"{answer.get('access')} login {answer.get('user')} on {label(ref)}, "
            f"expires {answer['expiresAt']}"
        )
    else:
        output.note(f"owner login of {label(ref)} (dedicated project)")


@db_app.command("password")
def password(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    read_write: ReadWrite = False,
    ttl: Ttl = None,
    json_: JsonOption = False,
) -> None:
    """Print a database password (v2: of a new temporary login, named on stderr)."""
    ref, answer = _grant(ctx, project, hash_, read_write, ttl)
    if json_:
        output.print_json(answer)
        return
    _note_login(ref, answer)
    output.line(str(answer["password"]))


@db_app.command("url")
def url(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    read_write: ReadWrite = False,
    ttl: Ttl = None,
    json_: JsonOption = False,
) -> None:
    """Print a connection URL; --json gives the fields a GUI client asks for."""
    ref, answer = _grant(ctx, project, hash_, read_write, ttl)
    if json_:
        output.print_json(
            {
                k: answer.get(k)
                for k in (
                    "host",
                    "port",
                    "database",
                    "user",
                    "password",
                    "sslmode",
                    "url",
                    "access",
                    "expiresAt",
                    "mode",
                )
            }
        )
        return
    _note_login(ref, answer)
    output.line(str(answer["url"]))


def psql_path() -> str:
    found = shutil.which("psql")
    if found:
        return found
    from flux.postgres.binaries import find_bin_dir

    return str(find_bin_dir() / "psql")


def run_psql(answer: dict[str, Any], extra: list[str]) -> int:
    """psql against the handed-out login; the password only in a 0600 file of ours."""
    with tempfile.TemporaryDirectory(prefix="flux-db-") as folder:
        passfile = Path(folder) / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        secret = str(answer["password"]).replace("\\", "\\\\").replace(":", "\\:")
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:*:{secret}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSFILE"] = str(passfile)
        conninfo = (
            f"host={answer['host']} port={answer['port']} dbname={answer['database']} "
            f"user={answer['user']} sslmode={answer.get('sslmode') or 'disable'}"
        )
        return subprocess.run([psql_path(), conninfo, *extra], env=env).returncode


@db_app.command(
    "shell", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def shell(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    read_write: ReadWrite = False,
    ttl: Ttl = None,
) -> None:
    """Open psql on the project's database (extra arguments go to psql, e.g. -c 'select 1')."""
    ref, answer = _grant(ctx, project, hash_, read_write, ttl)
    _note_login(ref, answer)
    raise typer.Exit(run_psql(answer, list(ctx.args)))


@db_app.command("dump")
def dump(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: <slug>.dump).")
    ] = None,
    project: ProjectOption = None,
    hash_: HashOption = None,
) -> None:
    """Write a pg_dump (custom format) of the project's schema (v1: its database)."""
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        target = out or Path(f"{ref.slug or ref.hash}.dump")
        with output.working(f"Dumping {label(ref)}"):
            size = client.download(f"projects/{ref.hash}/db/dump", target)
    output.line(f"Wrote {target} ({size} bytes).")


def _upload_and_restore(
    client: ApiClient, ref: ProjectRef, file: Path, skip_backup_check: bool
) -> dict[str, Any]:
    with output.working(f"Uploading and test-restoring {file.name}"):
        backup = client.upload(f"projects/{ref.hash}/backups/upload", file)["backup"]
    if backup.get("state") != "verified":
        raise FluxError(
            f"{file.name} cannot be restored: {backup.get('error') or backup.get('label')}",
            code="restore_refused",
            hint="use an archive written by `flux db dump` or `pg_dump -Fc` of this project",
        )
    query = "?skipBackupCheck=true" if skip_backup_check else ""
    with output.working(f"Restoring {label(ref)}"):
        return client.post(f"projects/{ref.hash}/backups/{backup['id']}/restore{query}")


@db_app.command("restore")
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A pg_dump custom-format archive.")],
    project: ProjectOption = None,
    hash_: HashOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    skip_backup_check: Annotated[
        bool, typer.Option(help="Restore even without a recent verified backup (audited).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Replace the project's data with an archive's (all or nothing), behind the backup gate."""
    if not file.is_file():
        raise FluxError(f"no file {file}", code="bad_args", hint="give a pg_dump -Fc archive")
    with get_state(ctx).client(LONG_TIMEOUT) as client:
        ref = choose(client, None, project, hash_)
        if not yes:
            name = ref.slug or ref.hash
            output.note(f"This replaces every table of {label(ref)} with {file}.")
            confirm_by_typing(name, f"Type the project slug ({name}) to confirm", "restore")
        answer = _upload_and_restore(client, ref, file, skip_backup_check)
    if json_:
        output.print_json(answer)
        return
    restore_report(answer, ref)


@access_app.command("list")
def access_list(
    ctx: typer.Context,
    project: ProjectOption = None,
    hash_: HashOption = None,
    json_: JsonOption = False,
) -> None:
    """List the project's temporary database logins (v2)."""
    with get_state(ctx).client() as client:
        ref = choose(client, None, project, hash_)
        answer = client.get(f"projects/{ref.hash}/db/access")
    if json_:
        output.print_json(answer)
        return
    if answer.get("mode") == "v1_dedicated":
        output.line(f"{label(ref)} is dedicated: `flux db` hands out its owner login.")
        return
    roles = answer.get("roles") or []
    if not roles:
        output.line(f"No database logins on {label(ref)}.")
        return
    output.rows_table(
        ["role", "access", "status", "created", "expires"],
        [[r["role"], r["access"], r["status"], r["createdAt"], r["expiresAt"]] for r in roles],
    )


@access_app.command("revoke")
def access_revoke(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The login to drop (see `flux db access list`).")],
    project: ProjectOption = None,
    hash_: HashOption = None,
) -> None:
    """Drop a temporary login now and end its sessions."""
    with get_state(ctx).client() as client:
        ref = choose(client, None, project, hash_)
        client.request("DELETE", f"projects/{ref.hash}/db/access/{role}")
    output.line(f"Revoked {role} on {label(ref)}; its sessions were ended.")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")

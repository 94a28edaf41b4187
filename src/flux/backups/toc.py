"""An archive's table of contents (`pg_restore --list`): reading it (an unreadable archive is
corrupt) and choosing the entries a restore may run.

A tenant's archive (v2) restores only objects of its own schema; the schema itself stays (it is
the platform's: owner, grants, default privileges). A project's archive (v1) restores the
owner's schemas and the push ledger, never the platform's own objects in `flux` and
`extensions`, event triggers, extensions (they stay installed) or database-level settings.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from flux.backups.artefacts import CorruptArtefact
from flux.backups.tools import first_error, tool, tool_env

LIST_TIMEOUT = 120
LEDGER_TABLES = ("flux_migrations", "flux_repeatable_scripts")
PLATFORM_SCHEMAS = ("flux", "extensions")
# entry types made of several words, longest first (pg_dump's `desc` strings)
_MULTI_WORD = sorted(
    (
        "ACCESS METHOD",
        "CHECK CONSTRAINT",
        "DATABASE PROPERTIES",
        "DEFAULT ACL",
        "EVENT TRIGGER",
        "FK CONSTRAINT",
        "FOREIGN DATA WRAPPER",
        "FOREIGN SERVER",
        "FOREIGN TABLE",
        "INDEX ATTACH",
        "LARGE OBJECT",
        "MATERIALIZED VIEW",
        "MATERIALIZED VIEW DATA",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "PROCEDURAL LANGUAGE",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "ROW SECURITY",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "SHELL TYPE",
        "TABLE ATTACH",
        "TABLE DATA",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "USER MAPPING",
    ),
    key=len,
    reverse=True,
)
# never restored into a dedicated project: they belong to the cluster's superuser
_V1_NEVER = {
    "DATABASE",
    "DATABASE PROPERTIES",
    "EVENT TRIGGER",
    "EXTENSION",
    "FOREIGN DATA WRAPPER",
    "FOREIGN SERVER",
    "PROCEDURAL LANGUAGE",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "SERVER",
    "SUBSCRIPTION",
    "USER MAPPING",
}


@dataclass(frozen=True)
class Entry:
    line: str  # as pg_restore printed it (pg_restore -L reads the leading dump id)
    desc: str
    namespace: str
    tag: str


def parse_line(line: str) -> Entry | None:
    """One `--list` line (`<id>; <catalog> <oid> <DESC> <namespace> <tag> <owner>`)."""
    if not line.strip() or line.startswith(";"):
        return None
    try:
        head, rest = line.split(";", 1)
        int(head)
        _, _, rest = rest.strip().split(" ", 2)
    except ValueError:
        return None
    desc = next((d for d in _MULTI_WORD if rest.startswith(d + " ")), rest.split(" ", 1)[0])
    parts = rest[len(desc) + 1 :].split(" ", 1)
    namespace = parts[0]
    tag_owner = parts[1] if len(parts) > 1 else ""
    tag = tag_owner.rsplit(" ", 1)[0] if " " in tag_owner else tag_owner
    return Entry(line, desc, namespace, tag)


def read_toc(path: Path) -> list[Entry]:
    """The archive's entries; CorruptArtefact when pg_restore cannot read it."""
    result = subprocess.run(
        [tool("pg_restore"), "--list", str(path)],
        capture_output=True,
        text=True,
        timeout=LIST_TIMEOUT,
        env=tool_env(),
    )
    if result.returncode != 0:
        raise CorruptArtefact(
            f"the archive {path.name} is not a readable pg_dump archive: "
            f"{first_error(result.stderr)}",
            hint="use a file written by `pg_dump -Fc` (or `flux db dump`)",
        )
    entries = [e for e in map(parse_line, result.stdout.splitlines()) if e is not None]
    if not entries:
        raise CorruptArtefact(f"the archive {path.name} holds nothing to restore")
    return entries


def tenant_entries(entries: list[Entry], schema: str) -> list[Entry]:
    """What a v2 restore runs: the objects of the tenant's schema, not the schema itself."""
    return [e for e in entries if e.namespace == schema]


def archive_schemas(entries: list[Entry]) -> list[str]:
    """Names of the schemas an archive creates."""
    return [e.tag for e in entries if e.desc == "SCHEMA" and e.namespace == "-"]


def project_entries(entries: list[Entry]) -> list[Entry]:
    """What a v1 restore runs: the owner's schemas and objects, the ledger tables."""
    kept = []
    for entry in entries:
        if entry.desc in _V1_NEVER:
            continue
        if entry.namespace in PLATFORM_SCHEMAS:
            if entry.namespace == "flux" and entry.tag.split(" ", 1)[0] in LEDGER_TABLES:
                kept.append(entry)
            continue
        if entry.namespace == "-" and _names_platform_schema(entry):
            continue
        if entry.desc == "COMMENT" and entry.tag.startswith("EXTENSION "):
            continue
        kept.append(entry)
    return kept


def _names_platform_schema(entry: Entry) -> bool:
    name = entry.tag.removeprefix("SCHEMA ")
    return name in PLATFORM_SCHEMAS or (entry.desc == "SCHEMA" and name == "public")


def write_list(entries: list[Entry], path: Path) -> None:
    path.write_text("".join(e.line + "\n" for e in entries))

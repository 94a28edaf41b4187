"""Which project a command acts on (SPEC §5 "Project selection").

Sources, first that applies: a slug and/or `--hash` on the command line, else the nearest
`flux.json`. The hash is the key; a slug alone is resolved through `GET list` (ambiguous →
ask for --hash); a slug given with a hash must match the project the hash names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux.cli.client import ApiClient
from flux.cli.manifest import find_manifest
from flux.errors import FluxError
from flux.naming import PLACEHOLDER_HASH, is_valid_hash


@dataclass(frozen=True)
class ProjectRef:
    """A selected project: its hash (the key) and slug when known."""

    hash: str
    slug: str | None


def normalize_hash(value: str) -> str:
    """Validate a user-supplied hash (7 hex chars, case-insensitive)."""
    cleaned = value.strip().lower()
    if value.strip() == PLACEHOLDER_HASH:
        raise FluxError(
            "the hash is still the placeholder REPLACE_AFTER_FLUX_INIT",
            code="placeholder_hash",
            hint="run `flux init` to link this folder",
        )
    if not is_valid_hash(cleaned):
        raise FluxError(
            f"invalid project hash {value!r} (expected 7 hex characters)",
            code="bad_hash",
            hint="`flux list` shows each project's hash",
        )
    return cleaned


def select_project(
    client: ApiClient, slug: str | None, hash_: str | None, cwd: Path | None = None
) -> ProjectRef:
    """Resolve the project from explicit arguments or flux.json; verifies slug/hash agree."""
    if not (slug or hash_):
        slug, hash_ = _from_manifest(cwd or Path.cwd())
    if not hash_:
        return ProjectRef(_hash_for_slug(client, slug or ""), slug)
    hash_ = normalize_hash(hash_)
    if slug:
        _check_slug(client, slug, hash_)
    return ProjectRef(hash_, slug)


def _from_manifest(cwd: Path) -> tuple[str | None, str | None]:
    manifest = find_manifest(cwd)
    if manifest is None:
        raise FluxError(
            "no project selected",
            code="no_project",
            hint="pass a slug or --project/-p <slug> [--hash <hash>], "
            "or run `flux init` to write flux.json",
        )
    if manifest.has_placeholder_hash:
        raise FluxError(
            f"{manifest.path} still holds the placeholder hash {PLACEHOLDER_HASH}",
            code="placeholder_hash",
            hint="run `flux init` to link this folder",
        )
    if not (manifest.slug or manifest.hash):
        raise FluxError(
            f"{manifest.path} names no project (no slug or hash)",
            code="manifest_invalid",
            hint="run `flux init`",
        )
    return manifest.slug, manifest.hash


def _check_slug(client: ApiClient, slug: str, hash_: str) -> None:
    project = describe(client, hash_)
    if project.get("slug") != slug:
        raise FluxError(
            f"hash {hash_} belongs to project '{project.get('slug')}', not '{slug}'",
            code="slug_mismatch",
            hint="fix the slug or --hash (or flux.json); `flux list` shows both",
        )


def _hash_for_slug(client: ApiClient, slug: str) -> str:
    projects = client.get("list").get("projects") or []
    matches = [p for p in projects if isinstance(p, dict) and p.get("slug") == slug]
    if not matches:
        raise FluxError(
            f"no project with slug '{slug}'",
            code="not_found",
            hint="`flux list` shows your projects; `flux create <name>` makes one",
        )
    if len(matches) > 1:
        hashes = ", ".join(str(p.get("hash")) for p in matches)
        raise FluxError(
            f"slug '{slug}' matches {len(matches)} projects ({hashes})",
            code="ambiguous",
            hint="pass --hash <hash> to choose one",
        )
    return str(matches[0]["hash"])


def describe(client: ApiClient, hash_: str) -> dict[str, Any]:
    """The ProjectSummary of the project with this hash (GET projects/{hash})."""
    project = client.get(f"projects/{hash_}").get("project")
    if not isinstance(project, dict):
        raise FluxError(f"unexpected answer describing project {hash_}", code="bad_response")
    return project

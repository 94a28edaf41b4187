"""Row checks run inside a write or call transaction before it commits.

`row_checks` builds the one `Check` a handler passes to `Database.run`: the singular-object
check (PGRST116) and the strict `Prefer: max-affected` limit (PGRST124), in that order.
"""

from __future__ import annotations

from typing import Any

from flux.rest.errors import max_affected_violation, singularity_error
from flux.rest.execute import Check
from flux.rest.grammar import Preferences
from flux.rest.media import Media


def strict_max_affected(prefs: Preferences, media: Media) -> int | None:
    """The `max-affected` limit to enforce: only with `handling=strict`, never for a plan."""
    if prefs.handling == "strict" and media.kind != "plan":
        return prefs.max_affected
    return None


def row_checks(*, singular: bool, max_affected: int | None) -> Check | None:
    """One check over the statement results, or None when nothing needs checking."""
    checks: list[Check] = []
    if singular:
        checks.append(_singular_check)
    if max_affected is not None:
        checks.append(_max_affected_check(max_affected))
    if not checks:
        return None

    def check(results: list[Any]) -> None:
        for one in checks:
            one(results)

    return check


def _singular_check(results: list[Any]) -> None:
    page_total = results[-1][1]
    if page_total != 1:
        raise singularity_error(page_total)


def _max_affected_check(limit: int) -> Check:
    def check(results: list[Any]) -> None:
        page_total = results[-1][1]
        if page_total > limit:
            raise max_affected_violation(page_total)

    return check

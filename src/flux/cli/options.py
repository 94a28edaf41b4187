"""Option and argument types shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class Mode(StrEnum):
    """Project engines (SPEC §1)."""

    v1_dedicated = "v1_dedicated"
    v2_shared = "v2_shared"


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
HashOption = Annotated[
    str | None, typer.Option("--hash", help="Project hash (7 hex chars); the key of a project.")
]
SlugArgument = Annotated[
    str | None, typer.Argument(help="Project slug (default: from flux.json).", show_default=False)
]
ModeOption = Annotated[
    Mode | None,
    typer.Option(
        "--mode",
        help="Engine: v2_shared or v1_dedicated (default: $FLUX_DEFAULT_MODE, else v2_shared).",
    ),
]

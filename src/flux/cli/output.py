"""Everything the CLI prints: Rich tables and panels for people, plain JSON for machines,
and the one-line error + hint rendering shared by every command.

Results go to stdout; errors, warnings and progress notes go to stderr so that
`flux ... --json | jq` and `$(flux token mint)` stay clean.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flux.errors import FluxError

_PIPE_WIDTH = 200  # no terminal: don't wrap long URLs at 80 columns


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, width=_PIPE_WIDTH)
    return console


def print_json(data: Any) -> None:
    """Machine output: plain, indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def line(text: str = "", style: str | None = None) -> None:
    """One literal line on stdout (no markup, never wrapped; safe to copy and paste)."""
    _console().print(Text(text, style=style or ""), soft_wrap=True)


def note(text: str, style: str | None = None) -> None:
    """A human note on stderr."""
    _console(stderr=True).print(Text(text, style=style or ""), soft_wrap=True)


def warn(text: str) -> None:
    note(f"warning: {text}", style="yellow")


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while a slow call runs on a terminal; one plain line otherwise."""
    console = _console(stderr=True)
    if console.is_terminal:
        with console.status(message):
            yield
    else:
        console.print(Text(f"{message}..."), soft_wrap=True)
        yield


def render_error(error: FluxError) -> None:
    """The one-line cause and optional hint of a failed command, on stderr."""
    console = _console(stderr=True)
    console.print(Text(f"error: {error.message}", style="bold red"), soft_wrap=True)
    if error.hint:
        console.print(Text(f"hint: {error.hint}", style="dim"), soft_wrap=True)


def key_values(title: str, rows: Iterable[tuple[str, Any]]) -> None:
    """A two-column table of labelled values."""
    table = Table(
        title=title, show_header=False, title_justify="left", box=None, padding=(0, 2, 0, 0)
    )
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, Text("" if value is None else str(value)))
    _console().print(table)


def rows_table(columns: list[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
    """A table with a header row; cells rendered literally."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    _console().print(table)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping → {"a.b.c": leaf} (used for --field paths and key/value views)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat

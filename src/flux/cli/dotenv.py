"""Parsing of `.env` files (KEY=VALUE lines) into a plain dict.

Supports comments, blank lines, an optional `export ` prefix, single/double quoted values and
trailing ` # comments` on unquoted values. No variable interpolation: values are taken literally.
"""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        if raw[0] == '"':
            inner = inner.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        return inner
    comment = re.search(r"\s+#", raw)
    return raw[: comment.start()] if comment else raw


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse dotenv text; later assignments of the same key win."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = _unquote(match.group(2))
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse the dotenv file at `path`; a missing file is empty."""
    try:
        return parse_dotenv(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}

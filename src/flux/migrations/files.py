"""Migration files as values: name, content, size, checksum, and the push modes.

The checksum is the sha256 hex digest of the UTF-8 content with CRLF and CR line endings
normalised to LF, so a file checked out on Windows has the same checksum as on Linux.
Decoding refuses non-UTF-8 bytes with the offending offset; a UTF-8 byte-order mark is dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from flux.errors import BadInput

Mode = Literal["raw", "versioned", "repeatable"]
MODES: tuple[Mode, ...] = ("raw", "versioned", "repeatable")
MAX_FILE_BYTES = 4 * 1024 * 1024


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> str:
    """sha256 hex of `text` with line endings normalised to LF."""
    return hashlib.sha256(normalise_newlines(text).encode("utf-8")).hexdigest()


def decode(name: str, data: bytes) -> str:
    """UTF-8 text of a file, or BadInput naming the file and the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise BadInput(
            f"{name} is not valid UTF-8 (byte 0x{bad} at offset {exc.start})",
            code="not_utf8",
            hint="save the file as UTF-8 and push again",
        ) from None
    return text.removeprefix("\ufeff")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One local SQL file. `name` is the ledger version; `path` the repo-relative path.

    An oversized file is kept (with empty `sql`) so plans and dry runs can report it.
    """

    name: str
    path: str
    sql: str
    size: int

    @property
    def oversized(self) -> bool:
        return self.size > MAX_FILE_BYTES

    @property
    def checksum(self) -> str:
        return checksum(self.sql) if not self.oversized else ""

    @classmethod
    def from_text(cls, name: str, sql: str, path: str | None = None) -> MigrationFile:
        sql = sql.removeprefix("\ufeff")
        return cls(name, path or name, sql, len(sql.encode("utf-8")))

    @classmethod
    def from_bytes(cls, name: str, data: bytes, path: str | None = None) -> MigrationFile:
        if len(data) > MAX_FILE_BYTES:
            return cls(name, path or name, "", len(data))
        return cls.from_text(name, decode(path or name, data), path)

"""Errors as values: every expected failure is a FluxError with a code, message and hint.

HTTP mapping lives in `flux.control`, CLI rendering in `flux.cli`; this module owns only the type.
"""

from __future__ import annotations


class FluxError(Exception):
    """An expected failure with a stable code, a one-line message and an optional hint."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status


class NotFound(FluxError):
    status = 404


class Conflict(FluxError):
    status = 409


class BadInput(FluxError):
    status = 422


class Unauthorized(FluxError):
    status = 401


class Forbidden(FluxError):
    status = 403

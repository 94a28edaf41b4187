"""Read results → HTTP response: status, Content-Range, Preference-Applied, GUC overrides.

Implements PostgREST's range status rules (200/206/416), `Content-Range` on every read,
`response.headers` / `response.status` GUCs (PGRST111/PGRST112 when malformed), singular
responses (PGRST116) and the error response shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.responses import Response

from flux.rest.errors import ApiError, guc_headers_error, guc_status_error, invalid_range
from flux.rest.errors import singularity_error as _singularity_error

JSON_TYPE = "application/json; charset=utf-8"
OBJECT_TYPE = "application/vnd.pgrst.object+json; charset=utf-8"


@dataclass(slots=True)
class ReadResult:
    total: int | None
    page_total: int
    body: str
    guc_headers: str | None
    guc_status: str | None


def content_range(lower: int, page_total: int, total: int | None) -> str:
    total_text = "*" if total is None else str(total)
    if page_total == 0:
        return f"*/{total_text}"
    return f"{lower}-{lower + page_total - 1}/{total_text}"


def range_status(lower: int, page_total: int, total: int | None) -> int:
    if total is None:
        return 200
    upper = lower + page_total - 1
    if lower > total:
        return 416
    if (1 + upper - lower) < total:
        return 206
    return 200


def guc_headers(raw: str | None) -> list[tuple[str, str]]:
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise guc_headers_error() from None
    if not isinstance(value, list):
        raise guc_headers_error()
    out = []
    for item in value:
        if not isinstance(item, dict) or len(item) != 1:
            raise guc_headers_error()
        ((key, val),) = item.items()
        if not isinstance(val, str):
            raise guc_headers_error()
        out.append((key, val))
    return out


def guc_status(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        status = int(raw)
    except ValueError:
        raise guc_status_error() from None
    if not 100 <= status <= 599:
        raise guc_status_error()
    return status


def read_response(
    result: ReadResult,
    *,
    lower: int,
    head: bool,
    singular: bool,
    preference_applied: list[str],
    extra_headers: dict[str, str],
) -> Response:
    crange = content_range(lower, result.page_total, result.total)
    status = range_status(lower, result.page_total, result.total)
    if status == 416:
        assert result.total is not None
        raise invalid_range(
            f"An offset of {lower} was requested, but there are only {result.total} rows.",
            f"*/{result.total}",
        )
    if singular and result.page_total != 1:
        raise _singularity_error(result.page_total)
    headers = {"Content-Range": crange, **extra_headers}
    if preference_applied:
        headers["Preference-Applied"] = ", ".join(preference_applied)
    response = Response(
        b"" if head else result.body.encode(), status_code=status, headers=headers, media_type=None
    )
    response.headers["Content-Type"] = OBJECT_TYPE if singular else JSON_TYPE
    for key, val in guc_headers(result.guc_headers):
        response.headers[key] = val
    override = guc_status(result.guc_status)
    if override is not None:
        response.status_code = override
    return response


def error_response(error: ApiError, verbosity: str = "verbose", head: bool = False) -> Response:
    body = error.body(verbosity)
    response = Response(b"" if head else body, status_code=error.status, media_type=None)
    response.headers["Content-Type"] = JSON_TYPE
    for key, val in error.headers.items():
        response.headers[key] = val
    return response

"""Results → HTTP responses: status, Content-Range, Location, Preference-Applied, GUC overrides.

Implements PostgREST's range status rules (200/206/416), `Content-Range` on reads, writes
and calls, the 201/200/204 rules of writes (upserts report 200 when nothing was inserted),
`Location` for single inserts, `Preference-Applied` in PostgREST's order,
`response.headers` / `response.status` GUCs (PGRST111/PGRST112 when malformed), singular
responses (PGRST116), plan bodies and the error response shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import Response

from flux.rest import grammar as g
from flux.rest.errors import ApiError, guc_headers_error, guc_status_error, invalid_range
from flux.rest.errors import singularity_error as _singularity_error
from flux.rest.media import Media

JSON_TYPE = "application/json; charset=utf-8"


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


def write_content_range(lower: int, upper: int, total: int | None) -> str:
    """PostgREST's contentRangeH for writes: `0-2/*`, `*/*`, `*/5`."""
    total_text = "*" if total is None else str(total)
    if total != 0 and lower <= upper:
        return f"{lower}-{upper}/{total_text}"
    return f"*/{total_text}"


def preference_applied(
    prefs: g.Preferences,
    *,
    tx_allowed: bool,
    timezone: str | None,
    resolution: bool = False,
    missing: bool = False,
    return_: bool = False,
    params: bool = False,
    count: bool = True,
    max_affected: bool = False,
) -> list[str]:
    """Honoured preferences, in PostgREST's order (only the kinds this request applies)."""
    out = []
    if resolution and prefs.resolution:
        out.append(f"resolution={prefs.resolution}")
    if missing and prefs.missing:
        out.append(f"missing={prefs.missing}")
    if return_ and prefs.return_:
        out.append(f"return={prefs.return_}")
    if params and prefs.params:
        out.append(f"params={prefs.params}")
    if count and prefs.count:
        out.append(f"count={prefs.count}")
    if tx_allowed and prefs.tx:
        out.append(f"tx={prefs.tx}")
    if prefs.handling:
        out.append(f"handling={prefs.handling}")
    if timezone:
        out.append(f"timezone={timezone}")
    if max_affected and prefs.handling == "strict" and prefs.max_affected is not None:
        out.append(f"max-affected={prefs.max_affected}")
    return out


def finish(
    body: bytes,
    status: int,
    headers: dict[str, str],
    *,
    media: Media | None,
    guc_h: str | None,
    guc_s: str | None,
) -> Response:
    """The response, with Content-Type (when there is a body type) and GUC overrides."""
    response = Response(body, status_code=status, headers=headers, media_type=None)
    if media is not None:
        response.headers["Content-Type"] = media.content_type
    for key, val in guc_headers(guc_h):
        response.headers[key] = val
    override = guc_status(guc_s)
    if override is not None:
        response.status_code = override
    return response


def _body_bytes(body: str | bytes | None) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else body.encode()


def check_range(lower: int, result: ReadResult) -> int:
    status = range_status(lower, result.page_total, result.total)
    if status == 416:
        assert result.total is not None
        raise invalid_range(
            f"An offset of {lower} was requested, but there are only {result.total} rows.",
            f"*/{result.total}",
        )
    return status


def read_response(
    result: ReadResult,
    *,
    lower: int,
    head: bool,
    media: Media,
    preference_applied: list[str],
    extra_headers: dict[str, str],
) -> Response:
    """GET/HEAD on tables and views, and function calls (same range rules)."""
    status = check_range(lower, result)
    if media.singular and result.page_total != 1:
        raise _singularity_error(result.page_total)
    headers = {"Content-Range": content_range(lower, result.page_total, result.total)}
    headers.update(extra_headers)
    if preference_applied:
        headers["Preference-Applied"] = ", ".join(preference_applied)
    body = b"" if head else _body_bytes(result.body)
    return finish(
        body, status, headers, media=media, guc_h=result.guc_headers, guc_s=result.guc_status
    )


@dataclass(slots=True)
class WriteResult:
    page_total: int
    body: str
    guc_headers: str | None
    guc_status: str | None
    location: list[str]
    inserted: int | None


def write_response(
    result: WriteResult,
    *,
    kind: str,  # insert | put | update | delete
    table: str,
    representation: bool,
    count: bool,
    upsert_merge: bool,
    media: Media,
    preference_applied: list[str],
    extra_headers: dict[str, str],
) -> Response:
    """PostgREST's status and headers for POST/PUT/PATCH/DELETE."""
    n = result.page_total
    total = n if count else None
    headers: dict[str, str] = {}
    if kind == "insert":
        if result.location:
            pairs = [item.split("=", 1) for item in result.location]
            query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
            headers["Location"] = f"/{quote(table, safe='')}?{query}"
        headers["Content-Range"] = write_content_range(1, 0, total)
        status = 200 if upsert_merge and (result.inserted or 0) <= 0 else 201
    elif kind == "put":
        status = 201 if (result.inserted or 0) > 0 else 200
        if not representation:
            status = 204
    elif kind == "update":
        headers["Content-Range"] = write_content_range(0, n - 1, total)
        status = 200 if representation else 204
    else:
        headers["Content-Range"] = write_content_range(1, 0, total)
        status = 200 if representation else 204
    if preference_applied:
        headers["Preference-Applied"] = ", ".join(preference_applied)
    if representation:
        headers.update(extra_headers)
        if media.singular and n != 1:
            raise _singularity_error(n)
    body = _body_bytes(result.body) if representation else b""
    return finish(
        body,
        status,
        headers,
        media=media if representation else None,
        guc_h=result.guc_headers,
        guc_s=result.guc_status,
    )


def plan_response(rows: list[tuple[object, ...]], media: Media) -> Response:
    """`application/vnd.pgrst.plan`: EXPLAIN's rows, one per line."""
    body = "".join(f"{row[0]}\n" for row in rows).encode()
    return finish(body, 200, {}, media=media, guc_h=None, guc_s=None)


def error_response(error: ApiError, verbosity: str = "verbose", head: bool = False) -> Response:
    body = error.body(verbosity)
    response = Response(b"" if head else body, status_code=error.status, media_type=None)
    response.headers["Content-Type"] = JSON_TYPE
    response.headers["Proxy-Status"] = f"PostgREST; error={error.code}"
    for key, val in error.headers.items():
        response.headers[key] = val
    return response

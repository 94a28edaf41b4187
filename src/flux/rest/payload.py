"""Request bodies → `Payload`: the one JSON text handed to PostgreSQL, plus what planning needs.

PostgREST's `getPayload`: a JSON body is validated (and its keys collected, all objects of
an array must share them) but passed to PostgreSQL untouched as a single parameter; with
`columns=` it is not even parsed. CSV (`text/csv`) and `application/x-www-form-urlencoded`
bodies are converted to JSON here, as PostgREST does. `text/plain`, `text/xml` and
`application/octet-stream` bodies are kept raw for functions taking one unnamed parameter.

An empty body is a call without arguments, but for a table write it is "Empty or invalid
json" (PGRST102), never a row of NULLs; parse errors carry no details, as in PostgREST.

Client input never becomes a 500 here: a body nested too deep to parse (or, unparsed with
`columns=`, deeper than `MAX_JSON_DEPTH`) is PGRST102 "Empty or invalid json" like any other
unusable JSON.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from itertools import accumulate
from urllib.parse import parse_qsl

from flux.rest.errors import ApiError

RAW_TYPES = ("text/plain", "text/xml", "application/octet-stream")
# Deepest JSON nesting accepted unparsed (`columns=`): about where Python's parser stops on the
# parsed path, and well inside what PostgreSQL's parser takes before "stack depth limit
# exceeded" (a 500 for what is only a bad request).
MAX_JSON_DEPTH = 1000
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


@dataclass(frozen=True, slots=True)
class Payload:
    json: str  # the text bound to the statement's single json parameter
    keys: tuple[str, ...]  # object keys (body order), or the columns= list
    is_object: bool  # a single JSON object (not an array)
    raw: str | bytes | None = None  # text/plain and text/xml (str), octet-stream (bytes)
    media: str = "application/json"
    parsed: bool = True  # False when columns= made parsing unnecessary


def invalid_body(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST102", message, details)


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "PGRST102", "Payload Too Large", f"The request body exceeds {limit} bytes")


def media_of(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json` (missing means JSON)."""
    if not content_type or not content_type.strip():
        return "application/json"
    return content_type.split(";", 1)[0].strip().lower()


def _first_char(text: str) -> str:
    stripped = text.lstrip(" \t\r\n")
    return stripped[:1]


def _object_keys(value: object, ragged: bool) -> tuple[str, ...] | None:
    """Keys shared by every object (None when they differ or an element is not an object).

    With `ragged` (Prefer: missing=default) objects may differ: the union is returned.
    """
    if isinstance(value, dict):
        return tuple(value)
    assert isinstance(value, list)
    if not value:
        return ()
    if not all(type(item) is dict for item in value):
        return None
    shapes = dict.fromkeys(tuple(item) for item in value)  # distinct key orders, in order
    if len(shapes) == 1:
        return next(iter(shapes))
    if ragged:
        return tuple(dict.fromkeys(key for shape in shapes for key in shape))
    if len({frozenset(shape) for shape in shapes}) == 1:
        return tuple(value[0])
    return None


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in a JSON text, brackets inside strings ignored.

    Byte operations only, so a 10 MB bulk body costs a fraction of parsing it: escaped
    backslashes and quotes are dropped (when there is an escaped quote at all), then everything
    but brackets and quotes; every other quote-delimited segment is then outside a string."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:  # cannot be deeper: skip the scan
        return 0
    data = text.encode()
    if b'\\"' in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    outside = b"".join(structure.split(b'"')[::2])
    return max(accumulate(map(_BRACKET_STEP.__getitem__, outside)), default=0)


def _json_payload(text: str, columns: tuple[str, ...] | None, rpc: bool, ragged: bool) -> Payload:
    if columns is not None:
        first = _first_char(text)
        if first not in ("{", "[") or _nesting(text) > MAX_JSON_DEPTH:
            raise invalid_body("Empty or invalid json")
        return Payload(text, columns, first == "{", parsed=False)
    if not text and rpc:
        return Payload("{}", (), True)  # a call without a body: no arguments
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: deeper than Python's parser goes
        # PostgREST drops the parser's own text (details null); an empty write body lands here
        raise invalid_body("Empty or invalid json") from None
    if not isinstance(value, dict | list):
        return Payload("{}", (), True)  # PostgREST truncates scalars to an empty object
    keys = _object_keys(value, ragged)
    if keys is None:
        raise invalid_body("All object keys must match")
    return Payload(text, keys, isinstance(value, dict))


def _csv_payload(text: str) -> Payload:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise invalid_body("Invalid CSV body", str(exc)) from None
    if not rows:
        return Payload("[]", (), False, media="text/csv")
    header = rows[0]
    body = []
    for row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):  # PostgREST's (cassava's) message, no details
            raise invalid_body("All lines must have same number of fields")
        body.append({k: (None if v == "NULL" else v) for k, v in zip(header, row, strict=True)})
    return Payload(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        tuple(header),
        False,
        media="text/csv",
    )


def _form_payload(text: str) -> Payload:
    obj = dict(parse_qsl(text, keep_blank_values=True))
    return Payload(
        json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
        tuple(obj),
        True,
        media="application/x-www-form-urlencoded",
    )


def parse_payload(
    content_type: str | None,
    body: bytes,
    columns: tuple[str, ...] | None,
    *,
    rpc: bool,
    ragged: bool = False,
) -> Payload:
    """Turn a request body into a Payload; PGRST102 (400) for anything unusable.

    `ragged` lets array elements have different keys (used with Prefer: missing=default).
    """
    media = media_of(content_type)
    if media == "application/octet-stream" and rpc:
        return Payload("{}", (), True, raw=body, media=media)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_body("Empty or invalid json", "the body is not valid UTF-8") from None
    if media in RAW_TYPES and rpc:
        if "\x00" in text:
            raise invalid_body("Invalid text body", "the body contains a NUL character")
        return Payload("{}", (), True, raw=text, media=media)
    if media == "application/json" or media.endswith("+json"):
        payload = _json_payload(text, columns, rpc, ragged)
    elif media == "text/csv":
        payload = _csv_payload(text)
    elif media == "application/x-www-form-urlencoded":
        payload = _form_payload(text)
    else:
        raise invalid_body(f"Content-Type not acceptable: {media}")
    if "\x00" in payload.json:
        raise invalid_body("Empty or invalid json", "the body contains a NUL character")
    return payload

"""PostgREST error values: PGRST codes, the SQLSTATE → HTTP mapping and the error body.

Every failure on the request path becomes an `ApiError` (status, code, message, details,
hint, headers); `ApiError.body()` renders PostgREST's JSON (keys in aeson order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import psycopg


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: object = None
    hint: object = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self, verbosity: str = "verbose") -> bytes:
        if verbosity == "minimal":
            payload: dict[str, object] = {"code": self.code, "message": self.message}
        else:
            payload = {
                "code": self.code,
                "details": self.details,
                "hint": self.hint,
                "message": self.message,
            }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# ----------------------------------------------------------------- request errors (PGRST1xx)
def query_param_error(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST100", message, details)


def invalid_range(details: str, content_range: str | None = None) -> ApiError:
    headers = {"Content-Range": content_range} if content_range else {}
    return ApiError(416, "PGRST103", "Requested range not satisfiable", details, None, headers)


def invalid_rpc_method(method: str) -> ApiError:
    return ApiError(405, "PGRST101", f"Cannot use the {method} method on RPC")


def unacceptable_schema(schema: str, exposed: tuple[str, ...]) -> ApiError:
    return ApiError(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        None,
        f"Only the following schemas are exposed: {', '.join(exposed)}",
    )


def media_type_error(types: list[str]) -> ApiError:
    return ApiError(406, "PGRST107", f"None of these media types are available: {', '.join(types)}")


def not_embedded(resource: str) -> ApiError:
    return ApiError(
        400,
        "PGRST108",
        f"'{resource}' is not an embedded resource in this request",
        None,
        f"Verify that '{resource}' is included in the 'select' query parameter.",
    )


def guc_headers_error() -> ApiError:
    return ApiError(
        500,
        "PGRST111",
        "response.headers guc must be a JSON array composed of "
        "objects with a single key and a string value",
    )


def guc_status_error() -> ApiError:
    return ApiError(500, "PGRST112", "response.status guc must be a valid status code")


def singularity_error(rows: int) -> ApiError:
    return ApiError(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        f"The result contains {rows} rows",
    )


def unsupported_method(method: str) -> ApiError:
    return ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")


def related_order_not_to_one(origin: str, target: str) -> ApiError:
    return ApiError(
        400,
        "PGRST118",
        f"A related order on '{target}' is not possible",
        f"'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship",
    )


def unacceptable_filter(target: str) -> ApiError:
    return ApiError(
        400,
        "PGRST120",
        f"Bad operator on the '{target}' embedded resource",
        "Only is null or not is null filters are allowed on embedded resources",
    )


def invalid_preferences(prefs: list[str]) -> ApiError:
    return ApiError(
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        "Invalid preferences: " + ", ".join(prefs),
    )


def aggregates_not_allowed() -> ApiError:
    return ApiError(400, "PGRST123", "Use of aggregate functions is not allowed")


def max_affected_violation(rows: int) -> ApiError:
    return ApiError(
        400,
        "PGRST124",
        "Query result exceeds max-affected preference constraint",
        f"The query affects {rows} rows",
    )


def max_affected_rpc_violation() -> ApiError:
    return ApiError(
        400,
        "PGRST128",
        "Function must return SETOF or TABLE when max-affected preference is used with "
        "handling=strict",
    )


def invalid_resource_path() -> ApiError:
    return ApiError(404, "PGRST125", "Invalid path specified in request URL")


def openapi_disabled() -> ApiError:
    return ApiError(404, "PGRST126", "Root endpoint metadata is disabled")


def not_implemented(details: str) -> ApiError:
    return ApiError(400, "PGRST127", "Feature not implemented", details)


# ----------------------------------------------------------------- schema cache (PGRST2xx)
def column_not_found(relation: str, column: str) -> ApiError:
    return ApiError(
        400, "PGRST204", f"Could not find the '{column}' column of '{relation}' in the schema cache"
    )


def table_not_found(schema: str, name: str, suggestion: str | None) -> ApiError:
    hint = f"Perhaps you meant the table '{schema}.{suggestion}'" if suggestion else None
    return ApiError(
        404,
        "PGRST205",
        f"Could not find the table '{schema}.{name}' in the schema cache",
        None,
        hint,
    )


# ----------------------------------------------------------------- connection (PGRST0xx)
def connection_error(details: str | None) -> ApiError:
    return ApiError(503, "PGRST001", "Database client error. Retrying the connection.", details)


def schema_cache_unavailable() -> ApiError:
    return ApiError(503, "PGRST002", "Could not query the database for the schema cache. Retrying.")


def pool_timeout() -> ApiError:
    return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.")


# ----------------------------------------------------------------- JWT (PGRST3xx)
def _invalid_token_header(message: str) -> dict[str, str]:
    quoted = json.dumps(message)
    return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description={quoted}'}


def jwt_secret_missing() -> ApiError:
    return ApiError(500, "PGRST300", "Server lacks JWT secret")


def jwt_decode_error(message: str, details: str | None = None) -> ApiError:
    return ApiError(401, "PGRST301", message, details, None, _invalid_token_header(message))


def jwt_token_required() -> ApiError:
    return ApiError(
        401, "PGRST302", "Anonymous access is disabled", None, None, {"WWW-Authenticate": "Bearer"}
    )


def jwt_claims_error(message: str) -> ApiError:
    return ApiError(401, "PGRST303", message, None, None, _invalid_token_header(message))


# ----------------------------------------------------------------- PostgreSQL errors
def pg_status(sqlstate: str, message: str, authenticated: bool) -> int:
    """HTTP status for a SQLSTATE, exactly as PostgREST maps it."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
        "42P01": 404,
        "42P17": 500,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if sqlstate == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if sqlstate == "42501":
        return 403 if authenticated else 401
    if sqlstate.startswith("PT"):
        try:
            return int(sqlstate[2:])
        except ValueError:
            return 500
    prefixes = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefixes.get(sqlstate[:2], 400)


def _raise_pgrst(message: str, detail: str | None) -> ApiError:
    """`RAISE SQLSTATE 'PGRST' USING message = '{json}', detail = '{json}'`: full control."""
    try:
        body = json.loads(message)
        assert isinstance(body, dict) and "code" in body and "message" in body
    except (ValueError, AssertionError):
        return ApiError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            f"Invalid JSON value for MESSAGE: '{message}'",
            "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' "
            "and optional keys: 'details', 'hint'.",
        )
    hint_detail = (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and "
        "optional key: 'status_text'."
    )
    if detail is None:
        return ApiError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            "DETAIL is missing in the RAISE statement",
            hint_detail,
        )
    try:
        det = json.loads(detail)
        assert isinstance(det, dict) and isinstance(det.get("status"), int)
        assert isinstance(det.get("headers"), dict)
    except (ValueError, AssertionError):
        return ApiError(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            f"Invalid JSON value for DETAIL: '{detail}'",
            hint_detail,
        )
    return ApiError(
        det["status"],
        str(body["code"]),
        str(body["message"]),
        body.get("details"),
        body.get("hint"),
        {str(k): str(v) for k, v in det["headers"].items()},
    )


def from_pg_error(exc: psycopg.Error, authenticated: bool) -> ApiError:
    """Map a psycopg error (server-side or connection-level) to PostgREST's answer."""
    sqlstate = exc.sqlstate
    if sqlstate is None:
        return connection_error(str(exc).strip() or None)
    diag = exc.diag
    message = diag.message_primary or str(exc)
    if sqlstate == "PGRST":
        return _raise_pgrst(message, diag.message_detail)
    status = pg_status(sqlstate, message, authenticated)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return ApiError(status, sqlstate, message, diag.message_detail, diag.message_hint, headers)

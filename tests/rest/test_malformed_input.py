"""No client input makes the REST engine answer 500 (SPEC §11.4): bodies nested too deep, odd
encodings in the query string, headers and bodies, and a bounded fuzz over all of them, sent
straight to the ASGI app (raw bytes a well-behaved HTTP client would refuse to send) against the
real fixture database."""

from __future__ import annotations

import json

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.anyio

_FORM = b"application/x-www-form-urlencoded"
INVALID_JSON = {
    "code": "PGRST102",
    "message": "Empty or invalid json",
    "details": None,
    "hint": None,
}


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


async def asgi_request(
    app,
    method: str,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One request as raw ASGI (any bytes in query and header values); an exception the app
    lets escape counts as the 500 a server would send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-length", str(len(body)).encode()),
            *(headers or []),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    sent = False
    status, chunks = 0, []

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception as exc:  # noqa: BLE001 - the server would turn this into a 500
        return 500, repr(exc).encode()
    return status, b"".join(chunks)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/notes", nested(100_000)),
        ("/notes", b'{"title":' + nested(100_000) + b"}"),
        ("/notes?columns=title", nested(100_000)),  # not parsed by Python, still refused
        ("/notes?columns=title", b'[{"title":' + nested(5_000) + b"}]"),
        ("/rpc/echo_json", nested(100_000)),
        ("/rpc/keys_of", b'{"payload":' + nested(100_000, b"1") + b"}"),
    ],
    ids=["array", "in-object", "columns", "columns-5000", "rpc", "rpc-arg"],
)
async def test_deeply_nested_json_is_400(client, path, body):
    r = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == INVALID_JSON


async def test_nesting_postgresql_can_take_is_not_refused(client):
    body = b'[{"title":"deep","body":' + json.dumps(json.dumps([[[[1]]]])).encode() + b"}]"
    r = await client.post("/notes?columns=title,body", content=body)
    assert r.status_code == 201
    brackets_in_strings = b'[{"title":"' + b"[" * 5_000 + b'"}]'
    r = await client.post("/notes?columns=title", content=brackets_in_strings)
    assert r.status_code == 201  # brackets inside a string are text, not nesting


# Refused: what cannot be valid JSON or text for PostgreSQL. Served: what HTTP allows and decodes
# leniently (invalid UTF-8 after percent-decoding becomes U+FFFD, as in PostgREST; unknown or
# odd header values are only data).
REFUSED, SERVED = "refused", "served"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "outcome"),
    [
        ("POST", "/notes", b"", [], b"\xff\xfe{}", REFUSED),
        ("POST", "/notes", b"", [], b'{"title":"\\ud800"}', REFUSED),
        ("POST", "/notes", b"", [], b'{"title":"a\\u0000b"}', REFUSED),
        ("POST", "/notes", b"", [], b'{"title":NaN}', REFUSED),
        ("POST", "/notes", b"", [(b"content-type", b"text/csv")], b"title\na\x00b\n", REFUSED),
        ("POST", "/notes", b"", [(b"content-type", _FORM)], b"title=%ff%00", REFUSED),
        ("POST", "/rpc/greet", b"", [(b"content-type", b"text/plain")], b"\x00", REFUSED),
        ("GET", "/clients", b"name=eq.a%00b", [], b"", REFUSED),
        ("GET", "/clients", b"%zz=%%%&&=&select=%00", [], b"", REFUSED),
        ("GET", "/clients", b"select=" + b"a(" * 3000 + b")" * 3000, [], b"", REFUSED),
        ("GET", "/clients", b"or=(" + b"or(" * 3000 + b"id.eq.1" + b")" * 3001, [], b"", REFUSED),
        ("GET", "/rpc/greet", b"name=%00", [], b"", REFUSED),
        ("GET", "/cli\x00ents", b"", [], b"", REFUSED),
        ("GET", "/clients", b"", [(b"accept", b"\x00/\xff;q=\x00")], b"", REFUSED),
        ("GET", "/clients", b"", [(b"accept-profile", b"\xff")], b"", REFUSED),
        ("GET", "/clients", b"", [(b"range", b"0-99999999999999999999999")], b"", REFUSED),
        ("GET", "/clients", b"", [(b"authorization", b"Bearer \x00.\xff.\x00")], b"", REFUSED),
        ("GET", "/clients", b"", [(b"authorization", b"Bearer e30.e30.e30")], b"", REFUSED),
        ("GET", "/clients", b"name=eq.%ff%fe%c3", [], b"", SERVED),
        ("GET", "/rpc/greet", b"name=%ff", [], b"", SERVED),
        ("GET", "/clients", b"", [(b"x-thing", b"a\x00\xff")], b"", SERVED),
        ("GET", "/clients", b"", [(b"cookie", b"\xff=\x00; a")], b"", SERVED),
        ("GET", "/clients", b"", [(b"prefer", b"count=\x00, timezone=\xff")], b"", SERVED),
    ],
)
async def test_odd_encodings_are_never_500(client, method, path, query, headers, body, outcome):
    status, text = await asgi_request(client.app, method, path, query, headers, body)
    if outcome == REFUSED:
        assert 400 <= status < 500, text
        assert set(json.loads(text)) == {"code", "message", "details", "hint"}
    else:
        assert status == 200, text


async def test_raw_non_ascii_query_bytes_are_4xx(client):
    """Raw bytes that are not UTF-8 in the query string (not percent-encoded; uvicorn refuses
    such a request line over HTTP, an ASGI caller in process may not)."""
    status, text = await asgi_request(client.app, "GET", "/clients", b"name=eq.\xff\xfe")
    assert status == 400, text
    assert json.loads(text)["code"] == "PGRST100"


_HEADER_NAMES = [
    b"accept",
    b"accept-profile",
    b"content-profile",
    b"content-type",
    b"prefer",
    b"range",
    b"range-unit",
    b"cookie",
    b"authorization",
    b"x-anything",
]
_CONTENT_TYPES = [
    b"application/json",
    b"text/csv",
    b"application/x-www-form-urlencoded",
    b"text/plain",
    b"application/octet-stream",
    b"application/vnd.pgrst.object+json",
]
_QUERY_WORDS = [b"select", b"order", b"limit", b"offset", b"or", b"and", b"columns", b"on_conflict"]
_QUERY_WORDS += [b"id", b"name", b"title", b"eq.", b"in.(", b"cs.{", b"not.", b"->", b"%00"]
_QUERY_WORDS += [b"%ff", b"%", b"=", b"&", b"(", b")", b",", b".", b"*", b"%c3%28", b"%ed%a0%80"]
_JSONISH = [b"{", b"}", b"[", b"]", b'"title"', b'"k"', b":", b",", b"1", b"1e999", b"NaN"]
_JSONISH += [b'"\\ud800"', b'"\\u0000"', b"null", b"true", b"\xff", b"\x00", b"\\"]


def _joined(pieces: list[bytes], size: int) -> st.SearchStrategy[bytes]:
    raw = st.binary(max_size=4)
    return st.lists(st.sampled_from(pieces) | raw, max_size=size).map(b"".join)


_requests = st.tuples(
    st.sampled_from(["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]),
    st.sampled_from(["/clients", "/notes", "/kv", "/rpc/greet", "/rpc/echo_json", "/", "/x"])
    | st.text(max_size=12).map(lambda s: "/" + s),
    _joined(_QUERY_WORDS, 12),
    st.lists(
        st.tuples(
            st.sampled_from(_HEADER_NAMES),
            st.sampled_from(_CONTENT_TYPES) | st.binary(max_size=24),
        ),
        max_size=4,
    ),
    _joined(_JSONISH, 24) | st.binary(max_size=64),
)


async def test_fuzzed_requests_never_answer_500(client):
    app = client.app

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(_requests)
    def one(request):
        status, text = anyio.from_thread.run(lambda: asgi_request(app, *request))
        assert status < 500, (request, text[:300])

    await anyio.to_thread.run_sync(one)

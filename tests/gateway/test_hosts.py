"""Table-driven host/path parsing: valid forms, invalid input, look-alike hosts."""

from __future__ import annotations

import pytest

from flux.gateway.hosts import Route, RouteKey, normalize_host, parse_route

BASE = "localhost"
H = RouteKey(hash="abc1234", slug="my-app")
S = RouteKey(hash="abc1234", slug="a")

CASES: list[tuple[str | None, str, RouteKey | None, str]] = [
    # canonical host
    ("api--my-app--abc1234.localhost", "/notes", H, "/notes"),
    ("api--my-app--abc1234.localhost:8000", "/notes", H, "/notes"),
    ("API--My-App--ABC1234.LOCALHOST", "/notes", H, "/notes"),
    ("api--my-app--abc1234.localhost.", "/notes", H, "/notes"),
    ("api--my-app--abc1234.localhost.:8000", "/", H, "/"),
    ("api--a--abc1234.localhost", "/x", S, "/x"),
    ("api--0--0000000.localhost", "/", RouteKey(hash="0000000", slug="0"), "/"),
    ("api--a-b-c-1--abc1234.localhost", "/", RouteKey(hash="abc1234", slug="a-b-c-1"), "/"),
    ("api--" + "a" * 40 + "--abc1234.localhost", "/", RouteKey(hash="abc1234", slug="a" * 40), "/"),
    # legacy dotted host
    ("api.my-app.abc1234.localhost", "/notes", H, "/notes"),
    ("API.MY-APP.ABC1234.LOCALHOST:8000", "/notes", H, "/notes"),
    ("api.my-app.abc1234.localhost.", "/notes", H, "/notes"),
    # supabase prefix
    ("api--my-app--abc1234.localhost", "/rest/v1/notes", H, "/notes"),
    ("api--my-app--abc1234.localhost", "/rest/v1", H, "/"),
    ("api--my-app--abc1234.localhost", "/rest/v1/", H, "/"),
    ("api--my-app--abc1234.localhost", "/rest/v10/notes", H, "/rest/v10/notes"),
    ("api--my-app--abc1234.localhost", "/rest/v1x", H, "/rest/v1x"),
    # path form, on any gateway host
    ("127.0.0.1:8000", "/api--my-app--abc1234/notes", H, "/notes"),
    ("localhost:8000", "/api--my-app--abc1234", H, "/"),
    ("localhost", "/api--my-app--abc1234/", H, "/"),
    ("localhost", "/API--My-App--ABC1234/notes", H, "/notes"),
    ("localhost", "/api--my-app--abc1234/rest/v1/notes", H, "/notes"),
    ("localhost", "/api--my-app--abc1234/rpc/f", H, "/rpc/f"),
    (None, "/api--my-app--abc1234/notes", H, "/notes"),
    ("[::1]:8000", "/api--my-app--abc1234/notes", H, "/notes"),
    ("gw.example.com", "/api--my-app--abc1234/notes", H, "/notes"),
    # custom domains: lower-cased, no port, no trailing dot
    ("data.example.com", "/notes", RouteKey(hostname="data.example.com"), "/notes"),
    ("Data.Example.COM.:443", "/notes", RouteKey(hostname="data.example.com"), "/notes"),
    ("data.example.com", "/rest/v1/notes", RouteKey(hostname="data.example.com"), "/notes"),
    # look-alikes and invalid input: never a project route
    (
        "api--a--abc1234.localhost.evil.com",
        "/",
        RouteKey(hostname="api--a--abc1234.localhost.evil.com"),
        "/",
    ),
    ("xapi--a--abc1234.localhost", "/", None, ""),
    ("api--a--abc1234x.localhost", "/", None, ""),
    ("api--a--abc12345.localhost", "/", None, ""),
    ("api--a--abc123.localhost", "/", None, ""),
    ("api--a--abc123g.localhost", "/", None, ""),
    ("api--a--b--abc1234.localhost", "/", None, ""),
    ("api--a---abc1234.localhost", "/", None, ""),
    ("api---a--abc1234.localhost", "/", None, ""),
    ("api--a_b--abc1234.localhost", "/", None, ""),
    ("api----abc1234.localhost", "/", None, ""),
    ("api--" + "a" * 41 + "--abc1234.localhost", "/", None, ""),
    ("api--a--abc1234.evil.localhost", "/", None, ""),
    ("sub.api--a--abc1234.localhost", "/", None, ""),
    ("api--a--abc1234.localhostx", "/", RouteKey(hostname="api--a--abc1234.localhostx"), "/"),
    ("api--a--abc1234localhost", "/", None, ""),
    ("api.a.abc1234.x.localhost", "/", None, ""),
    ("api.a.b.abc1234.localhost", "/", None, ""),
    ("www.a.abc1234.localhost", "/", None, ""),
    ("api.a.abc12345.localhost", "/", None, ""),
    ("api.a--b.abc1234.localhost", "/", None, ""),
    ("localhost", "/", None, ""),
    ("localhost:8000", "/notes", None, ""),
    ("127.0.0.1:8000", "/notes", None, ""),
    ("[::1]:8000", "/notes", None, ""),
    ("localhost", "/xapi--a--abc1234/notes", None, ""),
    ("localhost", "/api--a--abc12345/notes", None, ""),
    ("localhost", "/api--a--b--abc1234/notes", None, ""),
    ("localhost", "/notes/api--a--abc1234", None, ""),
    ("evil host", "/", None, ""),
    ("host:port", "/", None, ""),
    ("-bad.example.com", "/", None, ""),
    ("a..example.com", "/", None, ""),
    ("", "/", None, ""),
    (None, "/notes", None, ""),
    ("intranet", "/notes", None, ""),
]


@pytest.mark.parametrize(("host", "path", "key", "rest"), CASES)
def test_parse_route(host: str | None, path: str, key: RouteKey | None, rest: str) -> None:
    route = parse_route(host, path, BASE)
    if key is None:
        assert route is None
    else:
        assert route is not None
        assert (route.key, route.path) == (key, rest)


def test_prefix_reports_what_was_removed() -> None:
    assert parse_route("localhost", "/api--a--abc1234/rest/v1/t", BASE) == Route(
        key=S, path="/t", prefix="/api--a--abc1234/rest/v1"
    )
    assert parse_route("api--a--abc1234.localhost", "/t", BASE) == Route(
        key=S, path="/t", prefix=""
    )


def test_other_base_domain() -> None:
    base = "flux.example.com"
    assert parse_route("api--a--abc1234.flux.example.com", "/", base).key == S
    assert parse_route("api.a.abc1234.Flux.Example.com.", "/", base).key == S
    assert parse_route("api--a--abc1234.localhost", "/", base).key == RouteKey(
        hostname="api--a--abc1234.localhost"
    )
    assert parse_route("other.flux.example.com", "/", base) is None


def test_normalize_host() -> None:
    assert normalize_host("Example.COM.:8080") == "example.com"
    assert normalize_host("[::1]:80") == "[::1]"
    assert normalize_host("[::1]x") is None
    assert normalize_host("a b") is None

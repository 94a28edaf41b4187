"""Issue 10 findings 5 and 6 played against a real `flux up`, through its gateway.

5. Token-less floods: requests refused at project-JWT verification spend a per-client-address
   budget (429 once over it), never the project's, so the project's real users keep working.
6. Client input never answers 500: a string `exp` (accepted once by PyJWT, then a TypeError in
   the verifier's cache), other wrong-typed time claims, a JSON body nested 100,000 levels, odd
   bytes in the query string, headers and body.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from flux.gateway.limits import FAILED_AUTH_PER_MINUTE

from .conftest import Platform, Tenant

AUTH_401 = "authorization required"  # the `error` key of every gateway 401
INVALID_JSON = {
    "code": "PGRST102",
    "message": "Empty or invalid json",
    "details": None,
    "hint": None,
}
FREE_PLAN_PER_MINUTE = 600


@pytest.fixture(scope="module")
def victim(platform: Platform) -> Tenant:
    tenant = platform.create("abuse-victim")
    platform.push(
        tenant,
        "create table notes (id bigint primary key, body text);"
        "insert into notes values (1, 'hello');"
        "grant select, insert on notes to authenticated;",
    )
    return tenant


def test_token_less_flood_spends_the_clients_budget_not_the_projects(platform, victim):
    # The attacker's own loopback address, so its budget is not the one other tests use.
    attacker = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    flood = FREE_PLAN_PER_MINUTE + 1  # the old gateway: the project's whole minute, gone
    assert flood > 2 * FAILED_AUTH_PER_MINUTE + 1  # over budget even if a minute turns mid-flood
    with attacker:
        answers = [attacker.get(f"{victim.url}/notes") for _ in range(flood)]
        statuses = [r.status_code for r in answers]
        assert set(statuses) == {401, 429}, set(statuses)
        limited = next(r for r in answers if r.status_code == 429)
        assert limited.json()["error"] == "too many unauthorized requests"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert all(r.json()["error"] == AUTH_401 for r in answers if r.status_code == 401)
        # A real token from the flooding address is verified first: still served.
        served = attacker.get(f"{victim.url}/notes?select=id", headers=victim.headers())
        assert served.status_code == 200, served.text
    res = platform.get(victim, "notes?select=id,body")  # the project's real users
    assert res.status_code == 200, res.text
    assert res.json() == [{"id": 1, "body": "hello"}]


def _token(tenant: Tenant, **time_claims: object) -> str:
    claims = {"sub": "user-1", "role": "authenticated", **time_claims}
    return jwt.encode(claims, tenant.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    "time_claims",
    [
        {"exp": "1796000000"},  # the reported token: a future exp, as a string
        {"exp": str(int(time.time()) + 3600)},
        {"exp": True},
        {"exp": None},
        {"exp": {"at": 1}},
        {"exp": 4102444800, "nbf": "0"},
        {"exp": 4102444800, "nbf": False},
        {"exp": 4102444800, "iat": {"t": 1}},
        {"exp": 4102444800, "iat": None},
        {"exp": 4102444800, "iat": 10**40},
    ],
    ids=repr,
)
def test_wrong_typed_time_claims_are_401_on_every_use(platform, victim, time_claims):
    headers = {"Authorization": f"Bearer {_token(victim, **time_claims)}"}
    for _ in range(3):
        res = platform.get(victim, "notes?select=id", headers=headers)
        assert res.status_code == 401, res.text
        assert res.json()["error"] == AUTH_401


@pytest.mark.parametrize(
    "time_claims",
    [{"exp": time.time() + 3600.5, "iat": time.time() - 0.5}, {"exp": 10**40, "nbf": -(10**40)}],
    ids=["fractional", "huge"],
)
def test_numeric_time_claims_of_any_size_are_served_on_every_use(platform, victim, time_claims):
    headers = {"Authorization": f"Bearer {_token(victim, **time_claims)}"}
    for _ in range(3):
        res = platform.get(victim, "notes?select=id", headers=headers)
        assert res.status_code == 200, res.text


@pytest.mark.parametrize("path", ["notes", "notes?columns=id,body"], ids=["parsed", "columns"])
def test_json_nested_100000_levels_is_400(platform, victim, path):
    body = b"[" * 100_000 + b"]" * 100_000
    res = platform.http.post(
        f"{victim.url}/{path}",
        content=body,
        headers={**victim.headers(), "Content-Type": "application/json"},
    )
    assert res.status_code == 400, res.text
    assert res.json() == INVALID_JSON


def _raw(platform: Platform, tenant: Tenant, target: bytes, headers: bytes = b"", body=b""):
    """One HTTP/1.1 request written byte for byte (clients refuse to send these); its status."""
    url = urlsplit(tenant.url)
    auth = f"Authorization: Bearer {tenant.token()}\r\n".encode()
    request = (
        (b"POST " if body else b"GET ")
        + url.path.encode()
        + target
        + b" HTTP/1.1\r\nHost: "
        + url.netloc.encode()
        + b"\r\n"
    )
    request += auth + headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    request += b"Connection: close\r\n\r\n" + body
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("target", "headers", "body", "refused"),
    [
        (b"/notes?body=eq.a%00b", b"", b"", True),
        (b"/notes?%zz=%%%&select=%00", b"", b"", True),
        (b"/notes?body=eq.%ff%fe%c3", b"", b"", False),  # decoded leniently to U+FFFD
        (b"/notes?body=eq.\xff\xfe", b"", b"", True),
        (b"/notes", b"Prefer: \xff\xfe\r\nX-Thing: \xc3\x28\r\n", b"", False),
        (b"/notes", b"Content-Type: application/json\r\n", b"\xff\xfe", True),
        (b"/notes", b"Content-Type: application/json\r\n", b'{"id":2,"body":"\\u0000"}', True),
        (b"/notes", b"Content-Type: text/csv\r\n", b"id,body\n3,a\x00b\n", True),
    ],
)
def test_odd_bytes_are_never_500(platform, victim, target, headers, body, refused):
    status = _raw(platform, victim, target, headers, body)
    assert status < 500
    assert (400 <= status < 500) if refused else status == 200

"""Admission limits: fixed-window rate limit, failed-auth budget per client address, in-flight
cap, status/maintenance, body size."""

from __future__ import annotations

import pytest

from flux.gateway.limits import (
    FailedAuthLimiter,
    InFlight,
    RateLimiter,
    check_body_size,
    check_state,
    client_key,
)
from flux.gateway.redislink import RedisLink

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000.0 - (1_700_000_000 % 60)  # start of a minute


async def test_fixed_window_counts_and_resets() -> None:
    limiter = RateLimiter()
    for _ in range(3):
        assert await limiter.check("p", 3, now=T0 + 1) is None
    reject = await limiter.check("p", 3, now=T0 + 15.5)
    assert reject is not None
    assert (reject.status, reject.error, reject.headers) == (
        429,
        "rate limit exceeded",
        {"Retry-After": "45"},
    )
    assert await limiter.check("other", 3, now=T0 + 16) is None
    assert await limiter.check("p", 3, now=T0 + 60) is None  # next window


async def test_retry_after_is_at_least_one_second() -> None:
    limiter = RateLimiter()
    await limiter.check("p", 1, now=T0 + 59.9)
    reject = await limiter.check("p", 1, now=T0 + 59.95)
    assert reject is not None and reject.headers["Retry-After"] == "1"


async def test_redis_counter_is_shared_between_limiters(redis_server) -> None:
    first, second = RedisLink(redis_server.url), RedisLink(redis_server.url)
    a, b = RateLimiter(first), RateLimiter(second)
    try:
        assert await a.check("p", 2, now=T0) is None
        assert await b.check("p", 2, now=T0) is None
        assert (await a.check("p", 2, now=T0)).status == 429
        assert (await b.check("p", 2, now=T0)).status == 429
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_down_falls_back_to_local_counting(redis_server) -> None:
    link = RedisLink(redis_server.url)
    limiter = RateLimiter(link)
    try:
        assert await limiter.check("p", 100, now=T0) is None
        redis_server.stop()
        for _ in range(5):
            assert await limiter.check("p", 100, now=T0) is None  # fail open
        assert not link.available
        assert (await RateLimiter(link).check("q", 0, now=T0)).status == 429  # local still limits
    finally:
        await link.aclose()


def test_in_flight_cap() -> None:
    cap = InFlight(2)
    assert cap.acquire("p") is None and cap.acquire("p") is None
    reject = cap.acquire("p")
    assert reject is not None and reject.status == 503 and reject.headers == {"Retry-After": "1"}
    assert cap.acquire("q") is None
    cap.release("p")
    assert cap.acquire("p") is None


@pytest.mark.parametrize(
    ("method", "status", "lifecycle", "maintenance", "expected"),
    [
        ("GET", "active", "active", False, None),
        ("POST", "active", "dormant", False, None),
        ("GET", "active", "active", True, None),
        ("HEAD", "active", "active", True, None),
        ("POST", "active", "active", True, "maintenance"),
        ("PATCH", "active", "active", True, "maintenance"),
        ("PUT", "active", "active", True, "maintenance"),
        ("DELETE", "active", "active", True, "maintenance"),
        ("GET", "suspended", "active", False, "project_suspended"),
        ("GET", "stopped", "active", False, "project_stopped"),
        ("GET", "active", "archived", False, "project_archived"),
    ],
)
def test_check_state(method, status, lifecycle, maintenance, expected) -> None:
    reject = check_state(method, status=status, lifecycle_state=lifecycle, maintenance=maintenance)
    if expected is None:
        assert reject is None
    else:
        assert reject is not None and reject.status == 503 and reject.reason == expected
        assert "Retry-After" in reject.headers


def test_body_size() -> None:
    assert check_body_size(None, 10) is None
    assert check_body_size("10", 10) is None
    assert check_body_size("11", 10).status == 413
    assert check_body_size("-1", 10).status == 400
    assert check_body_size("abc", 10).status == 400


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (["203.0.113.7", 5000], "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 1), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::9", 1), "2001:db8:1:2::/64"),  # same subscriber /64
        (("::ffff:198.51.100.2", 1), "198.51.100.2"),
        (("testclient", 50000), "testclient"),
        (None, "-"),
    ],
)
def test_client_key(client, key) -> None:
    assert client_key(client) == key


async def test_failed_auth_budget_is_per_client_address() -> None:
    limiter = FailedAuthLimiter(limit=2)
    attacker, neighbour = ("203.0.113.7", 1), ("203.0.113.8", 1)
    assert await limiter.check(attacker, now=T0) is None
    assert await limiter.check(("203.0.113.7", 2), now=T0) is None  # the port does not matter
    reject = await limiter.check(attacker, now=T0 + 20)
    assert reject is not None
    assert (reject.status, reject.error, reject.reason, reject.headers) == (
        429,
        "too many unauthorized requests",
        "failed_auth_limited",
        {"Retry-After": "40"},
    )
    assert await limiter.check(neighbour, now=T0 + 20) is None
    assert await limiter.check(attacker, now=T0 + 60) is None  # next window


async def test_failed_auth_local_memory_is_bounded() -> None:
    limiter = FailedAuthLimiter(limit=2, max_local_clients=3)
    for i in range(3):
        assert await limiter.check((f"10.0.0.{i}", 1), now=T0) is None
    # Addresses past the bound share one counter: inventing addresses buys two more, not more.
    assert await limiter.check(("10.0.1.1", 1), now=T0) is None
    assert await limiter.check(("10.0.1.2", 1), now=T0) is None
    assert (await limiter.check(("10.0.1.3", 1), now=T0)).status == 429
    assert len(limiter._counter._local._counts) == 4
    assert await limiter.check(("10.0.0.1", 1), now=T0) is None  # known ones keep their own


async def test_failed_auth_counts_in_redis_apart_from_projects(redis_server) -> None:
    first, second = RedisLink(redis_server.url), RedisLink(redis_server.url)
    try:
        a, b = FailedAuthLimiter(first, limit=2), FailedAuthLimiter(second, limit=2)
        client = ("203.0.113.7", 1)
        assert await a.check(client, now=T0) is None
        assert await b.check(client, now=T0) is None
        assert (await a.check(client, now=T0)).status == 429  # shared between gateways
        # A project hash that happens to equal the key is another counter (another namespace).
        assert await RateLimiter(first).check("203.0.113.7", 1, now=T0) is None
        redis_server.stop()
        assert await FailedAuthLimiter(second, limit=1).check(client, now=T0) is None  # fail open
    finally:
        await first.aclose()
        await second.aclose()
